//! A minimal RFC 6962 / RFC 9162 verifier and signed-note checker written for the tests,
//! straight from the RFCs and c2sp.org/signed-note, on plain byte arrays. It calls none of the
//! audit crate's hashing, proof or note code, so the crate's proofs are checked by a second
//! implementation rather than by themselves.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part);
    }
    digest.finalize().into()
}

/// RFC 6962 §2.1: `MTH({d}) = SHA-256(0x00 || d)`.
pub fn leaf(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// RFC 6962 §2.1: `SHA-256(0x01 || left || right)`.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// RFC 6962 §2.1, recursively: the Merkle tree hash of the leaf data `d`.
pub fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => sha256(&[]),
        1 => leaf(&d[0]),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2, step by step.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    inclusion_path: &[Hash],
    root_hash: &Hash,
) -> bool {
    // 1. Compare leaf_index against tree_size. If leaf_index is greater than or equal to
    //    tree_size, then fail the proof verification.
    if leaf_index >= tree_size {
        return false;
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let mut f = leaf_index;
    let mut s = tree_size - 1;
    // 3. Set r to hash.
    let mut r = *leaf_hash;
    // 4. For each value p in the inclusion_path array:
    for p in inclusion_path {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f % 2 == 1 || f == s {
            // i. Set r to HASH(0x01 || p || r).
            r = node(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if f.is_multiple_of(2) {
                while f.is_multiple_of(2) && f != 0 {
                    f /= 2;
                    s /= 2;
                }
            }
        } else {
            // Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        f /= 2;
        s /= 2;
    }
    // 5. Compare sn to 0. Compare r against the root_hash.
    s == 0 && r == *root_hash
}

/// RFC 9162 §2.1.4.2, step by step (for `0 < first < second`).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_hash: &Hash,
    second_hash: &Hash,
    consistency_path: &[Hash],
) -> bool {
    if first == 0 || first >= second {
        return false;
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    if consistency_path.is_empty() {
        return false;
    }
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path.
    let mut path = Vec::new();
    if first.is_power_of_two() {
        path.push(*first_hash);
    }
    path.extend_from_slice(consistency_path);
    // 3. Set fn to first - 1 and sn to second - 1.
    let mut f = first - 1;
    let mut s = second - 1;
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while f % 2 == 1 {
        f /= 2;
        s /= 2;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let mut fr = path[0];
    let mut sr = path[0];
    // 6. For each subsequent value c in the consistency_path array:
    for c in &path[1..] {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f % 2 == 1 || f == s {
            // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = node(c, &fr);
            sr = node(c, &sr);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if f.is_multiple_of(2) {
                while f.is_multiple_of(2) && f != 0 {
                    f /= 2;
                    s /= 2;
                }
            }
        } else {
            // Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        f /= 2;
        s /= 2;
    }
    // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    fr == *first_hash && sr == *second_hash && s == 0
}

/// Checks a signed note against a verifier key given as `name+keyid+base64(0x01||key)`, per
/// c2sp.org/signed-note, and returns the signed text when a signature by that key verifies.
pub fn signed_text<'a>(note: &'a str, vkey: &str) -> Option<&'a str> {
    let mut parts = vkey.splitn(3, '+');
    let name = parts.next()?;
    let key_id = hex::decode(parts.next()?).ok()?;
    let typed = STANDARD.decode(parts.next()?).ok()?;
    if typed.len() != 33 || typed[0] != 0x01 {
        return None;
    }
    let public: [u8; 32] = typed[1..].try_into().ok()?;
    // The key id must be SHA-256(name || 0x0A || 0x01 || key)[:4].
    if key_id != sha256(&[name.as_bytes(), b"\n", &[0x01], &public])[..4] {
        return None;
    }
    let key = VerifyingKey::from_bytes(&public).ok()?;
    let split = note.rfind("\n\n")?;
    let text = &note[..=split];
    let mut verified = false;
    for line in note[split + 2..].lines() {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (signer, encoded) = rest.split_once(' ')?;
        let blob = STANDARD.decode(encoded).ok()?;
        if signer != name || blob.len() != 68 || blob[..4] != key_id[..] {
            continue;
        }
        let signature = Signature::from_bytes(&blob[4..].try_into().ok()?);
        key.verify_strict(text.as_bytes(), &signature).ok()?;
        verified = true;
    }
    verified.then_some(text)
}

/// A signed checkpoint's origin, size and root (c2sp.org/tlog-checkpoint), when its
/// signature verifies with `vkey`.
pub fn open_checkpoint(note: &str, vkey: &str) -> Option<(String, u64, Hash)> {
    let text = signed_text(note, vkey)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != 3 {
        return None;
    }
    let root: Hash = STANDARD.decode(lines[2]).ok()?.try_into().ok()?;
    Some((lines[0].to_owned(), lines[1].parse().ok()?, root))
}

/// A small deterministic generator (xorshift64*) for sampling sizes and indices.
pub struct Sample(u64);

impl Sample {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low + 1)
    }
}

#[test]
fn the_independent_verifier_agrees_with_the_rfc_6962_reference_vectors() {
    // Certificate Transparency's reference tree (merkle_tree_test.cc): the root of the first
    // seven leaves, an audit path and a consistency proof over eight.
    let data = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let leaves: Vec<Vec<u8>> = data.iter().map(|d| hex::decode(d).unwrap()).collect();
    let h = |text: &str| -> Hash { hex::decode(text).unwrap().try_into().unwrap() };
    let leaf_hashes: Vec<Hash> = leaves.iter().map(|d| leaf(d)).collect();
    let root = |n: usize| -> Hash {
        // mth over leaf *data* of arbitrary length, by the same recursion.
        fn rec(l: &[Hash]) -> Hash {
            if l.len() == 1 {
                return l[0];
            }
            let mut k = 1;
            while k * 2 < l.len() {
                k *= 2;
            }
            node(&rec(&l[..k]), &rec(&l[k..]))
        }
        rec(&leaf_hashes[..n])
    };
    assert_eq!(
        root(7),
        h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c")
    );
    let path = [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ];
    assert!(verify_inclusion(5, 8, &leaf_hashes[5], &path, &root(8)));
    assert!(!verify_inclusion(4, 8, &leaf_hashes[5], &path, &root(8)));
    let consistency = [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ];
    assert!(verify_consistency(6, 8, &root(6), &root(8), &consistency));
    assert!(!verify_consistency(6, 8, &root(5), &root(8), &consistency));
    // The Go sumdb note example.
    let note = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n\n\
                \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n";
    assert_eq!(signed_text(note, vkey), Some(text));
    assert!(signed_text(&note.replace("answer", "Answer"), vkey).is_none());
    assert!(signed_text(note, &vkey.replace("c74f20a3", "c74f20a4")).is_none());
}
