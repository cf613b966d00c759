//! A bounded pool of read connections, shared by the backends.
//!
//! A reader takes an idle connection, or opens one while fewer than the
//! pool's size exist, or waits for one to come back. Opening a connection
//! per reader past the size instead (and closing it after) cost SQLite a
//! parse of the schema, its pragmas and every statement prepared anew on
//! each such read; under many concurrent requests most reads paid it.

use std::sync::{Condvar, Mutex, MutexGuard};

pub(crate) struct Pool<C> {
    size: usize,
    slots: Mutex<Slots<C>>,
    /// Signalled when a connection is returned (or its slot given up).
    returned: Condvar,
    /// Whether a returned connection may be used again (not broken).
    usable: fn(&C) -> bool,
}

/// The idle connections, and how many exist (idle or leased).
struct Slots<C> {
    idle: Vec<C>,
    open: usize,
}

/// A slot of the pool, given back when dropped (also on an error or a
/// panic): with its connection if that is still usable, else empty for the
/// next reader to fill.
pub(crate) struct Lease<'p, C> {
    pool: &'p Pool<C>,
    connection: Option<C>,
}

impl<C> Pool<C> {
    /// A pool of at most `size` connections, starting with `idle` open.
    pub(crate) fn new(size: usize, idle: Vec<C>, usable: fn(&C) -> bool) -> Pool<C> {
        Pool {
            size: size.max(idle.len()),
            slots: Mutex::new(Slots {
                open: idle.len(),
                idle,
            }),
            returned: Condvar::new(),
            usable,
        }
    }

    /// A slot, waiting while every connection is in use.
    pub(crate) fn lease(&self) -> Lease<'_, C> {
        let mut slots = self.lock();
        loop {
            if let Some(connection) = slots.idle.pop() {
                return Lease {
                    pool: self,
                    connection: Some(connection),
                };
            }
            if slots.open < self.size {
                slots.open += 1;
                return Lease {
                    pool: self,
                    connection: None,
                };
            }
            slots = self
                .returned
                .wait(slots)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The idle connections, taken out of the pool (to close them elsewhere).
    pub(crate) fn take_idle(&mut self) -> Vec<C> {
        self.slots
            .get_mut()
            .map(|slots| std::mem::take(&mut slots.idle))
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Slots<C>> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<C> Lease<'_, C> {
    /// The slot's connection: its own if usable, else one that `open` makes
    /// (a new slot, or a broken connection replaced in its slot).
    pub(crate) fn connection<E>(
        &mut self,
        open: impl FnOnce() -> Result<C, E>,
    ) -> Result<&mut C, E> {
        let usable = self.pool.usable;
        let connection = match self.connection.take() {
            Some(connection) if usable(&connection) => connection,
            _ => open()?,
        };
        Ok(self.connection.insert(connection))
    }
}

impl<C> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        let mut slots = self.pool.lock();
        match self.connection.take() {
            Some(connection) if (self.pool.usable)(&connection) => slots.idle.push(connection),
            _ => slots.open -= 1,
        }
        drop(slots);
        self.pool.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn readers_past_the_size_wait_for_a_connection_instead_of_opening_one() {
        let pool = Arc::new(Pool::new(2, Vec::new(), |_: &usize| true));
        let opened = Arc::new(AtomicUsize::new(0));
        let in_use = Arc::new(AtomicUsize::new(0));
        let most_in_use = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, opened, in_use, most_in_use) = (
                    pool.clone(),
                    opened.clone(),
                    in_use.clone(),
                    most_in_use.clone(),
                );
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let mut lease = pool.lease();
                        lease
                            .connection(|| Ok::<_, ()>(opened.fetch_add(1, Ordering::SeqCst)))
                            .unwrap();
                        let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                        most_in_use.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        in_use.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            opened.load(Ordering::SeqCst),
            2,
            "only the pool's size is ever opened"
        );
        assert!(most_in_use.load(Ordering::SeqCst) <= 2);
        assert_eq!(pool.lock().idle.len(), 2);
    }

    #[test]
    fn a_broken_connection_gives_its_slot_back_and_a_failed_open_too() {
        // Odd numbers stand for broken connections.
        let pool = Pool::new(1, Vec::new(), |connection: &usize| {
            connection.is_multiple_of(2)
        });
        {
            let mut lease = pool.lease();
            assert_eq!(*lease.connection(|| Ok::<_, ()>(1)).unwrap(), 1);
        }
        assert_eq!(pool.lock().open, 0, "a broken connection is not kept");
        {
            let mut lease = pool.lease();
            assert!(lease.connection(|| Err::<usize, _>("refused")).is_err());
        }
        assert_eq!(pool.lock().open, 0, "a failed open gives its slot back");
        {
            let mut lease = pool.lease();
            assert_eq!(*lease.connection(|| Ok::<_, ()>(2)).unwrap(), 2);
        }
        let mut lease = pool.lease();
        assert_eq!(
            *lease.connection(|| Ok::<_, ()>(4)).unwrap(),
            2,
            "a usable connection is reused, not opened again"
        );
    }
}
