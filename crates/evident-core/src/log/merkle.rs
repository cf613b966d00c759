//! Merkle tree math (RFC 9162 section 2.1): leaf and node hashes, tree
//! heads, inclusion and consistency proofs and their verification, and the
//! builder that extends a tree by appended leaves.
//!
//! A tree is addressed by its complete subtrees: node `(level, index)` is the
//! hash of leaves `index·2^level .. (index+1)·2^level`. Those nodes never
//! change once their leaves exist, so a store can keep them and answer any
//! proof with O(log n) of them.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where complete subtree hashes come from: a store, or leaves in memory.
pub trait Nodes {
    type Error;
    /// The hash of complete subtree `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// [`Nodes`] that remember what they read: the proofs of neighbouring leaves
/// share most of their nodes, so a run of proofs reads each node about once.
/// The memory is bounded: past `capacity` nodes it starts afresh.
pub struct CachedNodes<'n, N: Nodes> {
    nodes: &'n N,
    capacity: usize,
    cache: std::cell::RefCell<std::collections::HashMap<(u32, u64), Hash>>,
}

impl<'n, N: Nodes> CachedNodes<'n, N> {
    pub fn new(nodes: &'n N, capacity: usize) -> CachedNodes<'n, N> {
        CachedNodes {
            nodes,
            capacity,
            cache: Default::default(),
        }
    }
}

impl<N: Nodes> Nodes for CachedNodes<'_, N> {
    type Error = N::Error;

    fn node(&self, level: u32, index: u64) -> Result<Hash, N::Error> {
        if let Some(hash) = self.cache.borrow().get(&(level, index)) {
            return Ok(*hash);
        }
        let hash = self.nodes.node(level, index)?;
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= self.capacity {
            cache.clear();
        }
        cache.insert((level, index), hash);
        Ok(hash)
    }
}

/// The hash of leaves `start..end` (any range that RFC 9162's recursion reaches).
pub fn subtree_hash<N: Nodes>(nodes: &N, start: u64, end: u64) -> Result<Hash, N::Error> {
    let count = end - start;
    if count == 0 {
        return Ok(empty_root());
    }
    if count.is_power_of_two() && start.is_multiple_of(count) {
        return nodes.node(count.trailing_zeros(), start / count);
    }
    let k = split(count);
    Ok(node_hash(
        &subtree_hash(nodes, start, start + k)?,
        &subtree_hash(nodes, start + k, end)?,
    ))
}

/// The tree head (root hash) of the first `size` leaves.
pub fn root<N: Nodes>(nodes: &N, size: u64) -> Result<Hash, N::Error> {
    subtree_hash(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1).
pub fn inclusion_proof<N: Nodes>(nodes: &N, index: u64, size: u64) -> Result<Vec<Hash>, N::Error> {
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<N: Nodes>(
    nodes: &N,
    index: u64,
    start: u64,
    end: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let count = end - start;
    if count <= 1 {
        return Ok(());
    }
    let k = split(count);
    if index < start + k {
        path(nodes, index, start, start + k, proof)?;
        proof.push(subtree_hash(nodes, start + k, end)?);
    } else {
        path(nodes, index, start + k, end, proof)?;
        proof.push(subtree_hash(nodes, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` (RFC 9162 2.1.4.1).
pub fn consistency_proof<N: Nodes>(nodes: &N, from: u64, to: u64) -> Result<Vec<Hash>, N::Error> {
    let mut proof = Vec::new();
    if from > 0 && from < to {
        subproof(nodes, from, 0, to, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<N: Nodes>(
    nodes: &N,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let count = end - start;
    if m == count {
        if !whole {
            proof.push(subtree_hash(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split(count);
    if m <= k {
        subproof(nodes, m, start, start + k, whole, proof)?;
        proof.push(subtree_hash(nodes, start + k, end)?);
    } else {
        subproof(nodes, m - k, start + k, end, false, proof)?;
        proof.push(subtree_hash(nodes, start, start + k)?);
    }
    Ok(())
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("sizes {from} → {to}: a log cannot shrink, and a proof from size 0 proves nothing")]
    BadSizes { from: u64, to: u64 },
}

/// Checks an inclusion proof (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn, mut hash) = (index, size - 1, *leaf);
    for sibling in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            hash = node_hash(sibling, &hash);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if hash != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof between two tree heads (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadSizes { from, to });
    }
    if from == to {
        return if !proof.is_empty() {
            Err(ProofError::WrongLength)
        } else if from_root == to_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut hashes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        hashes.push(*from_root);
    }
    hashes.extend_from_slice(proof);
    let Some((first, rest)) = hashes.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut old, mut new) = (*first, *first);
    for hash in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            old = node_hash(hash, &old);
            new = node_hash(hash, &new);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            new = node_hash(&new, hash);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if old != *from_root || new != *to_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A complete subtree hash, to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// The right edge of a tree: one complete subtree per set bit of its size,
/// enough to append leaves and to compute the root without other nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `edge[level]` is the subtree of 2^level leaves ending the tree's prefix, present when bit `level` of size is set.
    edge: Vec<Option<Hash>>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The frontier of a tree of `size` leaves, from its stored nodes.
    pub fn load<N: Nodes>(nodes: &N, size: u64) -> Result<Frontier, N::Error> {
        let hashes = Frontier::node_addresses(size)
            .into_iter()
            .map(|(level, index)| nodes.node(level, index))
            .collect::<Result<Vec<Hash>, N::Error>>()?;
        Ok(Frontier::from_hashes(size, &hashes).unwrap_or_default())
    }

    /// The frontier of a tree of `size` leaves from the hashes of
    /// [`Frontier::node_addresses`]`(size)`, in that order; None if the count differs.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Option<Frontier> {
        let addresses = Frontier::node_addresses(size);
        if addresses.len() != hashes.len() {
            return None;
        }
        let levels = (64 - size.leading_zeros()) as usize;
        let mut edge = vec![None; levels];
        for ((level, _), hash) in addresses.iter().zip(hashes) {
            edge[*level as usize] = Some(*hash);
        }
        Some(Frontier { size, edge })
    }

    /// The nodes the frontier is made of: what [`Frontier::load`] reads.
    pub fn node_addresses(size: u64) -> Vec<(u32, u64)> {
        (0..64u32)
            .take_while(|level| size >> level != 0)
            .filter(|level| size >> level & 1 == 1)
            .map(|level| (level, (size >> level) - 1))
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; returns the complete subtrees it completes (the leaf itself first).
    pub fn push(&mut self, leaf: Hash, out: &mut Vec<Node>) {
        let mut carry = leaf;
        let mut level = 0u32;
        let mut index = self.size;
        out.push(Node {
            level,
            index,
            hash: carry,
        });
        loop {
            if self.edge.len() <= level as usize {
                self.edge.push(None);
            }
            match self.edge[level as usize].take() {
                Some(left) => {
                    carry = node_hash(&left, &carry);
                    level += 1;
                    index /= 2;
                    out.push(Node {
                        level,
                        index,
                        hash: carry,
                    });
                }
                None => {
                    self.edge[level as usize] = Some(carry);
                    break;
                }
            }
        }
        self.size += 1;
    }

    /// The tree head.
    pub fn root(&self) -> Hash {
        let mut root: Option<Hash> = None;
        for hash in self.edge.iter().flatten() {
            root = Some(match root {
                None => *hash,
                Some(right) => node_hash(hash, &right),
            });
        }
        root.unwrap_or_else(empty_root)
    }
}

/// Leaf hashes in memory, as [`Nodes`] (for tests and offline verification).
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new(leaves: &[Hash]) -> MemoryTree {
        let mut levels = vec![leaves.to_vec()];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next: Vec<Hash> = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(next);
        }
        MemoryTree { levels }
    }
}

impl Nodes for MemoryTree {
    type Error = std::convert::Infallible;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        Ok(self.levels[level as usize][index as usize])
    }
}

impl MemoryTree {
    /// The root of the first `size` leaves (infallible in memory).
    pub fn root(&self, size: u64) -> Hash {
        let Ok(hash) = root(self, size);
        hash
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        let Ok(proof) = inclusion_proof(self, index, size);
        proof
    }

    pub fn consistency_proof(&self, from: u64, to: u64) -> Vec<Hash> {
        let Ok(proof) = consistency_proof(self, from, to);
        proof
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors() -> Value {
        crate::log::tlog_vectors("merkle.json")
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    fn hash(text: &str) -> Option<Hash> {
        hex(text).try_into().ok()
    }

    fn leaves() -> Vec<Hash> {
        vectors()["leaves_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|leaf| leaf_hash(&hex(leaf.as_str().unwrap())))
            .collect()
    }

    #[test]
    fn reference_roots_and_nodes() {
        let vectors = vectors();
        let leaves = leaves();
        for entry in vectors["roots"].as_array().unwrap() {
            let size = entry["tree_size"].as_u64().unwrap();
            let tree = MemoryTree::new(&leaves[..size as usize]);
            let want = hash(entry["root_hex"].as_str().unwrap()).unwrap();
            assert_eq!(tree.root(size), want, "size {size}");
            let mut frontier = Frontier::new();
            let mut nodes = Vec::new();
            for leaf in &leaves[..size as usize] {
                frontier.push(*leaf, &mut nodes);
            }
            assert_eq!(frontier.root(), want, "frontier size {size}");
        }
        let tree = MemoryTree::new(&leaves);
        for (level, hashes) in vectors["complete_subtree_nodes_hex"]["nodes_hex"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            for (index, node) in hashes.as_array().unwrap().iter().enumerate() {
                assert_eq!(
                    tree.node(level as u32, index as u64).unwrap(),
                    hash(node.as_str().unwrap()).unwrap()
                );
            }
        }
    }

    #[test]
    fn inclusion_vectors() {
        let vectors = vectors();
        for probe in vectors["inclusion"].as_array().unwrap() {
            let why = probe["why"].as_str().unwrap();
            let valid = probe["valid"].as_bool().unwrap();
            let proof: Option<Vec<Hash>> = probe["proof_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| hash(item.as_str().unwrap()))
                .collect();
            let (Some(leaf), Some(root_hash), Some(proof)) = (
                hash(probe["leaf_hash_hex"].as_str().unwrap()),
                hash(probe["root_hex"].as_str().unwrap()),
                proof,
            ) else {
                assert!(
                    !valid,
                    "{why}: a hash that is not 32 bytes is refused at the type boundary"
                );
                continue;
            };
            let result = verify_inclusion(
                probe["leaf_index"].as_u64().unwrap(),
                probe["tree_size"].as_u64().unwrap(),
                &leaf,
                &proof,
                &root_hash,
            );
            assert_eq!(
                result.is_ok(),
                valid,
                "{why} ({}): {result:?}",
                probe["source_file"]
            );
        }
    }

    #[test]
    fn consistency_vectors() {
        let vectors = vectors();
        for probe in vectors["consistency"].as_array().unwrap() {
            let why = probe["why"].as_str().unwrap();
            let valid = probe["valid"].as_bool().unwrap();
            let proof: Option<Vec<Hash>> = probe["proof_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| hash(item.as_str().unwrap()))
                .collect();
            let (Some(old), Some(new), Some(proof)) = (
                hash(probe["from_root_hex"].as_str().unwrap()),
                hash(probe["to_root_hex"].as_str().unwrap()),
                proof,
            ) else {
                // Hashes that are not 32 bytes cannot be passed to this API at all (the
                // source accepts one such probe, equal sizes with equal "roots", as valid).
                assert!(!probe["all_hashes_32_bytes"].as_bool().unwrap(), "{why}");
                continue;
            };
            let result = verify_consistency(
                probe["from"].as_u64().unwrap(),
                probe["to"].as_u64().unwrap(),
                &old,
                &new,
                &proof,
            );
            assert_eq!(
                result.is_ok(),
                valid,
                "{why} ({}): {result:?}",
                probe["source_file"]
            );
        }
    }

    #[test]
    fn generated_proofs_match_the_reference_tree() {
        let leaves = leaves();
        let tree = MemoryTree::new(&leaves);
        for size in 1..=8u64 {
            let size_root = tree.root(size);
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size);
                verify_inclusion(index, size, &leaves[index as usize], &proof, &size_root).unwrap();
            }
            for from in 1..=size {
                let proof = tree.consistency_proof(from, size);
                verify_consistency(from, size, &tree.root(from), &size_root, &proof).unwrap();
            }
        }
    }

    fn random_leaves(count: usize) -> Vec<Hash> {
        (0..count)
            .map(|n| leaf_hash(&(n as u64).to_be_bytes()))
            .collect()
    }

    proptest! {
        #[test]
        fn proofs_verify_and_any_change_fails(size in 1u64..300, index_seed in any::<u64>(), from_seed in any::<u64>(), bit in 0usize..256) {
            let leaves = random_leaves(size as usize);
            let tree = MemoryTree::new(&leaves);
            let head = tree.root(size);
            let index = index_seed % size;
            let proof = tree.inclusion_proof(index, size);
            prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &head).is_ok());
            if !proof.is_empty() {
                let mut flipped = proof.clone();
                let which = bit % flipped.len();
                flipped[which][bit / 8 % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &flipped, &head).is_err());
            }
            if size > 1 {
                prop_assert!(verify_inclusion((index + 1) % size, size, &leaves[index as usize], &proof, &head).is_err());
            }
            // A proof for this tree does not pass for the next, longer one.
            let longer = random_leaves(size as usize + 1);
            let longer_head = MemoryTree::new(&longer).root(size + 1);
            prop_assert!(verify_inclusion(index, size + 1, &leaves[index as usize], &proof, &longer_head).is_err());

            let from = 1 + from_seed % size;
            let old = tree.root(from);
            let proof = tree.consistency_proof(from, size);
            prop_assert!(verify_consistency(from, size, &old, &head, &proof).is_ok());
            if !proof.is_empty() {
                let mut flipped = proof.clone();
                let which = bit % flipped.len();
                flipped[which][bit / 8 % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(from, size, &old, &head, &flipped).is_err());
            }
            prop_assert!(verify_consistency(from, size + 1, &old, &longer_head, &proof).is_err());

            // The frontier builder emits exactly the complete subtrees, and its root agrees.
            let mut frontier = Frontier::new();
            let mut emitted = Vec::new();
            for leaf in &leaves {
                frontier.push(*leaf, &mut emitted);
            }
            prop_assert_eq!(frontier.root(), head);
            for node in &emitted {
                prop_assert_eq!(Ok(node.hash), tree.node(node.level, node.index));
            }
            let complete: usize = (0..64).map(|level| (size >> level) as usize).sum();
            prop_assert_eq!(emitted.len(), complete);
            // A frontier loaded from stored nodes continues the same tree.
            let half = size / 2;
            let Ok(mut resumed) = Frontier::load(&tree, half);
            let mut more = Vec::new();
            for leaf in &leaves[half as usize..] {
                resumed.push(*leaf, &mut more);
            }
            prop_assert_eq!(resumed.root(), head);
            prop_assert_eq!(Frontier::node_addresses(half).len(), half.count_ones() as usize);
            let hashes: Vec<Hash> = Frontier::node_addresses(half).iter().map(|(level, index)| tree.node(*level, *index).unwrap()).collect();
            prop_assert_eq!(Frontier::from_hashes(half, &hashes), Frontier::load(&tree, half).ok());
        }
    }
}
