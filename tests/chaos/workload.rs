//! The work a chaos run does while the faults land, as the offices would do it through the
//! local API: posting documents, accepting what arrives (03), recalling some of what was
//! sent (13) and agreeing to recalls (15); and another system sending the commune packets it
//! must quarantine. Each actor rides out the faults (a refused connection or a 5xx is tried
//! again, the same request) and writes what the gateways acknowledged into the [`Ledger`],
//! which the invariants are checked against. It never injects a fault.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

use crate::common::axis::{edoc_packet, AxisClient};
use crate::common::exchange::{large_pdf, Rng};
use crate::world::{Office, Plan};
use docgate::edxml::BusinessDocType;
use docgate::vdxp::{header, Operation};

/// How long one request may keep failing before the run counts it as a breach.
const PERSISTENCE: Duration = Duration::from_secs(600);

/// Where the run is: working, draining (no new documents or recalls; the clerks still
/// answer), or stopped.
#[derive(Default)]
pub struct Phase(AtomicU8);

const WORKING: u8 = 0;
const DRAINING: u8 = 1;
const STOPPED: u8 = 2;

impl Phase {
    pub fn drain(&self) {
        self.0.store(DRAINING, Ordering::SeqCst);
    }
    pub fn stop(&self) {
        self.0.store(STOPPED, Ordering::SeqCst);
    }
    fn working(&self) -> bool {
        self.0.load(Ordering::SeqCst) == WORKING
    }
    fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst) == STOPPED
    }
}

/// A document a gateway acknowledged (2xx).
#[derive(Clone, Debug)]
pub struct Sent {
    pub from: usize,
    pub to: usize,
    /// The sender's id.
    pub id: String,
    /// The edXML DocumentId, as the receiver will know it.
    pub document_id: String,
    /// SHA-256 of the bytes posted.
    pub sha256: String,
    /// The document's nominal size (what the workload drew).
    pub size: usize,
    /// The length of the bytes posted.
    pub posted_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecallOutcome {
    /// Not yet handed to the axis: cancelled at the sender, never to arrive.
    Withdrawn,
    /// A recall request (BussinessDocType 1 and status 13) went to the receiver.
    Requested,
}

#[derive(Clone, Debug)]
pub struct Recall {
    pub sent: Sent,
    pub outcome: RecallOutcome,
}

/// What the gateways acknowledged, and what went wrong on the way.
#[derive(Default)]
pub struct Ledger(Mutex<Entries>);

#[derive(Default, Clone)]
pub struct Entries {
    pub sent: Vec<Sent>,
    pub recalls: Vec<Recall>,
    /// The axis's docIds of packets sent to the commune to be quarantined.
    pub quarantine: Vec<String>,
    /// Sends of such packets whose answer was lost (the axis may hold them too).
    pub quarantine_unanswered: usize,
    /// (what, detail) of every breach seen while working.
    pub breaches: Vec<(String, String)>,
    /// Counts of what the actors did (requests retried, statuses set…).
    pub counts: BTreeMap<&'static str, u64>,
}

impl Ledger {
    fn with<T>(&self, change: impl FnOnce(&mut Entries) -> T) -> T {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut entries)
    }

    pub fn snapshot(&self) -> Entries {
        self.with(|entries| entries.clone())
    }

    pub fn breach(&self, what: &str, detail: &str) {
        println!("chaos: BREACH {what}: {detail}");
        self.with(|entries| entries.breaches.push((what.to_owned(), detail.to_owned())));
    }

    fn count(&self, what: &'static str) {
        self.with(|entries| *entries.counts.entry(what).or_default() += 1);
    }
}

/// Starts every actor; they run until `phase` says stop.
pub fn start<'scope>(
    scope: &'scope Scope<'scope, '_>,
    plan: &'scope Plan,
    ledger: &'scope Ledger,
    phase: &'scope Phase,
    seed: u64,
) -> Vec<ScopedJoinHandle<'scope, ()>> {
    let mut rng = Rng::seeded(seed);
    let mut actors = Vec::new();
    for from in 0..plan.offices.len() {
        let to = (from + 1) % plan.offices.len();
        let seeds = [rng.next_u64(), rng.next_u64()];
        actors.push(scope.spawn(move || poster(plan, from, to, ledger, phase, seeds[0])));
        actors.push(scope.spawn(move || recaller(plan, from, ledger, phase, seeds[1])));
        actors.push(scope.spawn(move || clerk(plan, from, ledger, phase)));
    }
    let seed = rng.next_u64();
    actors.push(scope.spawn(move || intruder(plan, ledger, phase, seed)));
    actors
}

fn api_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

/// Sleeps `duration` in short steps; false when the run stops meanwhile.
fn pause(phase: &Phase, duration: Duration) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if phase.stopped() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    true
}

/// A size between 1 KB and 20 MB: mostly small, as office letters are.
fn document_size(rng: &mut Rng) -> usize {
    let (low, high) = match rng.below(100) {
        0..=79 => (1 << 10, 64 << 10),
        80..=96 => (64 << 10, 2 << 20),
        _ => (2 << 20, 20 << 20),
    };
    low + rng.below((high - low) as u64) as usize
}

/// Posts documents from `from` to `to` every second or two until draining starts.
fn poster(plan: &Plan, from: usize, to: usize, ledger: &Ledger, phase: &Phase, seed: u64) {
    let mut rng = Rng::seeded(seed);
    let (office, receiver) = (&plan.offices[from], &plan.offices[to]);
    let client = api_client();
    let payloads = plan.dir.join(format!("payloads-{}", office.name));
    std::fs::create_dir_all(&payloads).expect("payload dir");
    let mut index = 0;
    while phase.working() {
        let size = document_size(&mut rng);
        let payload = if office.seals {
            leader_signed_pdf(plan, &payloads, size, rng.next_u64(), index)
        } else {
            large_pdf(size, rng.next_u64())
        };
        let subject = format!("chaos {} #{index} ({size} bytes)", office.name);
        let key = format!("chaos-{}-{index}", office.name);
        let meta = json!({
            "to": [receiver.organ_id], "subject": subject,
            "type": {"code": 1, "name": "Công văn"}, "code_number": null,
            "code_notation": "UBND-VP",
            "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
            "priority": 0
        });
        if let Some(body) = post_until_answered(&client, office, &meta, &payload, &key, ledger) {
            let field = |name: &str| body[name].as_str().map(str::to_owned);
            match (field("id"), field("document_id")) {
                (Some(id), Some(document_id)) => ledger.with(|entries| {
                    entries.sent.push(Sent {
                        from,
                        to,
                        id,
                        document_id,
                        sha256: crate::common::sha256_hex(&payload),
                        size,
                        posted_len: payload.len(),
                    })
                }),
                _ => ledger.breach("intake", &format!("{key}: an answer without ids: {body}")),
            }
        }
        index += 1;
        if !pause(phase, Duration::from_millis(200 + rng.below(1800))) {
            return;
        }
    }
}

/// A valid PDF of about `size` bytes signed by the leader (`docgate sign`).
fn leader_signed_pdf(plan: &Plan, dir: &Path, size: usize, seed: u64, index: usize) -> Vec<u8> {
    let pdf = crate::common::large_valid_pdf(size, seed);
    let name = format!("document-{index}");
    let signed = crate::common::signing::leader_signed(&plan.leader_key, &pdf, dir, &name);
    let _ = std::fs::remove_file(dir.join(format!("{name}.in.pdf")));
    let _ = std::fs::remove_file(dir.join(format!("{name}.pdf")));
    signed
}

/// `POST /api/v1/documents` until the gateway answers 2xx (the body) or 4xx (a breach:
/// the document is valid). Transport failures and 5xx (restarting, disk full) are retried
/// with the same Idempotency-Key.
fn post_until_answered(
    client: &Client,
    office: &Office,
    meta: &Value,
    payload: &[u8],
    key: &str,
    ledger: &Ledger,
) -> Option<Value> {
    let started = Instant::now();
    loop {
        let form = multipart::Form::new().text("meta", meta.to_string()).part(
            "file",
            multipart::Part::bytes(payload.to_vec())
                .file_name("van-ban.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
        let answer = client
            .post(format!("{}/api/v1/documents", office.url))
            .bearer_auth(&office.token)
            .header("Idempotency-Key", key)
            .multipart(form)
            .send();
        match answer {
            Ok(response) if response.status().is_success() => {
                ledger.count("posts acknowledged (2xx)");
                return response.json().ok();
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                let body = response.text().unwrap_or_default();
                ledger.breach("intake", &format!("{key} refused: {status} {body}"));
                return None;
            }
            Ok(response) => ledger.count(match response.status().as_u16() {
                503 => "posts answered 503 (starting or stopping), retried",
                507 => "posts answered 507 (storage full), retried",
                _ => "posts answered another 5xx, retried",
            }),
            Err(_) => ledger.count("posts without an answer, retried"),
        }
        if started.elapsed() > PERSISTENCE {
            ledger.breach("intake", &format!("{key} not accepted in {PERSISTENCE:?}"));
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Recalls one of this office's documents every 10 to 30 seconds.
fn recaller(plan: &Plan, from: usize, ledger: &Ledger, phase: &Phase, seed: u64) {
    let mut rng = Rng::seeded(seed);
    let office = &plan.offices[from];
    let client = api_client();
    let mut recalled = BTreeSet::new();
    loop {
        if !pause(phase, Duration::from_millis(10_000 + rng.below(20_000))) || !phase.working() {
            return;
        }
        let candidates: Vec<Sent> = ledger.with(|entries| {
            entries
                .sent
                .iter()
                .filter(|sent| sent.from == from && !recalled.contains(&sent.id))
                .cloned()
                .collect()
        });
        if candidates.is_empty() {
            continue;
        }
        let sent = candidates[rng.below(candidates.len() as u64) as usize].clone();
        recalled.insert(sent.id.clone());
        let body = json!({"reason": "Thu hồi để sửa số liệu (chaos)"});
        let path = format!("{}/api/v1/documents/{}/recall", office.url, sent.id);
        let outcome = retry_json(
            &client,
            &path,
            &office.token,
            &body,
            ledger,
            |status, answer| match (status, answer["outcome"].as_str(), answer["error"].as_str()) {
                (202, Some("withdrawn"), _) | (409, _, Some("already_cancelled")) => {
                    Some(Ok(RecallOutcome::Withdrawn))
                }
                (202, Some("requested"), _) | (409, _, Some("already_recalled")) => {
                    Some(Ok(RecallOutcome::Requested))
                }
                (500..=599, _, _) => None,
                _ => Some(Err(format!("{status} {answer}"))),
            },
        );
        match outcome {
            Some(Ok(outcome)) => {
                ledger.count("recalls made");
                ledger.with(|entries| entries.recalls.push(Recall { sent, outcome }));
            }
            Some(Err(answer)) => {
                ledger.breach("recall", &format!("{}: refused: {answer}", sent.id))
            }
            None => ledger.breach("recall", &format!("{}: never answered", sent.id)),
        }
    }
}

/// POSTs `body` until `decide` returns `Some` for an answer (None: try again).
fn retry_json<T>(
    client: &Client,
    url: &str,
    token: &str,
    body: &Value,
    ledger: &Ledger,
    decide: impl Fn(u16, &Value) -> Option<T>,
) -> Option<T> {
    let started = Instant::now();
    while started.elapsed() < PERSISTENCE {
        let answer = client.post(url).bearer_auth(token).json(body).send();
        if let Ok(response) = answer {
            let status = response.status().as_u16();
            let value: Value = response.json().unwrap_or(Value::Null);
            if let Some(decided) = decide(status, &value) {
                return Some(decided);
            }
        }
        ledger.count("clerk requests retried");
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

/// The clerk of office `at`: accepts (03) each arrived document, and agrees (15) to each
/// recall request, as a clerk working through the inbox would. What needs doing is read
/// from the store (read-only); what is done goes through the API.
fn clerk(plan: &Plan, at: usize, ledger: &Ledger, phase: &Phase) {
    let office = &plan.offices[at];
    let client = api_client();
    // A document's statuses at least a second apart: the sender orders a recipient's
    // statuses by their one-second timestamps.
    let mut last_set: BTreeMap<String, Instant> = BTreeMap::new();
    while pause(phase, Duration::from_millis(500)) {
        let Ok(inbox) = inbox(&office.database) else {
            continue;
        };
        for (id, code) in inbox {
            if phase.stopped() {
                return;
            }
            if last_set
                .get(&id)
                .is_some_and(|at| at.elapsed() < Duration::from_millis(1100))
            {
                continue;
            }
            let (body, counted) = match code {
                "03" => (
                    json!({"code": "03"}),
                    "documents accepted by the clerk (03)",
                ),
                _ => (
                    json!({"code": "15", "description": "Đồng ý thu hồi"}),
                    "recalls agreed by the clerk (15)",
                ),
            };
            let path = format!("{}/api/v1/documents/{id}/status", office.url);
            let answer = client
                .post(&path)
                .bearer_auth(&office.token)
                .json(&body)
                .send();
            last_set.insert(id.clone(), Instant::now());
            match answer {
                Ok(response) if response.status().as_u16() == 202 => ledger.count(counted),
                Ok(response) if response.status().is_client_error() => {
                    // The store moved on meanwhile (an answer lost in a crash): the inbox
                    // read next time says what is left.
                    ledger.count("clerk statuses refused as already done (409), re-read");
                }
                _ => ledger.count("clerk requests retried"),
            }
        }
    }
}

/// The incoming documents waiting for the clerk, with the status to set: 03 for an
/// arrived one, 15 for one with a recall request not answered.
fn inbox(database: &Path) -> rusqlite::Result<Vec<(String, &'static str)>> {
    let connection = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    connection.busy_timeout(Duration::from_secs(2))?;
    let mut todo = Vec::new();
    let mut arrived = connection.prepare(
        "SELECT id FROM documents WHERE direction = 'in' AND state <> 'quarantined'
           AND cancelled_at IS NULL AND business_status = '01' ORDER BY id",
    )?;
    for id in arrived.query_map([], |row| row.get::<_, String>(0))? {
        todo.push((id?, "03"));
    }
    let mut recalls = connection.prepare(
        "SELECT DISTINCT d.id FROM business_requests r JOIN documents d ON d.id = r.document
          WHERE r.direction = 'received' AND r.kind = 'recall' AND r.answer IS NULL
            AND d.cancelled_at IS NULL ORDER BY d.id",
    )?;
    for id in recalls.query_map([], |row| row.get::<_, String>(0))? {
        todo.push((id?, "15"));
    }
    Ok(todo)
}

/// Another system (the district's credentials, straight to the axis) sends the commune a
/// recall for a document it never sent, every 10 to 30 seconds: a packet the commune must
/// keep in quarantine, never drop.
fn intruder(plan: &Plan, ledger: &Ledger, phase: &Phase, seed: u64) {
    let mut rng = Rng::seeded(seed);
    let (district, commune) = (&plan.offices[0], &plan.offices[1]);
    let client = AxisClient::new(&plan.axis_url, &plan.axis_ca, plan.intruder.clone());
    let mut number = 900_000;
    loop {
        if !pause(phase, Duration::from_millis(10_000 + rng.below(20_000))) || !phase.working() {
            return;
        }
        number += 1;
        let packet = edoc_packet(
            &district.organ_id,
            &[&commune.organ_id],
            number,
            "chaos quarantine",
            Some(BusinessDocType::Recall),
        );
        let started = Instant::now();
        loop {
            match send_edoc(&client, &packet) {
                Ok(Some(doc_id)) => {
                    ledger.with(|entries| entries.quarantine.push(doc_id));
                    break;
                }
                Ok(None) | Err(_) if started.elapsed() < PERSISTENCE && !phase.stopped() => {
                    ledger.with(|entries| entries.quarantine_unanswered += 1);
                    std::thread::sleep(Duration::from_millis(500));
                }
                _ => {
                    ledger.breach("quarantine", "the axis never took a packet to quarantine");
                    break;
                }
            }
        }
    }
}

/// `sendEdoc` of an edoc packet: the axis's docId when it took it, `None` when it answered
/// otherwise, `Err` when nothing answered.
fn send_edoc(client: &AxisClient, packet: &[u8]) -> Result<Option<String>, reqwest::Error> {
    let system_id = client.credentials.system_id.clone();
    let hash = crate::common::sha256_hex(packet);
    let answer = client.try_call(
        Operation::SendEdoc,
        &[
            (header::FROM, &system_id),
            (header::SERVICE_TYPE, header::SERVICE_TYPE_EDOC),
            (header::MESSAGE_TYPE, "edoc"),
            (header::HASH_FILE, &hash),
        ],
        Some(packet.to_vec()),
    )?;
    if answer.status != 200 {
        return Ok(None);
    }
    let parsed: Result<docgate::vdxp::AxisAnswer, _> = serde_json::from_slice(&answer.body);
    Ok(parsed
        .ok()
        .filter(|answer| answer.status == "OK")
        .and_then(|answer| answer.doc_id))
}
