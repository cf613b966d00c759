//! The store's background threads yield the cores to the threads that
//! acknowledge events.
//!
//! An event is acknowledged once its journal record is synced; applying it
//! (the rows' and the search index's transactions) and copying the WALs
//! into the database files come after, and nothing a client waits for at
//! ingest waits for them. On a machine whose cores are busy, the threads
//! that answer requests and sync the journal should run first when they
//! wake: the background threads run at a lower priority (a higher `nice`),
//! catch up in the gaps, and apply larger transactions meanwhile. A read
//! that must see an acknowledged event waits for its applying, so under
//! load reads wait behind ingest rather than beside it; the ingest budget
//! (appends slow, then stop, as events wait to be applied) keeps the
//! backlog bounded whatever the priorities.
//!
//! Linux only: there `setpriority` of a thread's id changes that thread
//! alone. Lowering a priority needs no privilege; if it fails anyway the
//! thread runs as it was.

/// What a background thread does, which sets how far below the process it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Background {
    /// Applying acknowledged events (the rows, the search index).
    Applying,
    /// Copying WAL frames into a database file.
    Copying,
}

impl Background {
    /// How much higher than the process's own `nice` the thread's is: at 10 a
    /// thread gets about a tenth of a core that a thread at the process's
    /// priority also wants, at 19 about a seventieth.
    pub(crate) const fn niceness(self) -> i32 {
        match self {
            Background::Applying => 10,
            Background::Copying => 19,
        }
    }
}

/// The highest `nice` there is.
const LOWEST: i32 = 19;

/// Runs the calling thread at `background`'s priority: the process's `nice`
/// (its main thread's) plus [`Background::niceness`], at most 19. Calling it
/// again, or from a thread started by one that did, changes nothing.
pub(crate) fn lower_this_thread(background: Background) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpid, getpriority_process, setpriority_process};
        let process = getpriority_process(Some(getpid()));
        let set = process.and_then(|nice| {
            setpriority_process(
                Some(rustix::thread::gettid()),
                (nice + background.niceness()).min(LOWEST),
            )
        });
        if let Err(error) = set {
            tracing::debug!(%error, ?background, "background thread's priority unchanged");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (background, LOWEST);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use rustix::process::{getpid, getpriority_process};

    /// The `nice` of the calling thread.
    fn own_nice() -> i32 {
        getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn a_background_thread_runs_below_the_process_and_its_children_stay_there() {
        let process = getpriority_process(Some(getpid())).unwrap();
        for background in [Background::Applying, Background::Copying] {
            let expected = (process + background.niceness()).min(LOWEST);
            let (own, child, again) = std::thread::spawn(move || {
                lower_this_thread(background);
                let own = own_nice();
                // A thread it starts inherits its priority; lowering that
                // one too does not push it further down.
                let child = std::thread::spawn(move || {
                    let inherited = own_nice();
                    lower_this_thread(background);
                    (inherited, own_nice())
                })
                .join()
                .unwrap();
                lower_this_thread(background);
                (own, child, own_nice())
            })
            .join()
            .unwrap();
            assert_eq!(own, expected, "{background:?}");
            assert_eq!(child, (expected, expected), "{background:?}");
            assert_eq!(again, expected, "{background:?}");
        }
        // The thread that asked is untouched.
        assert_eq!(own_nice(), process);
    }
}
