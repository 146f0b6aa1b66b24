//! What must hold after a chaos run, checked against the [`Ledger`] of what the gateways
//! acknowledged and, independently, against the stores themselves (read-only) and the bytes
//! the receivers serve. Owns the wait for the exchange to drain and the final table; changes
//! nothing in the world but stopping its processes at the end. The table is `report`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::faults::Tally;
use crate::report::{Report, Row, INVARIANTS};
use crate::workload::{Entries, Ledger, RecallOutcome, Sent};
use crate::world::{Plan, World};

/// A store opened read-only, as a second reader beside its daemon.
fn open(database: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    Ok(connection)
}

fn count(connection: &Connection, sql: &str, params: impl rusqlite::Params) -> i64 {
    connection
        .query_row(sql, params, |row| row.get(0))
        .unwrap_or(-1)
}

/// Waits until nothing is on its way and the clerks have nothing left to do; `Err` says
/// what was still pending at the deadline.
pub fn wait_drained(plan: &Plan, ledger: &Ledger, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < limit {
        match pending(plan, &ledger.snapshot()) {
            Ok(None) => {
                println!("chaos: drained in {:.1} s", started.elapsed().as_secs_f64());
                return Ok(());
            }
            Ok(Some(what)) => last = what,
            Err(error) => last = format!("cannot read a store: {error}"),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!("not drained in {limit:?}: {last}"))
}

/// What is still pending, if anything.
fn pending(plan: &Plan, entries: &Entries) -> rusqlite::Result<Option<String>> {
    let axis = open(&plan.axis_database)?;
    let waiting = count(
        &axis,
        "SELECT count(*) FROM deliveries WHERE state = 'processing'",
        [],
    );
    if waiting != 0 {
        return Ok(Some(format!("{waiting} deliveries waiting at the axis")));
    }
    for office in &plan.offices {
        let store = open(&office.database)?;
        let outbox = count(
            &store,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
            [],
        );
        let unsealed = count(
            &store,
            "SELECT count(*) FROM documents WHERE direction = 'out' AND state = 'accepted'",
            [],
        );
        let todo = count(
            &store,
            "SELECT count(*) FROM documents WHERE direction = 'in' AND state <> 'quarantined'
               AND cancelled_at IS NULL AND business_status = '01'",
            [],
        ) + count(
            &store,
            "SELECT count(*) FROM business_requests WHERE answer IS NULL",
            [],
        );
        if outbox + unsealed + todo != 0 {
            return Ok(Some(format!(
                "the {}: {outbox} packets in its outbox, {unsealed} documents not yet packed, {todo} waiting for its clerk",
                office.name
            )));
        }
    }
    for sent in entries.sent.iter().filter(|sent| !withdrawn(entries, sent)) {
        let receiver = open(&plan.offices[sent.to].database)?;
        if incoming_copies(&receiver, &sent.document_id) == 0 {
            return Ok(Some(format!("{} has not arrived", sent.document_id)));
        }
    }
    Ok(None)
}

fn withdrawn(entries: &Entries, sent: &Sent) -> bool {
    entries
        .recalls
        .iter()
        .any(|recall| recall.sent.id == sent.id && recall.outcome == RecallOutcome::Withdrawn)
}

fn incoming_copies(receiver: &Connection, document_id: &str) -> i64 {
    count(
        receiver,
        "SELECT count(*) FROM documents WHERE direction = 'in' AND document_id = ?1",
        [document_id],
    )
}

/// Checks every invariant, then stops the processes and checks the stores at rest.
pub fn check(world: &mut World, ledger: &Ledger, tally: Tally) -> Report {
    let entries = ledger.snapshot();
    let mut rows: BTreeMap<&'static str, Row> = BTreeMap::new();
    let plan = &world.plan;
    deliveries(plan, &entries, &mut rows);
    statuses(plan, &mut rows);
    recalls(plan, &entries, &mut rows);
    quarantine(plan, &entries, &mut rows);
    for node in &mut world.running.nodes {
        node.stop();
    }
    if let Some(mut axis) = world.running.axis.take() {
        axis.kill();
    }
    registers(plan, &mut rows);
    integrity(plan, &mut rows);
    Report {
        tally,
        rows,
        entries,
    }
}

fn row<'r>(rows: &'r mut BTreeMap<&'static str, Row>, index: usize) -> &'r mut Row {
    rows.entry(INVARIANTS[index]).or_default()
}

fn breach(rows: &mut BTreeMap<&'static str, Row>, index: usize, detail: String) {
    println!("chaos: BREACH {}: {detail}", INVARIANTS[index]);
    row(rows, index).breaches.push(detail);
}

/// Every accepted document: one row at the sender, exactly one copy at the receiver whose
/// file is the bytes posted; a withdrawn one: no copy. And no outgoing document the
/// workload was not told about (a duplicate made by a retried post).
fn deliveries(plan: &Plan, entries: &Entries, rows: &mut BTreeMap<&'static str, Row>) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client");
    for (index, office) in plan.offices.iter().enumerate() {
        let Ok(store) = open(&office.database) else {
            breach(rows, 0, format!("cannot open the {}'s store", office.name));
            continue;
        };
        let outgoing = count(
            &store,
            "SELECT count(*) FROM documents WHERE direction = 'out'",
            [],
        );
        let acknowledged = entries
            .sent
            .iter()
            .filter(|sent| sent.from == index)
            .count() as i64;
        row(rows, 0).checked += 1;
        if outgoing != acknowledged {
            breach(
                rows,
                0,
                format!(
                    "the {} holds {outgoing} outgoing documents, {acknowledged} were acknowledged",
                    office.name
                ),
            );
        }
    }
    for sent in &entries.sent {
        let receiver = &plan.offices[sent.to];
        let Ok(store) = open(&receiver.database) else {
            continue;
        };
        let copies = incoming_copies(&store, &sent.document_id);
        if withdrawn(entries, sent) {
            row(rows, 1).checked += 1;
            if copies != 0 {
                breach(
                    rows,
                    1,
                    format!("{} was withdrawn yet arrived", sent.document_id),
                );
            }
            continue;
        }
        row(rows, 0).checked += 1;
        if copies != 1 {
            breach(
                rows,
                0,
                format!("{} arrived {copies} times", sent.document_id),
            );
            continue;
        }
        let id: String = store
            .query_row(
                "SELECT id FROM documents WHERE direction = 'in' AND document_id = ?1",
                [&sent.document_id],
                |row| row.get(0),
            )
            .unwrap_or_default();
        let served = file_bytes(&client, receiver, &id);
        let sender = &plan.offices[sent.from];
        // A sealing sender's file is the posted PDF with the seal appended (an incremental
        // update); the receiver must serve exactly what the sender holds.
        let held = if sender.seals {
            file_bytes(&client, sender, &sent.id)
        } else {
            served.as_ref().map(|_| Vec::new()).map_err(Clone::clone)
        };
        match (served, held) {
            (Ok(served), Ok(held)) => {
                let posted_intact = if sender.seals {
                    served == held
                        && served.len() > sent.posted_len
                        && served_starts_with(&served, sent)
                } else {
                    crate::common::sha256_hex(&served) == sent.sha256
                };
                if !posted_intact {
                    breach(
                        rows,
                        0,
                        format!(
                            "{} changed on the way ({} bytes posted, {} held by the sender, {} served)",
                            sent.document_id,
                            sent.size,
                            held.len(),
                            served.len()
                        ),
                    );
                }
            }
            (Err(error), _) | (_, Err(error)) => breach(
                rows,
                0,
                format!("{}: its file cannot be read: {error}", sent.document_id),
            ),
        }
    }
}

/// Whether the first bytes of `served` are the PDF that was posted (its hash).
fn served_starts_with(served: &[u8], sent: &Sent) -> bool {
    served.len() >= sent.posted_len
        && crate::common::sha256_hex(&served[..sent.posted_len]) == sent.sha256
}

/// The bytes of a document's first file, as its gateway serves them.
fn file_bytes(
    client: &reqwest::blocking::Client,
    office: &crate::world::Office,
    id: &str,
) -> Result<Vec<u8>, String> {
    client
        .get(format!("{}/api/v1/documents/{id}/files/1", office.url))
        .bearer_auth(&office.token)
        .send()
        .and_then(|response| response.error_for_status())
        .and_then(|response| response.bytes())
        .map(|bytes| bytes.to_vec())
        .map_err(|error| error.to_string())
}

/// (DocumentId, code) → how many times: the statuses `organ` set (sent) or received from it.
type StatusCount = BTreeMap<(String, String), u64>;

fn status_counts(
    database: &Path,
    direction: &str,
    organ: Option<&str>,
) -> rusqlite::Result<StatusCount> {
    let store = open(database)?;
    let mut statement = store.prepare(
        "SELECT d.document_id, s.code FROM document_statuses s JOIN documents d ON d.id = s.document
          WHERE s.direction = ?1 AND (?2 IS NULL OR s.organ_id = ?2)",
    )?;
    let mut counts = StatusCount::new();
    for pair in statement.query_map(rusqlite::params![direction, organ], |row| {
        Ok((
            row.get::<_, Option<String>>(0)?.unwrap_or_default(),
            row.get::<_, String>(1)?,
        ))
    })? {
        *counts.entry(pair?).or_default() += 1;
    }
    Ok(counts)
}

/// Each status one office set arrived once at the other, and nothing else arrived.
fn statuses(plan: &Plan, rows: &mut BTreeMap<&'static str, Row>) {
    for (from, setter) in plan.offices.iter().enumerate() {
        let receiver = &plan.offices[(from + 1) % plan.offices.len()];
        let sent = status_counts(&setter.database, "sent", None);
        let received = status_counts(&receiver.database, "received", Some(&setter.organ_id));
        let (Ok(sent), Ok(received)) = (sent, received) else {
            breach(
                rows,
                2,
                format!("cannot read the statuses of the {}", setter.name),
            );
            continue;
        };
        let keys: BTreeSet<&(String, String)> = sent.keys().chain(received.keys()).collect();
        for key in keys {
            row(rows, 2).checked += 1;
            let (set, arrived) = (
                sent.get(key).copied().unwrap_or(0),
                received.get(key).copied().unwrap_or(0),
            );
            if set != arrived || set > 1 {
                breach(
                    rows,
                    2,
                    format!(
                        "status {} on {}: the {} set it {set} times, the {} has it {arrived} times",
                        key.1, key.0, setter.name, receiver.name
                    ),
                );
            }
        }
    }
}

/// A requested recall: the receiver holds one recall request for the document, answered 15,
/// and has cancelled it; the sender holds its request with the answer 15.
fn recalls(plan: &Plan, entries: &Entries, rows: &mut BTreeMap<&'static str, Row>) {
    for recall in &entries.recalls {
        let sent = &recall.sent;
        let (Ok(sender), Ok(receiver)) = (
            open(&plan.offices[sent.from].database),
            open(&plan.offices[sent.to].database),
        ) else {
            continue;
        };
        row(rows, 3).checked += 1;
        let cancelled_at_sender = count(
            &sender,
            "SELECT count(*) FROM documents WHERE id = ?1 AND cancelled_at IS NOT NULL",
            [&sent.id],
        );
        if recall.outcome == RecallOutcome::Withdrawn {
            if cancelled_at_sender != 1 {
                breach(
                    rows,
                    3,
                    format!(
                        "{} was withdrawn but is not cancelled at the sender",
                        sent.document_id
                    ),
                );
            }
            continue;
        }
        let at_receiver = count(
            &receiver,
            "SELECT count(*) FROM business_requests r JOIN documents d ON d.id = r.document
              WHERE r.direction = 'received' AND r.kind = 'recall' AND d.document_id = ?1 AND r.answer = '15'
                AND d.cancelled_at IS NOT NULL",
            [&sent.document_id],
        );
        let all_at_receiver = count(
            &receiver,
            "SELECT count(*) FROM business_requests r JOIN documents d ON d.id = r.document
              WHERE r.direction = 'received' AND r.kind = 'recall' AND d.document_id = ?1",
            [&sent.document_id],
        );
        let answered_at_sender = count(
            &sender,
            "SELECT count(*) FROM business_requests WHERE document = ?1 AND direction = 'sent'
               AND kind = 'recall' AND answer = '15'",
            [&sent.id],
        );
        if at_receiver != 1 || all_at_receiver != 1 || answered_at_sender != 1 {
            breach(
                rows,
                3,
                format!(
                    "recall of {}: {all_at_receiver} requests at the receiver ({at_receiver} agreed and cancelled), {answered_at_sender} agreed at the sender",
                    sent.document_id
                ),
            );
        }
    }
}

/// Every packet sent to be quarantined is in the commune's quarantine with its bytes, and
/// no other packet was quarantined anywhere (that would be a document lost to a clerk).
fn quarantine(plan: &Plan, entries: &Entries, rows: &mut BTreeMap<&'static str, Row>) {
    let commune = &plan.offices[1];
    let Ok(store) = open(&commune.database) else {
        breach(rows, 7, "cannot open the commune's store".into());
        return;
    };
    let Ok(axis) = open(&plan.axis_database) else {
        breach(rows, 7, "cannot open the axis's store".into());
        return;
    };
    for doc_id in &entries.quarantine {
        row(rows, 7).checked += 1;
        // The receiver knows the packet by its delivery's docId, not the sender's.
        let delivery: Option<String> = axis
            .query_row(
                "SELECT delivery_id FROM deliveries WHERE packet = ?1",
                [doc_id],
                |row| row.get(0),
            )
            .ok();
        let kept = delivery.as_ref().map_or(0, |delivery| {
            count(
                &store,
                "SELECT count(*) FROM incoming_deliveries WHERE axis_doc_id = ?1 AND outcome = 'quarantined'
                   AND packet_sha256 IS NOT NULL",
                [delivery],
            )
        });
        if kept != 1 {
            breach(
                rows,
                7,
                format!("the packet {doc_id} (delivery {delivery:?}) is not in quarantine"),
            );
        }
    }
    let most = (entries.quarantine.len() + entries.quarantine_unanswered) as i64;
    for office in &plan.offices {
        let Ok(store) = open(&office.database) else {
            continue;
        };
        let quarantined = count(
            &store,
            "SELECT count(*) FROM incoming_deliveries WHERE outcome = 'quarantined'",
            [],
        );
        let allowed = if office.name == commune.name { most } else { 0 };
        row(rows, 7).checked += 1;
        if quarantined > allowed {
            breach(
                rows,
                7,
                format!(
                    "the {} quarantined {quarantined} packets; at most {allowed} were sent to be",
                    office.name
                ),
            );
        }
    }
}

/// Outgoing numbers per (year, series) and incoming numbers per year are 1..N, each once,
/// and each register's counter stands at N.
fn registers(plan: &Plan, rows: &mut BTreeMap<&'static str, Row>) {
    for office in &plan.offices {
        let Ok(store) = open(&office.database) else {
            continue;
        };
        let outgoing = numbers(
            &store,
            "SELECT register_year || '/' || coalesce(register_series, 'general'), code_number FROM documents
              WHERE direction = 'out' AND code_number IS NOT NULL",
        );
        let incoming = numbers(
            &store,
            "SELECT register_year, incoming_number FROM documents
              WHERE direction = 'in' AND incoming_number IS NOT NULL",
        );
        for (index, register, found) in [(4, "out", outgoing), (5, "in", incoming)] {
            for (key, mut list) in found {
                list.sort_unstable();
                row(rows, index).checked += list.len() as u64;
                let expected: Vec<i64> = (1..=list.len() as i64).collect();
                if list != expected {
                    let shown: Vec<i64> = list.iter().copied().take(20).collect();
                    breach(
                        rows,
                        index,
                        format!(
                            "the {} register {key}: numbers {shown:?}… are not 1..{}",
                            office.name,
                            list.len()
                        ),
                    );
                }
                let (year, series) = key.split_once('/').unwrap_or((&key, "general"));
                let name = match (register, series) {
                    ("out", "secret") => "out-secret",
                    _ => register,
                };
                let counter = count(
                    &store,
                    "SELECT last_number FROM register_counters WHERE register = ?1 AND year = ?2",
                    rusqlite::params![name, year.parse::<i64>().unwrap_or(0)],
                );
                if counter != list.len() as i64 {
                    breach(
                        rows,
                        index,
                        format!(
                            "the {} register {key}: counter at {counter}, {} numbers held",
                            office.name,
                            list.len()
                        ),
                    );
                }
            }
        }
    }
}

/// Register key → the numbers held.
fn numbers(store: &Connection, sql: &str) -> BTreeMap<String, Vec<i64>> {
    let mut found: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let Ok(mut statement) = store.prepare(sql) else {
        return found;
    };
    let Ok(rows) = statement.query_map([], |row| {
        let key: rusqlite::types::Value = row.get(0)?;
        let key = match key {
            rusqlite::types::Value::Integer(year) => year.to_string(),
            rusqlite::types::Value::Text(text) => text,
            _ => String::new(),
        };
        Ok((key, row.get::<_, i64>(1)?))
    }) else {
        return found;
    };
    for (key, number) in rows.flatten() {
        found.entry(key).or_default().push(number);
    }
    found
}

fn integrity(plan: &Plan, rows: &mut BTreeMap<&'static str, Row>) {
    let stores = plan
        .offices
        .iter()
        .map(|office| (office.name, office.database.as_path()))
        .chain([("axis", plan.axis_database.as_path())]);
    for (name, database) in stores {
        row(rows, 6).checked += 1;
        let verdict = open(database).and_then(|store| {
            store.query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
        });
        match verdict {
            Ok(verdict) if verdict == "ok" => {}
            Ok(verdict) => breach(rows, 6, format!("the {name}'s store: {verdict}")),
            Err(error) => breach(
                rows,
                6,
                format!("the {name}'s store cannot be read: {error}"),
            ),
        }
    }
}
