//! Verifying an export bundle offline: NDJSON whose first line describes the
//! export and its signed checkpoint, then one `{"leaf", "pii", "leaf_hash",
//! "proof"}` per event, each with an inclusion proof against that checkpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::leaf::{canonical, pii_matches};
use super::merkle::{Hash, MemoryTree, leaf_hash, verify_inclusion};
use super::note::{Verifier, open};

/// The first line's `format`.
pub const BUNDLE_FORMAT: &str = "evident-bundle/1";

/// What a bundle check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    pub origin: String,
    pub tree_size: u64,
    pub events: u64,
    /// Each problem, with the line number (1-based) it concerns.
    pub problems: Vec<String>,
}

fn hash_of(value: &Value) -> Option<Hash> {
    BASE64.decode(value.as_str()?).ok()?.try_into().ok()
}

/// Checks every line of a bundle; for an unfiltered export also that the
/// leaves are exactly seq 0 … tree_size−1 and rebuild the checkpoint's root.
pub fn verify_bundle(text: &str, verifiers: &[Verifier]) -> Result<BundleReport, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let (_, first) = lines.next().ok_or("the bundle is empty")?;
    let header: Value = serde_json::from_str(first).map_err(|error| format!("line 1: {error}"))?;
    if header["format"] != BUNDLE_FORMAT {
        return Err(format!("line 1: format is not {BUNDLE_FORMAT}"));
    }
    let note = header["checkpoint"]
        .as_str()
        .ok_or("line 1: no checkpoint")?;
    let opened = open(note.as_bytes(), verifiers)
        .map_err(|error| format!("line 1: the checkpoint: {error}"))?;
    let checkpoint = Checkpoint::parse(&opened.text).map_err(|error| format!("line 1: {error}"))?;
    let mut problems = Vec::new();
    if header["origin"].as_str() != Some(checkpoint.origin.as_str()) {
        problems.push("line 1: origin differs from the checkpoint's".to_owned());
    }
    if header["tree_size"].as_u64() != Some(checkpoint.tree_size) {
        problems.push("line 1: tree_size differs from the checkpoint's".to_owned());
    }
    let unfiltered = header["filter"]
        .as_str()
        .is_none_or(|filter| filter.trim().is_empty());
    let mut seqs = Vec::new();
    let mut hashes = Vec::new();
    for (index, line) in lines {
        let number = index + 1;
        let entry: Value = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(error) => {
                problems.push(format!("line {number}: {error}"));
                continue;
            }
        };
        let leaf = &entry["leaf"];
        let computed = leaf_hash(&canonical(leaf));
        if hash_of(&entry["leaf_hash"]) != Some(computed) {
            problems.push(format!(
                "line {number}: leaf_hash is not the hash of the leaf"
            ));
        }
        if let Some(pii) = entry.get("pii").filter(|pii| !pii.is_null())
            && !pii_matches(leaf, pii)
        {
            problems.push(format!(
                "line {number}: the personal data does not match its digest"
            ));
        }
        let seq = leaf["seq"].as_u64();
        let proof: Option<Vec<Hash>> = entry["proof"]["hashes"]
            .as_array()
            .and_then(|items| items.iter().map(hash_of).collect());
        match (seq, proof) {
            (Some(seq), Some(proof))
                if entry["proof"]["tree_size"].as_u64() == Some(checkpoint.tree_size) =>
            {
                if verify_inclusion(
                    seq,
                    checkpoint.tree_size,
                    &computed,
                    &proof,
                    &checkpoint.root_hash,
                )
                .is_err()
                {
                    problems.push(format!(
                        "line {number}: seq {seq} is not in the checkpoint's tree"
                    ));
                }
                seqs.push(seq);
                hashes.push(computed);
            }
            _ => problems.push(format!("line {number}: no usable inclusion proof")),
        }
    }
    if unfiltered {
        let expected: Vec<u64> = (0..checkpoint.tree_size).collect();
        if seqs != expected {
            let missing: Vec<u64> = expected
                .iter()
                .filter(|seq| !seqs.contains(seq))
                .copied()
                .collect();
            problems.push(format!(
                "an unfiltered export must hold seq 0 … {} in order; missing {missing:?}",
                checkpoint.tree_size.saturating_sub(1)
            ));
        } else if MemoryTree::new(&hashes).root(checkpoint.tree_size) != checkpoint.root_hash {
            problems.push("the leaves do not rebuild the checkpoint's root".to_owned());
        }
    }
    Ok(BundleReport {
        origin: checkpoint.origin,
        tree_size: checkpoint.tree_size,
        events: seqs.len() as u64,
        problems,
    })
}
