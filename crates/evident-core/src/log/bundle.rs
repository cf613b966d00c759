//! Export bundles: NDJSON whose first line describes the export and its
//! signed checkpoint, then one `{"leaf", "pii", "leaf_hash", "proof"}` per
//! event in log order (seq ascending), each with an inclusion proof against
//! that checkpoint. Written by the export endpoint, checked offline here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::checkpoint::Checkpoint;
use super::leaf::{Leaf, canonical, pii_matches};
use super::merkle::{Frontier, Hash, leaf_hash, verify_inclusion};
use super::note::{Verifier, open};

/// The first line's `format`.
pub const BUNDLE_FORMAT: &str = "evident-bundle/1";

/// The first line of a bundle of `tenant`'s events, proved against the signed
/// checkpoint `note` of its log `origin` at `tree_size`; `filter` in the query language.
pub fn header_line(tenant: &str, origin: &str, tree_size: u64, note: &str, filter: &str) -> String {
    json!({
        "format": BUNDLE_FORMAT,
        "tenant": tenant,
        "origin": origin,
        "tree_size": tree_size,
        "checkpoint": note,
        "filter": filter,
    })
    .to_string()
}

/// One event's line: its leaf, side-car, leaf hash and inclusion proof in the tree of `tree_size`.
/// The leaf and side-car are written from where they are, not copied into
/// another tree first (members in this order, as `json!` with
/// `preserve_order` wrote them).
pub fn entry_line(leaf: &Leaf, seq: u64, tree_size: u64, proof: &[Hash]) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        leaf: &'a Value,
        pii: &'a Value,
        leaf_hash: String,
        proof: Proof,
    }
    #[derive(serde::Serialize)]
    struct Proof {
        leaf_index: u64,
        tree_size: u64,
        hashes: Vec<String>,
    }
    serde_json::to_string(&Line {
        leaf: &leaf.object,
        pii: &leaf.pii,
        leaf_hash: BASE64.encode(leaf.hash()),
        proof: Proof {
            leaf_index: seq,
            tree_size,
            hashes: proof.iter().map(|hash| BASE64.encode(hash)).collect(),
        },
    })
    .expect("a bundle line serialises")
}

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

/// What one line holds, checked on its own ([`BundleChecker::check_entry`]).
#[derive(Debug)]
pub struct EntryCheck {
    /// None when the line has no usable seq or proof.
    seq: Option<u64>,
    hash: Hash,
    problems: Vec<String>,
}

/// Checks a bundle line by line, in memory that does not grow with its size.
pub struct BundleChecker {
    checkpoint: Checkpoint,
    /// An unfiltered export must hold every leaf of the tree, in order.
    unfiltered: bool,
    /// The seq and line of the last event line.
    last: Option<(u64, usize)>,
    /// The tree the leaves of an unfiltered export build.
    rebuilt: Frontier,
    /// Whether the rebuilt tree still follows seq 0, 1, 2, … without a gap.
    contiguous: bool,
    events: u64,
    problems: Vec<String>,
    /// Scratch for [`Frontier::push`].
    completed: Vec<super::merkle::Node>,
}

impl BundleChecker {
    /// Reads the first line: its format and its checkpoint, which must be signed by one of `verifiers`.
    pub fn new(first: &str, verifiers: &[Verifier]) -> Result<BundleChecker, String> {
        let header: Value =
            serde_json::from_str(first).map_err(|error| format!("line 1: {error}"))?;
        if header["format"] != BUNDLE_FORMAT {
            return Err(format!("line 1: format is not {BUNDLE_FORMAT}"));
        }
        let note = header["checkpoint"]
            .as_str()
            .ok_or("line 1: no checkpoint")?;
        let opened = open(note.as_bytes(), verifiers)
            .map_err(|error| format!("line 1: the checkpoint: {error}"))?;
        let checkpoint =
            Checkpoint::parse(&opened.text).map_err(|error| format!("line 1: {error}"))?;
        let mut problems = Vec::new();
        if header["origin"].as_str() != Some(checkpoint.origin.as_str()) {
            problems.push("line 1: origin differs from the checkpoint's".to_owned());
        }
        if let Some(tenant) = header["tenant"].as_str()
            && !checkpoint.origin.ends_with(&format!("/{tenant}"))
        {
            problems.push(format!(
                "line 1: tenant {tenant:?} is not the checkpoint's log"
            ));
        }
        if header["tree_size"].as_u64() != Some(checkpoint.tree_size) {
            problems.push("line 1: tree_size differs from the checkpoint's".to_owned());
        }
        let unfiltered = header["filter"]
            .as_str()
            .is_none_or(|filter| filter.trim().is_empty());
        Ok(BundleChecker {
            checkpoint,
            unfiltered,
            last: None,
            rebuilt: Frontier::new(),
            contiguous: true,
            events: 0,
            problems,
            completed: Vec::new(),
        })
    }

    /// Checks the event on line `number` (1-based, counting the first line).
    pub fn line(&mut self, number: usize, line: &str) {
        let entry = self.check_entry(number, line);
        self.accept(number, entry);
    }

    /// The checks of one line that need no other line (its leaf hash, side-car
    /// and proof): they may run on any thread, in any order.
    pub fn check_entry(&self, number: usize, line: &str) -> EntryCheck {
        let mut problems = Vec::new();
        let entry: Value = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(error) => {
                problems.push(format!("line {number}: {error}"));
                return EntryCheck {
                    seq: None,
                    hash: [0; 32],
                    problems,
                };
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
        let tree_size = self.checkpoint.tree_size;
        let proof: Option<Vec<Hash>> = entry["proof"]["hashes"]
            .as_array()
            .and_then(|items| items.iter().map(hash_of).collect());
        let (Some(seq), Some(proof)) = (leaf["seq"].as_u64(), proof) else {
            problems.push(format!(
                "line {number}: no seq or no usable inclusion proof"
            ));
            return EntryCheck {
                seq: None,
                hash: computed,
                problems,
            };
        };
        if entry["proof"]["tree_size"].as_u64() != Some(tree_size) {
            problems.push(format!(
                "line {number}: the proof is not for the checkpoint's tree size {tree_size}"
            ));
        } else if verify_inclusion(
            seq,
            tree_size,
            &computed,
            &proof,
            &self.checkpoint.root_hash,
        )
        .is_err()
        {
            problems.push(format!(
                "line {number}: seq {seq} is not in the checkpoint's tree"
            ));
        }
        EntryCheck {
            seq: Some(seq),
            hash: computed,
            problems,
        }
    }

    /// Takes the checked line `number`, in line order: its place in the log.
    pub fn accept(&mut self, number: usize, entry: EntryCheck) {
        self.problems.extend(entry.problems);
        let Some(seq) = entry.seq else { return };
        let computed = entry.hash;
        self.events += 1;
        match self.last {
            Some((last, last_line)) if seq == last => self.problems.push(format!(
                "line {number}: seq {seq} again (line {last_line} holds it)"
            )),
            Some((last, last_line)) if seq < last => self.problems.push(format!(
                "line {number}: seq {seq} after seq {last} on line {last_line}: lines out of log order"
            )),
            _ => {}
        }
        let expected = self.last.map_or(0, |(last, _)| last + 1);
        if self.unfiltered && seq > expected {
            self.problems.push(format!(
                "line {number}: seq {seq} where seq {expected} was expected: missing {}",
                missing(expected, seq)
            ));
        }
        if self.unfiltered && self.contiguous {
            if seq == self.rebuilt.size() {
                self.rebuilt.push(computed, &mut self.completed);
                self.completed.clear();
            } else {
                self.contiguous = false;
            }
        }
        if self.last.is_none_or(|(last, _)| seq > last) {
            self.last = Some((seq, number));
        }
    }

    /// The report, once every line has been checked.
    pub fn finish(mut self) -> BundleReport {
        let tree_size = self.checkpoint.tree_size;
        if self.unfiltered {
            let next = self.last.map_or(0, |(last, _)| last + 1);
            if next < tree_size {
                self.problems.push(format!(
                    "the bundle ends before the checkpoint's tree size {tree_size}: missing {}",
                    missing(next, tree_size)
                ));
            } else if self.contiguous
                && self.rebuilt.size() == tree_size
                && self.rebuilt.root() != self.checkpoint.root_hash
            {
                self.problems
                    .push("the leaves do not rebuild the checkpoint's root".to_owned());
            }
        }
        BundleReport {
            origin: self.checkpoint.origin,
            tree_size,
            events: self.events,
            problems: self.problems,
        }
    }
}

/// Seqs `from` … `to − 1`, as a list or a range.
fn missing(from: u64, to: u64) -> String {
    if to - from <= 8 {
        format!("{:?}", (from..to).collect::<Vec<_>>())
    } else {
        format!("seq {from} … {}", to - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::MemoryTree;
    use crate::log::note::Signer;

    /// Every line of a bundle held in memory, as `evident verify --bundle` reads a file.
    fn verify_bundle(text: &str, verifiers: &[Verifier]) -> Result<BundleReport, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty());
        let (_, first) = lines.next().ok_or("the bundle is empty")?;
        let mut checker = BundleChecker::new(first, verifiers)?;
        for (index, line) in lines {
            checker.line(index + 1, line);
        }
        Ok(checker.finish())
    }

    /// A bundle of `size` leaves (all of them when `keep` keeps every seq), signed by `signer`.
    fn bundle(signer: &Signer, size: u64, filter: &str, keep: impl Fn(u64) -> bool) -> Vec<String> {
        let leaves: Vec<Leaf> = (0..size)
            .map(|seq| {
                let pii = json!({"actor": {"email": format!("user{seq}@acme.example")}, "salt": "c2FsdHNhbHRzYWx0c2FsdA=="});
                let object = json!({"v": 1, "tenant": "acme", "seq": seq, "action": "user.login",
                    "pii_digest": super::super::leaf::pii_digest(&pii)});
                Leaf { object, pii }
            })
            .collect();
        let hashes: Vec<Hash> = leaves.iter().map(Leaf::hash).collect();
        let tree = MemoryTree::new(&hashes);
        let checkpoint = Checkpoint {
            origin: "evident.example/acme".to_owned(),
            tree_size: size,
            root_hash: tree.root(size),
            extensions: Vec::new(),
        };
        let note = signer.sign(&checkpoint.to_text()).unwrap();
        let mut lines = vec![header_line("acme", &checkpoint.origin, size, &note, filter)];
        for (seq, leaf) in leaves.iter().enumerate() {
            let seq = seq as u64;
            if keep(seq) {
                lines.push(entry_line(
                    leaf,
                    seq,
                    size,
                    &tree.inclusion_proof(seq, size),
                ));
            }
        }
        lines
    }

    fn check(signer: &Signer, lines: &[String]) -> Result<BundleReport, String> {
        verify_bundle(&lines.join("\n"), &[signer.verifier()])
    }

    fn problems(signer: &Signer, lines: &[String]) -> String {
        let report = check(signer, lines).unwrap();
        assert!(!report.problems.is_empty(), "no problem found");
        report.problems.join("\n")
    }

    /// A line's bytes are those of the bundle format as first written: the
    /// members in the order `json!` kept them (`preserve_order`), leaf and
    /// side-car as they are, whatever their own members' order.
    #[test]
    fn an_entry_line_keeps_the_bundles_bytes() {
        let pii =
            json!({"actor": {"name": "José", "email": "jose@acme.example"}, "salt": "c2FsdA=="});
        let object = json!({"v": 1, "tenant": "acme", "seq": 7, "action": "user.login",
            "metadata": {"z": [1, 2.5, "a\"b"], "a": null}, "pii_digest": super::super::leaf::pii_digest(&pii)});
        let leaf = Leaf { object, pii };
        let proof = [[1u8; 32], [2u8; 32]];
        let written_before = json!({
            "leaf": leaf.object,
            "pii": leaf.pii,
            "leaf_hash": BASE64.encode(leaf.hash()),
            "proof": {
                "leaf_index": 7,
                "tree_size": 9,
                "hashes": proof.iter().map(|hash| BASE64.encode(hash)).collect::<Vec<_>>(),
            },
        })
        .to_string();
        assert_eq!(entry_line(&leaf, 7, 9, &proof), written_before);
    }

    #[test]
    fn a_whole_bundle_and_a_filtered_one_verify() {
        let signer = Signer::from_seed("evident.example", [7; 32]).unwrap();
        let whole = check(&signer, &bundle(&signer, 11, "", |_| true)).unwrap();
        assert_eq!((whole.events, whole.tree_size), (11, 11));
        assert!(whole.problems.is_empty(), "{:?}", whole.problems);
        let filtered = check(&signer, &bundle(&signer, 11, "actor:x", |seq| seq % 3 == 0)).unwrap();
        assert_eq!(filtered.events, 4);
        assert!(filtered.problems.is_empty(), "{:?}", filtered.problems);
    }

    #[test]
    fn every_kind_of_tampering_is_named_by_its_line() {
        let signer = Signer::from_seed("evident.example", [7; 32]).unwrap();
        let whole = bundle(&signer, 11, "", |_| true);
        // Line numbers are 1-based and count the header: seq N is on line N + 2.
        let mut flipped = whole.clone();
        flipped[4] = flipped[4].replacen("user.login", "user.logon", 1);
        assert!(
            problems(&signer, &flipped).contains("line 5: leaf_hash is not the hash of the leaf")
        );

        let mut dropped = whole.clone();
        dropped.remove(4);
        let found = problems(&signer, &dropped);
        assert!(
            found.contains("line 5: seq 4 where seq 3 was expected: missing [3]"),
            "{found}"
        );

        let mut dropped_last = whole.clone();
        dropped_last.pop();
        assert!(problems(&signer, &dropped_last).contains("missing [10]"));

        let mut duplicated = whole.clone();
        duplicated.insert(5, whole[5].clone());
        let found = problems(&signer, &duplicated);
        assert!(
            found.contains("line 7: seq 4 again (line 6 holds it)"),
            "{found}"
        );

        let mut swapped = whole.clone();
        swapped.swap(3, 4);
        let found = problems(&signer, &swapped);
        assert!(
            found.contains("line 5: seq 2 after seq 3 on line 4"),
            "{found}"
        );

        // A filtered bundle has no complete range to hold, but order and repeats still count.
        let filtered = bundle(&signer, 11, "actor:x", |seq| seq % 2 == 0);
        let mut swapped = filtered.clone();
        swapped.swap(1, 2);
        assert!(problems(&signer, &swapped).contains("line 3: seq 0 after seq 2 on line 2"));

        let other = Signer::from_seed("evident.example", [8; 32]).unwrap();
        let error = check(&other, &whole).unwrap_err();
        assert!(error.starts_with("line 1: the checkpoint:"), "{error}");
    }

    #[test]
    fn a_leaf_of_another_tree_is_caught_by_its_proof() {
        let signer = Signer::from_seed("evident.example", [7; 32]).unwrap();
        let mut whole = bundle(&signer, 6, "", |_| true);
        let other = bundle(&signer, 7, "", |_| true);
        whole[3] = other[3].clone();
        let found = problems(&signer, &whole);
        assert!(
            found.contains("line 4: the proof is not for the checkpoint's tree size 6"),
            "{found}"
        );
    }
}
