//! Auditing a tenant's log offline: recompute every leaf from the events,
//! compare with the stored tree, and check every signed checkpoint.

use std::collections::BTreeMap;

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

/// Audits one tenant's log.
pub fn audit(log: &StoredLog<'_>, verifiers: &[Verifier]) -> AuditReport {
    let mut problems = Vec::new();
    let mut recomputed: BTreeMap<u64, Hash> = BTreeMap::new();
    for (seq, hash) in log.recomputed {
        if recomputed.insert(*seq, *hash).is_some() {
            problems.push(format!("seq {seq}: two events claim it"));
        }
    }
    let stored: BTreeMap<u64, Hash> = log.leaf_hashes.iter().copied().collect();
    for seq in 0..log.tree_size {
        match (recomputed.get(&seq), stored.get(&seq)) {
            (Some(event), Some(node)) if event != node => {
                problems.push(format!("seq {seq}: the event was altered"))
            }
            (Some(_), Some(_)) => {}
            (None, _) => problems.push(format!("seq {seq}: the event was removed")),
            (Some(_), None) => {
                problems.push(format!("seq {seq}: the event has no leaf in the tree"))
            }
        }
    }
    for seq in recomputed.keys().filter(|seq| **seq >= log.tree_size) {
        problems.push(format!(
            "seq {seq}: an event was inserted beyond the log's size {}",
            log.tree_size
        ));
    }
    for seq in stored.keys().filter(|seq| **seq >= log.tree_size) {
        problems.push(format!(
            "seq {seq}: the tree holds a leaf beyond the log's size {}",
            log.tree_size
        ));
    }
    let complete = (0..log.tree_size).all(|seq| recomputed.contains_key(&seq));
    let rebuilt = complete.then(|| {
        let hashes: Vec<Hash> = (0..log.tree_size)
            .filter_map(|seq| recomputed.get(&seq).copied())
            .collect();
        MemoryTree::new(&hashes)
    });
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
