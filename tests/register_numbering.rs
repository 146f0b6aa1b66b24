//! The outgoing register's numbers (NĐ 30/2020): per (Vietnam-local year, series) from 01,
//! no gap and no duplicate, taken in the transaction that records the document.
//!
//! - 10,000 documents sent concurrently to a real `docgate run` that this test SIGKILLs and
//!   restarts at random instants: afterwards the general series holds exactly 01..N, and
//!   every acknowledged document is there once (`DOCGATE_REGISTER_DOCS` changes the count;
//!   the seed is printed and `DOCGATE_REGISTER_SEED` repeats a run);
//! - the year turning at midnight Vietnam time, in-process with a settable clock;
//! - office-chosen numbers: a used one refused (409, nothing stored), a future one leaving
//!   no gap;
//! - the secret series: numbered on its own, recorded, never packed or sent.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently, read-only.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::registers::{
    accept, code_of, intake_context, outgoing_numbers, seed_from_env, Api, Rng,
};
use common::{add_axis_section, sample_meta, sample_pdf, GatewayDir};
use docgate::store::Store;
use docgate::system::clock::SettableClock;
use docgate::system::config::RegisterSection;
use time::macros::datetime;

const CLIENTS: usize = 8;

#[test]
fn ten_thousand_concurrent_documents_through_random_sigkills_number_01_to_n() {
    let total: usize = std::env::var("DOCGATE_REGISTER_DOCS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let seed = seed_from_env("DOCGATE_REGISTER_SEED");
    println!("register numbering: {total} documents, DOCGATE_REGISTER_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let api = Api::new(&gateway_dir.url, &gateway_dir.token);
    // One PDF for all: the blob is stored once, so restarts stay quick; each document still
    // differs by its subject and is its own request.
    let pdf = Arc::new(sample_pdf("register numbering"));
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
    let retried = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let mut gateway = gateway_dir.start();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (api, pdf, next, acknowledged, retried) = (
                api.clone(),
                pdf.clone(),
                next.clone(),
                acknowledged.clone(),
                retried.clone(),
            );
            std::thread::spawn(move || client(&api, &pdf, &next, total, &acknowledged, &retried))
        })
        .collect();
    let mut kills = 0;
    loop {
        std::thread::sleep(Duration::from_millis(50 + rng.below(600)));
        if acknowledged.lock().expect("ledger").len() >= total {
            break;
        }
        // SIGKILL at a random instant, with requests in flight, then start again.
        gateway.kill();
        kills += 1;
        gateway = gateway_dir.start();
    }
    for client in clients {
        client.join().expect("client thread");
    }
    let acknowledged = acknowledged.lock().expect("ledger");
    println!(
        "register numbering: {} documents acknowledged through {kills} SIGKILLs ({} requests retried after one) in {:.1} s",
        acknowledged.len(),
        retried.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(acknowledged.len(), total);
    assert!(kills >= 3, "too few kills to mean anything ({kills})");
    assert!(
        retried.load(Ordering::SeqCst) > 0,
        "no kill landed while a request was in flight"
    );

    gateway.kill();
    let gateway = gateway_dir.start();
    let year = time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .year();
    let rows = outgoing_numbers(&gateway_dir.database(), year, "general");
    let numbers: Vec<u32> = rows.iter().map(|(number, _, _)| *number).collect();
    let expected: Vec<u32> = (1..=total as u32).collect();
    assert!(
        numbers == expected,
        "numbers are not exactly 01..{total}: {} rows, first differences: {:?}",
        numbers.len(),
        numbers
            .iter()
            .zip(&expected)
            .filter(|(found, wanted)| found != wanted)
            .take(5)
            .collect::<Vec<_>>()
    );
    // Every acknowledged document is there exactly once (its retries found the first one).
    let stored: HashSet<&String> = rows.iter().map(|(_, id, _)| id).collect();
    assert_eq!(stored.len(), total);
    for (index, id) in acknowledged.iter() {
        assert!(
            stored.contains(id),
            "document {index} ({id}) acknowledged but not stored"
        );
    }
    let asked = Instant::now();
    let (status, register) = api.get_json(&format!("/api/v1/registers/out?year={year}"));
    assert_eq!(status, 200);
    println!(
        "register numbering: the register of {total} entries read in {:.2} s",
        asked.elapsed().as_secs_f64()
    );
    assert_eq!(register["entries"].as_array().map(Vec::len), Some(total));
    assert_eq!(register["entries"][0]["number_notation"], "01/UBND-VP");
    drop(gateway);
}

/// Takes document numbers from `next` until all are acknowledged; a failed request (the
/// gateway was killed) is retried with the same Idempotency-Key until it is answered.
fn client(
    api: &Api,
    pdf: &[u8],
    next: &AtomicUsize,
    total: usize,
    acknowledged: &Mutex<BTreeMap<usize, String>>,
    retried: &AtomicUsize,
) {
    loop {
        let index = next.fetch_add(1, Ordering::SeqCst);
        if index >= total {
            return;
        }
        let mut meta = sample_meta();
        meta["subject"] = format!("register numbering {index}").into();
        let key = format!("register-{index}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match api.post(&meta, pdf, Some(&key)) {
                Ok((202, answer)) => {
                    let id = answer["id"].as_str().expect("id in a 202").to_string();
                    acknowledged.lock().expect("ledger").insert(index, id);
                    break;
                }
                // 503 while the gateway shuts down; anything else is a failure.
                Ok((503, _)) | Err(_) => {
                    retried.fetch_add(1, Ordering::SeqCst);
                    assert!(
                        Instant::now() < deadline,
                        "document {index} never got through"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok((status, answer)) => panic!("document {index}: {status} {answer}"),
            }
        }
    }
}

fn register_section() -> RegisterSection {
    RegisterSection {
        agency_abbreviation: Some("UBND".into()),
        unit_abbreviation: Some("VP".into()),
        type_abbreviations: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_year_turns_at_midnight_vietnam_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // 10:00 on 31 December 2026 in Hà Nội.
    let clock = Arc::new(SettableClock::new(datetime!(2026-12-31 03:00 UTC)));
    let context = intake_context(clock.clone(), Some(&register_section()));
    let mut meta = sample_meta();
    meta["code_notation"] = serde_json::Value::Null;
    meta["type"] = serde_json::json!({"code": 1, "name": "Quyết định"});
    let document_id =
        |outcome: docgate::store::AcceptOutcome| outcome.identity.document_id.expect("document id");
    let first = document_id(accept(&store, &context, &meta, None).await.expect("first"));
    assert_eq!(first, "000.00.01.H41,2026/12/31,01/QĐ-UBND");
    // 23:59:59 on 31 December, Vietnam time (16:59:59 UTC): still 2026.
    clock.set(datetime!(2026-12-31 16:59:59 UTC));
    let last = document_id(accept(&store, &context, &meta, None).await.expect("last"));
    assert_eq!(last, "000.00.01.H41,2026/12/31,02/QĐ-UBND");
    // 00:00:00 on 1 January 2027, Vietnam time, is 17:00:00 UTC on 31 December: number 01.
    clock.set(datetime!(2026-12-31 17:00:00 UTC));
    let new_year = document_id(
        accept(&store, &context, &meta, None)
            .await
            .expect("new year"),
    );
    assert_eq!(new_year, "000.00.01.H41,2027/01/01,01/QĐ-UBND");
    let mut cong_van = sample_meta();
    cong_van["code_notation"] = serde_json::Value::Null;
    let second = document_id(
        accept(&store, &context, &cong_van, None)
            .await
            .expect("second"),
    );
    assert_eq!(code_of(&second), "02/UBND-VP", "{second}");
    // The secret series starts at 01 too, on its own; a secret document never travels, so
    // it has no edXML DocumentId.
    let mut secret = meta.clone();
    secret["secret"] = true.into();
    let outcome = accept(&store, &context, &secret, None)
        .await
        .expect("secret");
    assert_eq!(outcome.identity.document_id, None);
    assert_eq!(outcome.identity.state, "registered");
    let database = store.database_path().to_path_buf();
    store.close();
    let numbers = |year, series| {
        outgoing_numbers(&database, year, series)
            .into_iter()
            .map(|(number, _, state)| (number, state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(2026, "general"),
        [(1, "accepted".into()), (2, "accepted".into())]
    );
    assert_eq!(
        numbers(2027, "general"),
        [(1, "accepted".into()), (2, "accepted".into())]
    );
    assert_eq!(numbers(2027, "secret"), [(1, "registered".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notation_needs_configuration_when_the_office_sends_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let clock = Arc::new(SettableClock::new(datetime!(2026-05-01 03:00 UTC)));
    let unconfigured = intake_context(clock, None);
    let mut meta = sample_meta();
    meta.as_object_mut()
        .expect("object")
        .remove("code_notation");
    let error = accept(&store, &unconfigured, &meta, None)
        .await
        .expect_err("no notation can be composed");
    assert!(
        error.to_string().contains("register.agency_abbreviation"),
        "{error}"
    );
    assert!(store
        .list_documents(&Default::default())
        .expect("list")
        .documents
        .is_empty());
    store.close();
}

#[test]
fn office_numbers_are_checked_and_make_no_gap_and_secret_documents_never_leave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    // An axis nobody answers at: the packer still packs what it may (the link is down).
    add_axis_section(&gateway_dir, "https://127.0.0.1:9", "retry_max_ms = 1000\n");
    let gateway = gateway_dir.start();
    let api = Api::new(&gateway_dir.url, &gateway_dir.token);
    let pdf = sample_pdf("office numbers");
    let post = |number: Option<u32>, secret: bool, subject: &str| {
        let mut meta = sample_meta();
        meta["subject"] = subject.into();
        meta["code_number"] = number.map_or(serde_json::Value::Null, Into::into);
        meta["secret"] = secret.into();
        api.post(&meta, &pdf, None).expect("POST")
    };
    let code = |answer: &serde_json::Value| {
        code_of(answer["document_id"].as_str().expect("document_id")).to_string()
    };
    let (status, first) = post(None, false, "first");
    assert_eq!((status, code(&first).as_str()), (202, "01/UBND-VP"));
    // The office takes 4, ahead of the register.
    let (status, fourth) = post(Some(4), false, "office four");
    assert_eq!(
        (status, code(&fourth).as_str()),
        (202, "04/UBND-VP"),
        "{fourth}"
    );
    // 4 again, even with another notation: refused, nothing stored.
    let before = gateway.all_document_ids();
    let mut again = sample_meta();
    again["code_number"] = 4.into();
    again["code_notation"] = "QĐ-UBND".into();
    let refused_pdf = sample_pdf("dup");
    let (status, refused) = api.post(&again, &refused_pdf, None).expect("POST");
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "duplicate_document_id");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("number 04") && message.contains("general"),
        "{message}"
    );
    assert_eq!(gateway.all_document_ids(), before);
    let refused_blob = common::sha256_hex(&refused_pdf);
    assert!(
        !gateway_dir
            .blobs_dir()
            .join(&refused_blob[..2])
            .join(&refused_blob)
            .exists(),
        "the refused document's file was not kept"
    );
    // The register fills 02 and 03, steps over 04, goes on with 05: no gap.
    let codes: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|subject| code(&post(None, false, subject).1))
        .collect();
    assert_eq!(codes, ["02/UBND-VP", "03/UBND-VP", "05/UBND-VP"]);
    // The secret series: its own 01, 02; its number 04 is free although general holds 4.
    // Secret documents never travel, so they have no DocumentId; their numbers are in the
    // secret register (checked below).
    let (status, secret_one) = post(None, true, "secret one");
    assert_eq!(status, 202, "{secret_one}");
    assert_eq!(secret_one["state"], "registered");
    assert_eq!(secret_one["document_id"], serde_json::Value::Null);
    let (status, secret_four) = post(Some(4), true, "secret four");
    assert_eq!(status, 202, "{secret_four}");
    let (status, secret_two) = post(None, true, "secret two");
    assert_eq!(status, 202, "{secret_two}");
    let (_, general_six) = post(None, false, "general six");
    assert_eq!(code(&general_six), "06/UBND-VP");

    // The general documents get packed (the axis is unreachable, so no further); the secret
    // ones stay `registered` with no packet and no outbox row.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = outgoing_numbers(&gateway_dir.database(), current_year(), "general");
        if rows.iter().all(|(_, _, state)| state != "accepted") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the packer did not pack: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let secret_ids: Vec<String> = [&secret_one, &secret_four, &secret_two]
        .iter()
        .map(|answer| answer["id"].as_str().expect("id").to_string())
        .collect();
    let connection = rusqlite::Connection::open_with_flags(
        gateway_dir.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    for id in &secret_ids {
        let (state, packet, outbox): (String, Option<String>, i64) = connection
            .query_row(
                "SELECT state, packet_sha256, (SELECT count(*) FROM outbox WHERE document = ?1)
                 FROM documents WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("secret row");
        assert_eq!(
            (state.as_str(), packet, outbox),
            ("registered", None, 0),
            "{id}"
        );
    }
    let (status, secret_register) = api.get_json(&format!(
        "/api/v1/registers/out?year={}&series=secret",
        current_year()
    ));
    assert_eq!(status, 200);
    let entries = secret_register["entries"].as_array().expect("entries");
    let numbered: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().expect("id"),
                entry["number_notation"].as_str().expect("number"),
            )
        })
        .collect();
    assert_eq!(
        numbered,
        [
            (secret_ids[0].as_str(), "01/UBND-VP"),
            (secret_ids[2].as_str(), "02/UBND-VP"),
            (secret_ids[1].as_str(), "04/UBND-VP"),
        ]
    );
    assert_eq!(entries[0]["notes"][0], "Văn bản mật: không gửi qua mạng");
    drop(gateway);
}

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .year()
}
