//! Auditing a tenant's log offline: recompute every leaf from the events,
//! compare with the stored tree, and check every signed checkpoint.

use super::checkpoint::Checkpoint;

use super::merkle::{Hash, MemoryTree};
use super::note::{Verifier, open};

/// What an audit of one tenant's log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub tenant: String,
    pub tree_size: u64,
    /// The root rebuilt from the events, when every leaf is there.
    pub root: Option<Hash>,
    /// Each problem, naming the seq or checkpoint it concerns.
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the store holds for one tenant.
pub struct StoredLog<'a> {
    pub tenant: &'a str,
    /// The log's size as the store records it.
    pub tree_size: u64,
    /// The tree head the store's nodes give.
    pub stored_root: Hash,
    /// The leaf hash recomputed from each stored event, with the event's seq. A
    /// leaf rebuilt from a stored row commits to that row's own personal data,
    /// so its side-car matches by construction; what can differ is the hash.
    pub recomputed: &'a [(u64, Hash)],
    /// The stored leaf hashes (level-0 nodes) by index.
    pub leaf_hashes: &'a [(u64, Hash)],
    /// Signed checkpoints (notes) kept by the store or by an auditor; those
    /// whose origin does not end in `/<tenant>` belong to another log and are skipped.
    pub checkpoints: &'a [String],
}

/// Hashes by seq, in seq order, one per seq: of several with one seq the
/// last given is kept, and `twice` is told of each one it replaces.
fn by_seq(hashes: &[(u64, Hash)], mut twice: impl FnMut(u64)) -> Vec<(u64, Hash)> {
    let mut sorted = hashes.to_vec();
    // Stores give them in seq order, but for rows written where the store never writes.
    if !sorted.is_sorted_by_key(|(seq, _)| *seq) {
        sorted.sort_by_key(|(seq, _)| *seq);
    }
    let mut kept: Vec<(u64, Hash)> = Vec::with_capacity(sorted.len());
    for (seq, hash) in sorted {
        match kept.last_mut() {
            Some(last) if last.0 == seq => {
                twice(seq);
                last.1 = hash;
            }
            _ => kept.push((seq, hash)),
        }
    }
    kept
}

/// Audits one tenant's log.
pub fn audit(log: &StoredLog<'_>, verifiers: &[Verifier]) -> AuditReport {
    let mut problems = Vec::new();
    let recomputed = by_seq(log.recomputed, |seq| {
        problems.push(format!("seq {seq}: two events claim it"))
    });
    let stored = by_seq(log.leaf_hashes, |_| {});
    // Both lists are in seq order now: walk them side by side.
    let (mut events, mut nodes) = (recomputed.iter().peekable(), stored.iter().peekable());
    let mut leaves: Vec<Hash> = Vec::with_capacity(recomputed.len().min(log.tree_size as usize));
    let mut complete = true;
    for seq in 0..log.tree_size {
        let event = events.next_if(|(at, _)| *at == seq).map(|(_, hash)| hash);
        let node = nodes.next_if(|(at, _)| *at == seq).map(|(_, hash)| hash);
        match (event, node) {
            (Some(event), Some(node)) if event != node => {
                problems.push(format!("seq {seq}: the event was altered"))
            }
            (Some(_), Some(_)) => {}
            (None, _) => problems.push(format!("seq {seq}: the event was removed")),
            (Some(_), None) => {
                problems.push(format!("seq {seq}: the event has no leaf in the tree"))
            }
        }
        match event {
            Some(hash) if complete => leaves.push(*hash),
            Some(_) => {}
            None => complete = false,
        }
    }
    for (seq, _) in events {
        problems.push(format!(
            "seq {seq}: an event was inserted beyond the log's size {}",
            log.tree_size
        ));
    }
    for (seq, _) in nodes {
        problems.push(format!(
            "seq {seq}: the tree holds a leaf beyond the log's size {}",
            log.tree_size
        ));
    }
    let rebuilt = complete.then(|| MemoryTree::new(&leaves));
    let root = rebuilt.as_ref().map(|tree| tree.root(log.tree_size));
    if root.is_some_and(|root| root != log.stored_root) {
        problems.push(format!(
            "the stored tree head of size {} is not the root of the events",
            log.tree_size
        ));
    }
    for note in log.checkpoints {
        let opened = match open(note.as_bytes(), verifiers) {
            Ok(opened) => opened,
            Err(error) => {
                problems.push(format!("a checkpoint does not verify: {error}"));
                continue;
            }
        };
        let checkpoint = match Checkpoint::parse(&opened.text) {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                problems.push(format!("a signed checkpoint is malformed: {error}"));
                continue;
            }
        };
        if !checkpoint.origin.ends_with(&format!("/{}", log.tenant)) {
            continue;
        }
        let size = checkpoint.tree_size;
        if size > log.tree_size {
            problems.push(format!(
                "rolled back: a checkpoint of size {size} is signed, but the log has only {} events",
                log.tree_size
            ));
            continue;
        }
        let Some(tree) = &rebuilt else { continue };
        if tree.root(size) != checkpoint.root_hash {
            problems.push(format!(
                "the signed checkpoint of size {size} does not match the events"
            ));
        }
    }
    AuditReport {
        tenant: log.tenant.to_owned(),
        tree_size: log.tree_size,
        root,
        problems,
    }
}
