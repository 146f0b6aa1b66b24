//! Checking the evidence log offline (`docgate verify --evidence`): the hash chain from the
//! first record to the last (no record changed, removed or reordered), and every signed
//! batch — its Merkle root over the records' hashes, each record's inclusion proof, the
//! root's signature, and the signer's chain to the trust roots. Records after the last
//! batch are reported as not yet signed, not as errors.
//!
//! Reads through `store::evidence::read_log` (read-only, safe beside the daemon) and judges
//! with `signature`; writes nothing.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

use crate::signature::batch::{self, InclusionProof};
use crate::signature::trust::{ChainStatus, TrustStore};
use crate::store::evidence::{chain_hash, decode_hash, read_log, EvidenceRecord, GENESIS};
use crate::store::StoreError;

/// What the check found.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceReport {
    pub records: usize,
    pub batches: usize,
    /// Records signed in a valid batch.
    pub signed_records: usize,
    /// Records after the last batch (not signed yet).
    pub unsigned_records: usize,
    /// Each problem, in words; empty when the log is intact.
    pub problems: Vec<String>,
    pub intact: bool,
}

/// Checks the log in the gateway database at `database`.
pub fn verify_evidence(
    database: &Path,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<EvidenceReport, StoreError> {
    let log = read_log(database)?;
    let (records, batches) = (log.records, log.batches);
    let mut problems = check_chain(&records);
    let mut signed_records = 0;
    let mut expected_first = 1;
    for (batch, proofs) in &batches {
        if batch.first_seq != expected_first {
            problems.push(format!(
                "batch {} starts at record {} instead of {expected_first}",
                batch.id, batch.first_seq
            ));
        }
        expected_first = batch.last_seq + 1;
        let members: Vec<&EvidenceRecord> = records
            .iter()
            .filter(|record| (batch.first_seq..=batch.last_seq).contains(&record.seq))
            .collect();
        match check_batch(batch, proofs, &members, trust, now) {
            Ok(()) => signed_records += members.len(),
            Err(problem) => problems.push(format!("batch {}: {problem}", batch.id)),
        }
    }
    let unsigned_records = records
        .iter()
        .filter(|record| record.seq >= expected_first)
        .count();
    Ok(EvidenceReport {
        records: records.len(),
        batches: batches.len(),
        signed_records,
        unsigned_records,
        intact: problems.is_empty(),
        problems,
    })
}

fn check_chain(records: &[EvidenceRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous = GENESIS;
    for (index, record) in records.iter().enumerate() {
        let expected_seq = index as i64 + 1;
        if record.seq != expected_seq {
            problems.push(format!(
                "record {expected_seq} is missing (the next one is {})",
                record.seq
            ));
        }
        let computed = chain_hash(&previous, &record.record_json);
        match decode_hash(&record.hash) {
            Ok(stored) if stored == computed => previous = stored,
            _ => {
                problems.push(format!(
                    "record {} does not match its hash: it or an earlier record was changed",
                    record.seq
                ));
                // Continue from what is stored, so one change is reported once.
                previous = decode_hash(&record.hash).unwrap_or(computed);
            }
        }
    }
    problems
}

fn check_batch(
    batch: &crate::store::evidence::EvidenceBatch,
    proofs: &[String],
    members: &[&EvidenceRecord],
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<(), String> {
    let expected = (batch.last_seq - batch.first_seq + 1).max(0) as usize;
    if members.len() != expected || proofs.len() != expected {
        return Err(format!(
            "covers records {}..={} but {} records and {} proofs are present",
            batch.first_seq,
            batch.last_seq,
            members.len(),
            proofs.len()
        ));
    }
    let root = decode_hash(&batch.root).map_err(|error| error.to_string())?;
    let items: Vec<[u8; 32]> = members
        .iter()
        .map(|record| decode_hash(&record.hash).map_err(|error| error.to_string()))
        .collect::<Result<_, _>>()?;
    let slices: Vec<&[u8]> = items.iter().map(|item| item.as_slice()).collect();
    let (computed, _) = batch::tree(&slices).map_err(|error| error.to_string())?;
    if computed != root {
        return Err("its root does not match its records".into());
    }
    let mut signer = None;
    for (item, proof) in items.iter().zip(proofs) {
        let proof: InclusionProof =
            serde_json::from_str(proof).map_err(|error| format!("unreadable proof: {error}"))?;
        let check = batch::verify_item(item, &proof, &root, &batch.signature);
        if !check.included {
            return Err(format!(
                "the proof of item {} does not lead to the root",
                proof.index
            ));
        }
        if !check.root_signature_valid {
            return Err("the root's signature is not valid".into());
        }
        signer = check.signer_certificate;
    }
    let Some(certificate) = signer else {
        return Err("the root's signature carries no certificate".into());
    };
    let chain = trust.judge(&certificate, &[], now);
    match chain.status {
        ChainStatus::Trusted => Ok(()),
        ChainStatus::Untrusted { reason } => Err(format!("the signer is not trusted: {reason}")),
    }
}
