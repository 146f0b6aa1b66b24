//! Crash safety: a real `docgate run` takes documents from concurrent clients while this
//! test SIGKILLs it at random instants, over and over. After every restart:
//!
//! - every document that got a 2xx is there, and its files are byte-identical to what the
//!   client sent (the rows name the client's SHA-256s and every blob file hashes to its name);
//! - nothing else half-exists: every row is a request some client really sent, complete
//!   with its files and its first event; no request is stored twice; the staging area is
//!   empty and no blob is unreferenced;
//! - `PRAGMA integrity_check` answers ok;
//! - requests that were in flight at the kill, retried with the same Idempotency-Key, get
//!   the document that was committed (if it was) rather than a second one.
//!
//! `DOCGATE_CRASH_CYCLES` changes the number of kills (default 200); the seed is printed so
//! a failing run can be repeated with `DOCGATE_CRASH_SEED`.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently, read-only.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{sample_meta, sample_pdf, sha256_hex, GatewayDir, GatewayProcess};

const CLIENTS: usize = 6;

/// One request a client made: its tag is in the subject and is its Idempotency-Key.
#[derive(Clone, Debug)]
struct SentDocument {
    tag: String,
    files: Vec<(String, String, Vec<u8>)>,
}

impl SentDocument {
    fn new(tag: String, rng: &mut Rng) -> SentDocument {
        let annex_size = rng.below(48 * 1024) as usize;
        let annex: Vec<u8> = (0..annex_size)
            .map(|index| (index as u8) ^ (rng.below(256) as u8))
            .collect();
        let mut files = vec![(
            "van-ban.pdf".to_string(),
            "application/pdf".to_string(),
            sample_pdf(&tag),
        )];
        if annex_size > 0 {
            files.push((
                "phu-luc.bin".to_string(),
                "application/octet-stream".to_string(),
                annex,
            ));
        }
        SentDocument { tag, files }
    }

    fn meta(&self) -> serde_json::Value {
        let mut meta = sample_meta();
        meta["subject"] = format!("crash test {}", self.tag).into();
        meta
    }

    fn post(&self, gateway: &GatewayProcess) -> Result<(u16, serde_json::Value), String> {
        let files: Vec<(&str, &str, Vec<u8>)> = self
            .files
            .iter()
            .map(|(name, content_type, bytes)| {
                (name.as_str(), content_type.as_str(), bytes.clone())
            })
            .collect();
        gateway
            .try_post_document(&self.meta(), &files, Some(&self.tag))
            .map_err(|error| error.to_string())
    }

    fn hashes(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|(_, _, bytes)| sha256_hex(bytes))
            .collect()
    }
}

/// What the clients learned.
#[derive(Default)]
struct Ledger {
    /// tag → our id, for every 2xx.
    acknowledged: BTreeMap<String, String>,
    /// Every request ever sent, by tag.
    sent: HashMap<String, SentDocument>,
    /// Requests that got no answer (in flight at a kill); retried after the restart.
    unanswered: Vec<SentDocument>,
    /// Blobs already hashed in full. Blob files are immutable (a publish never rewrites an
    /// existing name), so later restarts check their presence and size, not every byte again.
    hashed_blobs: HashSet<String>,
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

#[test]
fn sigkill_at_random_instants_loses_and_duplicates_nothing() {
    let cycles: usize = std::env::var("DOCGATE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("DOCGATE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("crash test: {cycles} cycles, DOCGATE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    let mut kills_mid_request = 0;

    for cycle in 0..cycles {
        let mut gateway = gateway_dir.start();
        verify_after_restart(&gateway_dir, &gateway, &mut ledger.lock().expect("ledger"));
        retry_unanswered(&gateway, &mut ledger.lock().expect("ledger"));

        let kill_after = Duration::from_millis(5 + rng.below(120));
        let seeds: Vec<u64> = (0..CLIENTS).map(|_| rng.next() | 1).collect();
        std::thread::scope(|scope| {
            for (client, client_seed) in seeds.into_iter().enumerate() {
                let ledger = Arc::clone(&ledger);
                let gateway = &gateway;
                scope.spawn(move || run_client(cycle, client, client_seed, gateway, &ledger));
            }
            std::thread::sleep(kill_after);
            // SIGKILL while the clients are mid-flight.
            let pid = gateway.pid();
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            assert!(
                status.map(|s| s.success()).unwrap_or(false),
                "kill -KILL {pid}"
            );
        });
        gateway.kill(); // reap
        let in_flight = ledger.lock().expect("ledger").unanswered.len();
        if in_flight > 0 {
            kills_mid_request += 1;
        }
    }

    let gateway = gateway_dir.start();
    let mut ledger = ledger.lock().expect("ledger");
    verify_after_restart(&gateway_dir, &gateway, &mut ledger);
    verify_through_the_api(&gateway, &ledger);
    println!(
        "crash test: {cycles} kills ({kills_mid_request} with requests in flight), {} documents acknowledged, {} sent, {:.1} s",
        ledger.acknowledged.len(),
        ledger.sent.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        ledger.acknowledged.len() > cycles,
        "the clients got too little through to mean anything"
    );
    assert!(
        kills_mid_request > cycles / 4,
        "too few kills landed while requests were in flight"
    );
}

/// Sends documents until the gateway dies under it.
fn run_client(
    cycle: usize,
    client: usize,
    seed: u64,
    gateway: &GatewayProcess,
    ledger: &Mutex<Ledger>,
) {
    let mut rng = Rng(seed);
    for sequence in 0.. {
        let document = SentDocument::new(format!("c{cycle}-{client}-{sequence}"), &mut rng);
        ledger
            .lock()
            .expect("ledger")
            .sent
            .insert(document.tag.clone(), document.clone());
        match document.post(gateway) {
            Ok((202, answer)) => {
                let id = answer["id"].as_str().expect("id in a 202").to_string();
                ledger
                    .lock()
                    .expect("ledger")
                    .acknowledged
                    .insert(document.tag.clone(), id);
            }
            Ok((status, answer)) => panic!("{}: unexpected answer {status} {answer}", document.tag),
            Err(_) => {
                ledger.lock().expect("ledger").unanswered.push(document);
                return;
            }
        }
    }
}

/// Retries what was in flight at the kill, with the same key: it must come back as one
/// document, the committed one if the commit had happened.
fn retry_unanswered(gateway: &GatewayProcess, ledger: &mut Ledger) {
    for document in std::mem::take(&mut ledger.unanswered) {
        let (status, answer) = document
            .post(gateway)
            .expect("the restarted gateway answers");
        assert_eq!(status, 202, "{}: {answer}", document.tag);
        let id = answer["id"].as_str().expect("id").to_string();
        ledger.acknowledged.insert(document.tag.clone(), id);
    }
}

/// Checks the state directory against the ledger, directly (the gateway is running but idle).
fn verify_after_restart(gateway_dir: &GatewayDir, gateway: &GatewayProcess, ledger: &mut Ledger) {
    assert_eq!(common::integrity_check(&gateway_dir.database()), "ok");
    let connection = rusqlite::Connection::open_with_flags(
        gateway_dir.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let mut rows: HashMap<String, (String, Vec<String>, i64)> = HashMap::new();
    let mut statement = connection
        .prepare(
            "SELECT d.id, d.subject,
                    (SELECT group_concat(sha256, ',') FROM (SELECT sha256 FROM document_files f WHERE f.document = d.id ORDER BY n)),
                    (SELECT count(*) FROM document_events e WHERE e.document = d.id)
             FROM documents d",
        )
        .expect("prepare");
    let mapped = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .expect("query");
    for row in mapped {
        let (id, subject, hashes, events) = row.expect("row");
        let tag = subject
            .strip_prefix("crash test ")
            .unwrap_or_else(|| panic!("a row no client sent: {subject}"))
            .to_string();
        let hashes: Vec<String> = hashes
            .unwrap_or_default()
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        assert!(
            rows.insert(tag.clone(), (id, hashes, events)).is_none(),
            "{tag} stored twice"
        );
    }
    for (tag, (id, hashes, events)) in &rows {
        let sent = ledger
            .sent
            .get(tag)
            .unwrap_or_else(|| panic!("{tag} was never sent"));
        assert_eq!(
            hashes,
            &sent.hashes(),
            "{tag}: files differ from what was sent"
        );
        assert!(*events >= 1, "{tag}: no event logged");
        if let Some(acknowledged_id) = ledger.acknowledged.get(tag) {
            assert_eq!(
                acknowledged_id, id,
                "{tag}: acknowledged as another document"
            );
        }
    }
    for tag in ledger.acknowledged.keys() {
        assert!(
            rows.contains_key(tag),
            "{tag} got a 2xx but is gone after the crash"
        );
    }
    // Every blob is referenced and hashes to its name; nothing is left in staging.
    let referenced: HashSet<&String> = rows.values().flat_map(|(_, hashes, _)| hashes).collect();
    for relative in common::list_files(&gateway_dir.blobs_dir()) {
        assert!(
            !relative.starts_with("tmp/"),
            "staging leftover after restart: {relative}"
        );
        let name = relative.rsplit('/').next().unwrap_or_default().to_string();
        assert!(
            referenced.contains(&name),
            "unreferenced blob after restart: {relative}"
        );
        if !ledger.hashed_blobs.contains(&name) {
            let bytes = std::fs::read(gateway_dir.blobs_dir().join(&relative)).expect("read blob");
            assert_eq!(
                sha256_hex(&bytes),
                name,
                "blob {relative} does not match its name"
            );
            ledger.hashed_blobs.insert(name);
        }
    }
    for hash in referenced {
        assert!(
            gateway_dir
                .blobs_dir()
                .join(&hash[..2])
                .join(hash)
                .is_file(),
            "blob {hash} is missing"
        );
    }
    let listed = gateway.all_document_ids();
    assert_eq!(
        listed.len(),
        rows.len(),
        "the API lists what the database holds"
    );
}

/// The end: every acknowledged document, through the API, byte for byte.
fn verify_through_the_api(gateway: &GatewayProcess, ledger: &Ledger) {
    for (tag, id) in &ledger.acknowledged {
        let sent = &ledger.sent[tag];
        for (index, (_, _, bytes)) in sent.files.iter().enumerate() {
            let (status, body) =
                gateway.get_bytes(&format!("/api/v1/documents/{id}/files/{}", index + 1));
            assert_eq!(status, 200, "{tag}");
            assert!(body == *bytes, "{tag}: file {} differs", index + 1);
        }
    }
}
