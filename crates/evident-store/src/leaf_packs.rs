//! Each tenant's Merkle leaf hashes kept [`LEAVES_PER_PACK`] to a row (a
//! "pack"), by both backends: the complete subtrees of levels 1 to
//! [`PACKED_LEVELS`] lie within one pack and are computed from it when read,
//! so only the levels above are stored as nodes of their own. A node per row
//! took 46 (SQLite) to 125 (PostgreSQL) bytes for 32 of hash; a pack keeps
//! 16 leaves in 512 bytes and one key, and levels 1–3 (seven of every eight
//! stored nodes above the leaves) are a few hashes away from it.

use evident_core::log::merkle::{Hash, node_hash};

/// Leaf hashes a pack holds: leaf `pack · 16 + i` is bytes `32·i .. 32·i + 32` of it.
pub(crate) const LEAVES_PER_PACK: u64 = 16;

/// The highest level computed from a pack instead of stored (its subtrees
/// of 8 leaves lie within one pack).
pub(crate) const PACKED_LEVELS: u32 = 3;

/// The pack that holds the leaves of node (`level` ≤ [`PACKED_LEVELS`], `index`).
pub(crate) fn pack_of(level: u32, index: u64) -> u64 {
    (index << level) / LEAVES_PER_PACK
}

/// Node (`level` ≤ [`PACKED_LEVELS`], `index`) from the hashes of its pack;
/// None when the pack does not hold all its leaves.
pub(crate) fn node_in_pack(hashes: &[u8], level: u32, index: u64) -> Option<Hash> {
    let start = ((index << level) % LEAVES_PER_PACK) as usize * 32;
    hashes.get(start..start + (32 << level)).map(subtree_of)
}

/// The root of a complete subtree from its leaf hashes (a power of two of them).
fn subtree_of(leaves: &[u8]) -> Hash {
    let mut level: Vec<Hash> = leaves
        .chunks_exact(32)
        .map(|hash| hash.try_into().expect("32 bytes"))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level.first().copied().unwrap_or_default()
}

/// A pack's leaf hashes by index, checked to be whole hashes.
pub(crate) fn leaves_of(pack: u64, bytes: &[u8]) -> crate::Result<Vec<(u64, Hash)>> {
    let first = pack * LEAVES_PER_PACK;
    if !bytes.len().is_multiple_of(32) {
        return Err(crate::StoreError::Corrupt(format!(
            "a pack of leaf hashes from {first} holds {} bytes",
            bytes.len()
        )));
    }
    bytes
        .chunks_exact(32)
        .enumerate()
        .map(|(offset, hash)| {
            Ok((
                first + offset as u64,
                crate::record::hash32(hash, "leaf hash")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::log::merkle::{Frontier, Node};

    /// Every node of levels 0–3 computed from its pack equals the node the
    /// tree wrote, for trees of every size up to three packs and a half.
    #[test]
    fn nodes_from_packs_are_the_written_nodes() {
        let mut frontier = Frontier::default();
        let mut written: Vec<Node> = Vec::new();
        let mut packs: Vec<Vec<u8>> = Vec::new();
        for leaf in 0..56u64 {
            let hash: Hash = std::array::from_fn(|byte| (leaf as u8).wrapping_mul(31) ^ byte as u8);
            let mut nodes = Vec::new();
            frontier.push(hash, &mut nodes);
            for node in &nodes {
                if node.level == 0 {
                    let pack = pack_of(0, node.index) as usize;
                    packs.resize(pack + 1, Vec::new());
                    packs[pack].extend_from_slice(&node.hash);
                }
            }
            written.extend(nodes);
        }
        let mut checked = 0;
        for node in written.iter().filter(|node| node.level <= PACKED_LEVELS) {
            let pack = &packs[pack_of(node.level, node.index) as usize];
            assert_eq!(
                node_in_pack(pack, node.level, node.index),
                Some(node.hash),
                "({}, {})",
                node.level,
                node.index
            );
            checked += 1;
        }
        assert_eq!(checked, 56 + 28 + 14 + 7);
        // The last pack holds 8 leaves: its second subtree of 8 is not there yet.
        assert_eq!(node_in_pack(&packs[3], 3, 7), None);
        let leaves = leaves_of(3, &packs[3]).unwrap();
        assert_eq!(leaves.len(), 8);
        assert_eq!(leaves[0].0, 48);
        assert!(leaves_of(3, &packs[3][..40]).is_err());
    }
}
