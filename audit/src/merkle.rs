//! The RFC 6962 Merkle tree, pure: hashing, subtree arithmetic, proof plans and proof checks.
//!
//! Nothing here does I/O. The tree is never held in memory: the database keeps the hash of
//! every *complete, aligned* subtree ([`NodeId`]), and every hash RFC 6962 needs — the root of
//! any tree size, every element of an inclusion or consistency proof — is a fold of at most
//! 64 of them ([`Span::nodes`], [`fold`]). Proofs are therefore planned here as lists of
//! [`Span`]s, the nodes they need are read in one query, and the proof is assembled.
//!
//! Definitions (RFC 6962 §2.1, RFC 9162 §2.1.1), for `n` leaves `D[0:n]`:
//!
//! * `MTH({}) = SHA-256()`, the hash of the empty string;
//! * `MTH({d}) = SHA-256(0x00 || d)`, a leaf;
//! * `MTH(D[0:n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))` for `n > 1`, where `k` is the
//!   largest power of two smaller than `n`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// A hash in the tree: a leaf hash, an interior node, a root, a proof element.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; 32]);

impl TreeHash {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// Standard base64 (RFC 4648 §4, padded), as checkpoints and exports write it.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_base64(text: &str) -> Option<Self> {
        BASE64
            .decode(text)
            .ok()
            .and_then(|bytes| Self::from_slice(&bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({})", self.to_hex())
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// `SHA-256(0x00 || data)`. For Anslut's log, `data` is an event's 32-byte chain hash.
pub fn leaf_hash(data: &[u8]) -> TreeHash {
    let mut digest = Sha256::new();
    digest.update([0x00]);
    digest.update(data);
    TreeHash(digest.finalize().into())
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut digest = Sha256::new();
    digest.update([0x01]);
    digest.update(left.0);
    digest.update(right.0);
    TreeHash(digest.finalize().into())
}

/// The root of the empty tree: `SHA-256()`.
pub fn empty_root() -> TreeHash {
    TreeHash(Sha256::digest([]).into())
}

/// The largest power of two smaller than `n` (`n >= 2`): where RFC 6962 splits a tree.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// A complete, aligned subtree: the `2^level` leaves from `index * 2^level`. Level 0 is a
/// leaf. These are the only hashes ever stored; each is written once and never changes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// The first leaf the node covers.
    pub const fn start(self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf the node covers.
    pub const fn end(self) -> u64 {
        (self.index + 1) << self.level
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node (level {}, index {}) over leaves {}..{}",
            self.level,
            self.index,
            self.start(),
            self.end()
        )
    }
}

/// The leaves `[start, end)` of a subtree that RFC 6962 hashes: `MTH(D[start:end])`.
///
/// Every span that occurs in a root or a proof starts at a multiple of the smallest power of
/// two not below its length, which is what lets [`Span::nodes`] cover it with aligned nodes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// The whole tree of `size` leaves.
    pub const fn tree(size: u64) -> Self {
        Self::new(0, size)
    }

    /// The complete aligned subtrees whose hashes fold ([`fold`]) into `MTH(D[start:end])`,
    /// left to right and largest first: take the largest power of two `p` not above the
    /// length (the first `p` leaves are one complete node, because `start` is a multiple of
    /// `p`), then cover the rest the same way. At most 64 nodes; for `Span::tree(n)`, one per
    /// bit set in `n`.
    pub fn nodes(self) -> Vec<NodeId> {
        let mut nodes = Vec::new();
        let mut start = self.start;
        while start < self.end {
            let level = (self.end - start).ilog2();
            debug_assert_eq!(start % (1 << level), 0, "span {self:?} is not aligned");
            nodes.push(NodeId {
                level: u8::try_from(level).expect("a level is below 64"),
                index: start >> level,
            });
            start += 1 << level;
        }
        nodes
    }
}

/// `MTH` of a span from the hashes of its [`Span::nodes`], in that order: a fold from the
/// right, `H(n0, H(n1, ... H(n_k-1, n_k)))`, because RFC 6962 splits off the largest power of
/// two on the left at every level. Returns the empty root for no nodes.
pub fn fold(hashes: &[TreeHash]) -> TreeHash {
    let Some((last, rest)) = hashes.split_last() else {
        return empty_root();
    };
    rest.iter()
        .rev()
        .fold(*last, |right, left| node_hash(left, &right))
}

/// The spans whose hashes form the inclusion proof (audit path, RFC 6962 §2.1.1) of leaf
/// `index` in the tree of `size` leaves, in proof order (nearest the leaf first).
///
/// `PATH(m, D[n])`: empty for `n = 1`; otherwise, with `k = split(n)`, `PATH(m, D[0:k]) :
/// MTH(D[k:n])` when `m < k`, else `PATH(m - k, D[k:n]) : MTH(D[0:k])`.
pub fn inclusion_spans(index: u64, size: u64) -> Vec<Span> {
    assert!(index < size, "leaf {index} is not in a tree of {size}");
    let mut siblings = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            siblings.push(Span::new(start + k, end));
            end = start + k;
        } else {
            siblings.push(Span::new(start, start + k));
            start += k;
        }
    }
    siblings.reverse();
    siblings
}

/// The spans whose hashes form the consistency proof (RFC 6962 §2.1.2) from the tree of
/// `from` leaves to the tree of `to` leaves, in proof order. Empty when `from == to`.
///
/// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`; `SUBPROOF(m, D[m], true) = {}`,
/// `SUBPROOF(m, D[m], false) = {MTH(D[m])}`; for `m < n` with `k = split(n)`:
/// `SUBPROOF(m, D[0:k], b) : MTH(D[k:n])` when `m <= k`, else
/// `SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])`.
pub fn consistency_spans(from: u64, to: u64) -> Vec<Span> {
    assert!(
        0 < from && from <= to,
        "no consistency proof from {from} to {to}"
    );
    let mut reversed = Vec::new();
    let (mut start, mut end) = (0, to);
    let mut whole = true;
    while from < end {
        let k = split(end - start);
        if from - start <= k {
            reversed.push(Span::new(start + k, end));
            end = start + k;
        } else {
            reversed.push(Span::new(start, start + k));
            start += k;
            whole = false;
        }
    }
    // Here `from == end`: the old tree's last subtree is D[start:end].
    if !whole {
        reversed.push(Span::new(start, end));
    }
    reversed.reverse();
    reversed
}

/// Why a proof does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("no consistency proof exists from {from} to {to} leaves")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// Checks an inclusion proof exactly as RFC 9162 §2.1.3.2 specifies.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks a consistency proof exactly as RFC 9162 §2.1.4.2 specifies, with the trivial case
/// `from == to` (an empty proof, equal roots) allowed.
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &TreeHash,
    to_root: &TreeHash,
    proof: &[TreeHash],
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::SizesOutOfOrder { from, to });
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if from_root == to_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<TreeHash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (from - 1, to - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr == *from_root && sr == *to_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The right edge of a growing tree: the hashes of `Span::tree(size).nodes()`. Appending a
/// leaf creates the leaf's node and merges equal-level nodes into their parents, which are
/// exactly the complete subtrees the new leaf completes; the root of any size is a fold of
/// the frontier. Memory: at most 64 hashes, whatever the size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(NodeId, TreeHash)>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a tree of `size` leaves from the hashes of `Span::tree(size).nodes()`,
    /// in that order. `None` when the number of hashes is wrong.
    pub fn from_hashes(size: u64, hashes: &[TreeHash]) -> Option<Self> {
        let ids = Span::tree(size).nodes();
        (ids.len() == hashes.len()).then(|| Self {
            size,
            nodes: ids.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; calls `created` for every node this completes, leaf first.
    pub fn push(&mut self, leaf: TreeHash, mut created: impl FnMut(NodeId, TreeHash)) {
        let mut node = (NodeId::leaf(self.size), leaf);
        created(node.0, node.1);
        while let Some(&(left_id, left)) = self.nodes.last() {
            if left_id.level != node.0.level {
                break;
            }
            self.nodes.pop();
            node = (
                NodeId {
                    level: left_id.level + 1,
                    index: left_id.index / 2,
                },
                node_hash(&left, &node.1),
            );
            created(node.0, node.1);
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// `MTH` of the leaves so far.
    pub fn root(&self) -> TreeHash {
        let hashes: Vec<TreeHash> = self.nodes.iter().map(|(_, hash)| *hash).collect();
        fold(&hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    fn h(text: &str) -> TreeHash {
        TreeHash::from_slice(&unhex(text)).unwrap()
    }

    /// The leaves and roots of the Certificate Transparency reference tests
    /// (merkle_tree_test.cc), the de facto RFC 6962 test vectors.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// Every node of the CT tree, as the store would hold them.
    fn ct_nodes() -> std::collections::HashMap<NodeId, TreeHash> {
        let mut nodes = std::collections::HashMap::new();
        let mut frontier = Frontier::new();
        for leaf in CT_LEAVES {
            frontier.push(leaf_hash(&unhex(leaf)), |id, hash| {
                nodes.insert(id, hash);
            });
        }
        nodes
    }

    fn span_hash(span: Span, nodes: &std::collections::HashMap<NodeId, TreeHash>) -> TreeHash {
        let hashes: Vec<TreeHash> = span.nodes().iter().map(|id| nodes[id]).collect();
        fold(&hashes)
    }

    #[test]
    fn the_empty_tree_hashes_the_empty_string() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Frontier::new().root(), empty_root());
    }

    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let mut frontier = Frontier::new();
        let nodes = ct_nodes();
        for (n, (leaf, root)) in CT_LEAVES.iter().zip(CT_ROOTS).enumerate() {
            frontier.push(leaf_hash(&unhex(leaf)), |_, _| {});
            assert_eq!(frontier.root(), h(root), "root of {} leaves", n + 1);
            assert_eq!(span_hash(Span::tree(n as u64 + 1), &nodes), h(root));
        }
    }

    #[test]
    fn audit_paths_match_the_certificate_transparency_vectors() {
        let nodes = ct_nodes();
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof: Vec<TreeHash> = inclusion_spans(index, size)
                .into_iter()
                .map(|span| span_hash(span, &nodes))
                .collect();
            let expected: Vec<TreeHash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "path of {index} in {size}");
            let leaf = leaf_hash(&unhex(CT_LEAVES[usize::try_from(index).unwrap()]));
            let root = h(CT_ROOTS[usize::try_from(size).unwrap() - 1]);
            verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
            assert!(verify_inclusion(index + 1, size, &leaf, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_match_the_certificate_transparency_vectors() {
        let nodes = ct_nodes();
        let cases: [(u64, u64, &[&str]); 2] = [
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (from, to, expected) in cases {
            let proof: Vec<TreeHash> = consistency_spans(from, to)
                .into_iter()
                .map(|span| span_hash(span, &nodes))
                .collect();
            let expected: Vec<TreeHash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "consistency {from} to {to}");
            let old = h(CT_ROOTS[usize::try_from(from).unwrap() - 1]);
            let new = h(CT_ROOTS[usize::try_from(to).unwrap() - 1]);
            verify_consistency(from, to, &old, &new, &proof).unwrap();
            assert!(verify_consistency(from, to, &new, &old, &proof).is_err());
        }
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_a_flipped_bit_does_not() {
        let leaves: Vec<TreeHash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut nodes = std::collections::HashMap::new();
        let mut frontier = Frontier::new();
        let mut roots = vec![empty_root()];
        for leaf in &leaves {
            frontier.push(*leaf, |id, hash| {
                nodes.insert(id, hash);
            });
            roots.push(frontier.root());
        }
        for size in 1..=70u64 {
            let root = roots[usize::try_from(size).unwrap()];
            for index in 0..size {
                let proof: Vec<TreeHash> = inclusion_spans(index, size)
                    .into_iter()
                    .map(|span| span_hash(span, &nodes))
                    .collect();
                let leaf = leaves[usize::try_from(index).unwrap()];
                verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0].0[0] ^= 1;
                    assert_ne!(bad[0], *first);
                    assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
                }
            }
            for from in 1..=size {
                let proof: Vec<TreeHash> = consistency_spans(from, size)
                    .into_iter()
                    .map(|span| span_hash(span, &nodes))
                    .collect();
                let old = roots[usize::try_from(from).unwrap()];
                verify_consistency(from, size, &old, &root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn spans_decompose_into_aligned_nodes_that_cover_them_exactly() {
        for size in 1..200u64 {
            let nodes = Span::tree(size).nodes();
            assert_eq!(nodes.len(), size.count_ones() as usize);
            let mut at = 0;
            for node in nodes {
                assert_eq!(node.start(), at);
                at = node.end();
            }
            assert_eq!(at, size);
        }
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(1 << 40), 1 << 39);
        assert_eq!(split((1 << 40) + 1), 1 << 40);
    }
}
