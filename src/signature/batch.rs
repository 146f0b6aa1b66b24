//! Batch signing for many small items (status packets, delivery receipts, evidence
//! records) with a slow token: a Merkle tree over the items' SHA-256 digests, one CMS
//! signature over its root, and for each item an inclusion proof — the scheme X-Road uses
//! for the same reason. One token operation then covers hundreds of items.
//!
//! Leaves and inner nodes are hashed with distinct prefixes (`0x00` leaf, `0x01` node, as
//! RFC 6962 does) so a node can never pass for a leaf. A lone last node is promoted to the
//! next level unchanged. The root signature is an ordinary detached CMS (`cms`) over the
//! 32-byte root, so any CMS verifier can check it.
//!
//! Does not decide what to batch or when (the caller collects items), and does not store
//! proofs (the caller keeps each with its item).

use serde::{Deserialize, Serialize};

use super::cms;
use super::error::SignatureError;
use super::signer::DocumentSigner;

/// Most items in one batch; a proof is then at most 20 hashes.
pub const MAX_BATCH: usize = 1 << 20;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The leaf hash of an item.
pub fn leaf_hash(item: &[u8]) -> [u8; 32] {
    sha256(&[&[0x00], item])
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    sha256(&[&[0x01], left, right])
}

/// One step of an inclusion proof: the sibling's hash and on which side it sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofStep {
    #[serde(with = "hex_bytes")]
    pub sibling: [u8; 32],
    /// The sibling is on the left (the path node is the right child).
    pub sibling_is_left: bool,
}

/// What an item keeps to prove it was in a signed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The item's position in the batch and the batch's size.
    pub index: usize,
    pub batch_size: usize,
    pub path: Vec<ProofStep>,
}

/// A signed batch: the root, its CMS signature, and one proof per item (same order).
#[derive(Debug, Clone)]
pub struct SignedBatch {
    pub root: [u8; 32],
    /// Detached CMS over the 32 root bytes (DER).
    pub root_signature: Vec<u8>,
    pub proofs: Vec<InclusionProof>,
}

/// Why a batch could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("a batch needs 1 to {MAX_BATCH} items, not {0}")]
    Size(usize),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The tree's levels, leaves first.
fn levels(leaves: Vec<[u8; 32]>) -> Vec<Vec<[u8; 32]>> {
    let mut levels = vec![leaves];
    while levels.last().is_some_and(|level| level.len() > 1) {
        let below = levels.last().map(Vec::as_slice).unwrap_or_default();
        let above = below
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                // `chunks(2)` never yields an empty chunk: this is the lone last node.
                lone => lone.first().copied().unwrap_or_default(),
            })
            .collect();
        levels.push(above);
    }
    levels
}

fn proof(levels: &[Vec<[u8; 32]>], index: usize) -> InclusionProof {
    let mut path = Vec::new();
    let mut position = index;
    for level in &levels[..levels.len().saturating_sub(1)] {
        let sibling = position ^ 1;
        if let Some(hash) = level.get(sibling) {
            path.push(ProofStep {
                sibling: *hash,
                sibling_is_left: sibling < position,
            });
        }
        position /= 2;
    }
    InclusionProof {
        index,
        batch_size: levels.first().map_or(0, Vec::len),
        path,
    }
}

/// The Merkle root of `items` and each item's proof.
pub fn tree(items: &[&[u8]]) -> Result<([u8; 32], Vec<InclusionProof>), BatchError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(BatchError::Size(items.len()));
    }
    let levels = levels(items.iter().map(|item| leaf_hash(item)).collect());
    let root = levels
        .last()
        .and_then(|level| level.first())
        .copied()
        .ok_or(BatchError::Size(0))?;
    let proofs = (0..items.len())
        .map(|index| proof(&levels, index))
        .collect();
    Ok((root, proofs))
}

/// Builds the tree over `items` and signs its root with one signature.
pub fn sign_batch(signer: &dyn DocumentSigner, items: &[&[u8]]) -> Result<SignedBatch, BatchError> {
    let (root, proofs) = tree(items)?;
    // The CMS message digest is over the content, here the 32 root bytes.
    let root_signature = cms::sign_detached(signer, &sha256(&[&root]))?;
    Ok(SignedBatch {
        root,
        root_signature,
        proofs,
    })
}

/// The root an item and its proof lead to.
pub fn root_of(item: &[u8], proof: &InclusionProof) -> [u8; 32] {
    proof.path.iter().fold(leaf_hash(item), |hash, step| {
        if step.sibling_is_left {
            node_hash(&step.sibling, &hash)
        } else {
            node_hash(&hash, &step.sibling)
        }
    })
}

/// What checking one item against a signed root found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchCheck {
    /// The proof leads from the item to the signed root.
    pub included: bool,
    /// The root's CMS signature is intact (its signer is in `signer_certificate`; chain
    /// and revocation are judged with `trust`).
    pub root_signature_valid: bool,
    pub signer_certificate: Option<Vec<u8>>,
}

/// Checks that `item` is in the batch whose root is `root` and that the root's signature
/// holds.
pub fn verify_item(
    item: &[u8],
    proof: &InclusionProof,
    root: &[u8; 32],
    root_signature: &[u8],
) -> BatchCheck {
    let included = root_of(item, proof) == *root;
    let parsed = cms::parse(root_signature).ok();
    let root_signature_valid = parsed.as_ref().is_some_and(|parsed| {
        parsed.message_digest.as_deref() == Some(&sha256(&[root])[..])
            && parsed
                .signer_certificate
                .as_deref()
                .is_some_and(|certificate| cms::signature_is_valid(parsed, certificate))
    });
    BatchCheck {
        included,
        root_signature_valid,
        signer_certificate: parsed.and_then(|parsed| parsed.signer_certificate),
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_of_every_size_proves_its_inclusion() {
        for size in [1usize, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100] {
            let items: Vec<Vec<u8>> = (0..size)
                .map(|i| format!("status {i}").into_bytes())
                .collect();
            let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
            let (root, proofs) = tree(&slices).expect("tree");
            for (item, proof) in items.iter().zip(&proofs) {
                assert_eq!(
                    root_of(item, proof),
                    root,
                    "size {size}, item {}",
                    proof.index
                );
                assert!(proof.path.len() <= 7);
            }
            // Another item, or the right item with another's proof, does not lead there.
            assert_ne!(root_of(b"forged", &proofs[0]), root);
            if size > 1 {
                assert_ne!(root_of(&items[0], &proofs[1]), root);
            }
        }
    }

    #[test]
    fn a_node_cannot_pass_for_a_leaf() {
        let items: [&[u8]; 2] = [b"a", b"b"];
        let (root, _) = tree(&items).expect("tree");
        let mut forged = leaf_hash(b"a").to_vec();
        forged.extend_from_slice(&leaf_hash(b"b"));
        let (single_root, _) = tree(&[forged.as_slice()]).expect("tree");
        assert_ne!(root, single_root);
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        assert!(matches!(tree(&[]), Err(BatchError::Size(0))));
    }
}
