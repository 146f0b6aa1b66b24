//! The clerk's writes survive SIGKILL at any instant. The district sends documents to the
//! commune through the reference axis (three real processes); once they have all arrived,
//! several clerks (client threads) on the commune accept them (03), pass them on and
//! complete them (04, 05, 06) or refuse a few (02, with a reason), while this test
//! SIGKILLs and restarts the commune gateway at random instants. A client whose request
//! got no answer retries it; a retry of a status that was in fact applied answers 409
//! `illegal_transition` (or, for 04, which may follow itself, is applied again).
//!
//! Afterwards, with the commune up and the link drained:
//!
//! - every status a client got a 202 for is recorded, each status the clients asked for is
//!   recorded once (a retried 04 at most as often as it was tried), in the order asked;
//! - every accepted document has exactly one số đến; the numbers of the year are exactly
//!   1..M (M accepted documents), a number answered in a 202 is the one kept, and the
//!   register's counter stands at M (no number was burnt by a crash);
//! - the incoming register (`GET /api/v1/registers/in`) lists exactly those documents, in
//!   số đến order;
//! - every status the commune recorded reached the district exactly once and in order
//!   (the district's `recipients[].statuses` equal the commune's sent statuses);
//! - `PRAGMA integrity_check` is ok on both stores, and neither side quarantined a packet.
//!
//! `DOCGATE_CLERK_CRASH_DOCS` changes the number of documents (default 200: enough for the
//! same-second retries that once recorded a status twice); the seed is printed and
//! `DOCGATE_CLERK_CRASH_SEED` replays a run.
#![allow(clippy::disallowed_methods)] // Tests inspect the databases independently, read-only.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::exchange::{documents, wait_for, Exchange};
use common::registers::{seed_from_env, Api, Rng};
use common::GatewayProcess;
use serde_json::{json, Value};

/// Clerks working on the commune at once.
const CLIENTS: usize = 4;
/// Two statuses of one document are set at least this far apart, as a clerk would: the
/// district orders a recipient's statuses by the packets' one-second timestamps (then by
/// arrival), and packets travel a few at a time (see `business_queries::recipients`).
const PACE: Duration = Duration::from_millis(1100);
/// Packets in a gateway's outbox not yet confirmed by the axis.
const OUTBOX_WAITING: &str = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')";
/// How long one status may take to get through the kills.
const STATUS_DEADLINE: Duration = Duration::from_secs(60);

/// One status a clerk sets.
#[derive(Clone, Debug)]
struct Step {
    code: &'static str,
    description: String,
}

/// One incoming document and what the clerks do with it.
#[derive(Clone, Debug)]
struct Plan {
    index: usize,
    /// The district's id of the document.
    outgoing: String,
    /// The commune's id of it.
    incoming: String,
    steps: Vec<Step>,
}

/// What the clients saw for one step.
#[derive(Clone, Debug, Default)]
struct StepRecord {
    attempts: usize,
    accepted: usize,
    /// Attempts that got no answer (the gateway died under them).
    unanswered: usize,
    /// The số đến a 202 to 03 answered.
    incoming_number: Option<u64>,
}

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .year()
}

fn meta(to: &str, subject: &str) -> Value {
    json!({
        "to": [to],
        "subject": subject,
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0,
        "due_date": "2026-12-31"
    })
}

/// What the clerks will do with document `index`: mostly 03 then some of 04/05/06
/// (sometimes 04 twice, a reassignment), a few refused with 02.
fn steps(index: usize, rng: &mut Rng) -> Vec<Step> {
    let step = |code: &'static str, what: &str| Step {
        code,
        description: format!("{what} (văn bản {index})"),
    };
    if rng.below(100) < 12 {
        return vec![step("02", "Gửi nhầm cơ quan")];
    }
    let mut steps = vec![step("03", "Đã tiếp nhận")];
    let further = rng.below(4);
    if further >= 1 {
        steps.push(step("04", "Giao chuyên viên A"));
        if rng.below(4) == 0 {
            steps.push(step("04", "Giao lại chuyên viên B"));
        }
    }
    if further >= 2 {
        steps.push(step("05", "Đang xử lý"));
    }
    if further >= 3 {
        steps.push(step("06", "Đã xử lý xong"));
    }
    steps
}

#[test]
fn clerk_statuses_survive_sigkill_at_any_instant() {
    let total: usize = std::env::var("DOCGATE_CLERK_CRASH_DOCS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let seed = seed_from_env("DOCGATE_CLERK_CRASH_SEED");
    println!("clerk crash: {total} documents, DOCGATE_CLERK_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    exchange.set_gateway_option("axis", "retry_max_ms", "500");
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune_dir = exchange.gateway("commune");
    let mut commune = commune_dir.start();
    let commune_id = exchange.organ_id("commune");

    // The district sends; the commune receives them all and sends 01 back.
    let mut outgoing = BTreeMap::new();
    for index in 0..total {
        let subject = format!("clerk crash {index}");
        let (code, body) = district.post_document(
            &meta(&commune_id, &subject),
            &[(
                "van-ban.pdf",
                "application/pdf",
                common::sample_pdf(&subject),
            )],
            Some(&format!("clerk-crash-{index}")),
        );
        assert_eq!(code, 202, "{body}");
        outgoing.insert(subject, body["id"].as_str().expect("id").to_string());
    }
    let incoming: BTreeMap<String, String> = wait_for(Duration::from_secs(60), || {
        let arrived = documents(&commune, "in");
        (arrived.len() >= total).then(|| {
            arrived
                .iter()
                .map(|document| {
                    (
                        document["subject"].as_str().expect("subject").to_string(),
                        document["id"].as_str().expect("id").to_string(),
                    )
                })
                .collect()
        })
    })
    .expect("every document arrived at the commune");
    assert_eq!(
        incoming.len(),
        total,
        "one incoming document per document sent"
    );
    wait_for(Duration::from_secs(60), || {
        outgoing
            .values()
            .all(|id| recipient_statuses(&district, id, &commune_id).len() == 1)
            .then_some(())
    })
    .expect("the district has every status 01");
    println!(
        "clerk crash: {total} documents delivered with their 01 in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let plans: Vec<Plan> = (0..total)
        .map(|index| {
            let subject = format!("clerk crash {index}");
            Plan {
                index,
                outgoing: outgoing[&subject].clone(),
                incoming: incoming
                    .get(&subject)
                    .unwrap_or_else(|| panic!("{subject} did not arrive"))
                    .clone(),
                steps: steps(index, &mut rng),
            }
        })
        .collect();

    // The clerks work while the commune is SIGKILLed and restarted at random instants.
    let api = Api::new(&commune_dir.url, &commune_dir.token);
    let records: Mutex<Vec<Vec<StepRecord>>> = Mutex::new(
        plans
            .iter()
            .map(|plan| vec![StepRecord::default(); plan.steps.len()])
            .collect(),
    );
    let unanswered = AtomicUsize::new(0);
    let in_flight = AtomicUsize::new(0);
    let clerks_started = Instant::now();
    let mut kills = 0;
    let mut kills_mid_request = 0;
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let mine: Vec<&Plan> = plans.iter().skip(client).step_by(CLIENTS).collect();
                let (api, records, unanswered, in_flight) =
                    (&api, &records, &unanswered, &in_flight);
                scope.spawn(move || clerk(api, &mine, records, unanswered, in_flight))
            })
            .collect();
        loop {
            let until = Instant::now() + Duration::from_millis(100 + rng.below(600));
            while Instant::now() < until && !clients.iter().all(|client| client.is_finished()) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if clients.iter().all(|client| client.is_finished()) {
                break;
            }
            // Every other kill waits for a request in flight (the clerks pause between two
            // statuses of a document), then lands a few milliseconds into it.
            if rng.below(2) == 0 {
                let until = Instant::now() + Duration::from_secs(1);
                while in_flight.load(Ordering::SeqCst) == 0 && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(rng.below(15)));
            }
            if in_flight.load(Ordering::SeqCst) > 0 {
                kills_mid_request += 1;
            }
            commune.kill();
            kills += 1;
            // Sometimes stay down a while, so clients meet a refused connection too.
            if rng.below(3) == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(400)));
            }
            commune = commune_dir.start();
        }
        for client in clients {
            client.join().expect("clerk thread");
        }
    });
    // A few more kills while the status packets are still leaving (between "sent" and
    // "queued" a restart resends the same bytes, which the axis answers with its first
    // answer).
    let commune_database = commune_dir.database();
    let mut kills_while_sending = 0;
    while kills_while_sending < 3 && count(&commune_database, OUTBOX_WAITING) > 0 {
        std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
        commune.kill();
        kills += 1;
        kills_while_sending += 1;
        commune = commune_dir.start();
    }
    let records = records.into_inner().expect("records");
    let unanswered = unanswered.load(Ordering::SeqCst);
    println!(
        "clerk crash: clerks done in {:.1} s through {kills} SIGKILLs ({kills_mid_request} with a clerk's request in flight, {kills_while_sending} while packets were leaving; {unanswered} requests unanswered and retried)",
        clerks_started.elapsed().as_secs_f64()
    );
    assert!(kills >= 3, "too few kills to mean anything ({kills})");
    assert!(
        kills_mid_request > 0 && unanswered > 0,
        "no kill landed while a request was in flight"
    );

    // Drained: nothing waits in the commune's outbox or at the axis, and the district holds
    // what the commune sent. Only then is "exactly once" checked: nothing more can come.
    let axis_database = exchange
        .axis
        .config
        .parent()
        .expect("axis dir")
        .join("state")
        .join("axis.sqlite3");
    let district_database = exchange.gateway("district").database();
    let mut last_difference = String::new();
    let drained = wait_for(Duration::from_secs(60), || {
        let waiting = count(&commune_database, OUTBOX_WAITING)
            + count(
                &axis_database,
                "SELECT count(*) FROM deliveries WHERE state = 'processing'",
            );
        if waiting > 0 {
            last_difference = format!("{waiting} packets still on their way");
            return None;
        }
        for plan in &plans {
            let sent = sent_statuses(&commune, &plan.incoming);
            let received = recipient_statuses(&district, &plan.outgoing, &commune_id);
            if sent != received {
                last_difference = format!(
                    "document {}: the commune sent {sent:?}, the district has {received:?}",
                    plan.index
                );
                return None;
            }
        }
        Some(())
    });
    assert!(drained.is_some(), "never drained: {last_difference}");

    // What the commune recorded is what the clerks asked, each once, in order.
    let year = current_year();
    let mut numbered: Vec<(u64, String)> = Vec::new();
    for (plan, record) in plans.iter().zip(&records) {
        let view = document(&commune, &plan.incoming);
        let sent = sent_statuses(&commune, &plan.incoming);
        check_recorded(plan, record, &sent);
        assert_eq!(
            view["business_status"],
            plan.steps.last().expect("a step").code,
            "document {}",
            plan.index
        );
        let accepted = plan.steps[0].code == "03";
        match (accepted, view["incoming_number"].as_u64()) {
            (true, Some(number)) => {
                if let Some(answered) = record[0].incoming_number {
                    assert_eq!(
                        number, answered,
                        "document {}: the số đến answered is not the one kept",
                        plan.index
                    );
                }
                numbered.push((number, plan.incoming.clone()));
            }
            (true, None) => panic!("document {} accepted without a số đến", plan.index),
            (false, Some(number)) => {
                panic!("document {} refused but holds số đến {number}", plan.index)
            }
            (false, None) => {}
        }
    }
    numbered.sort();
    let accepted = numbered.len();
    assert!(accepted > 0);
    let numbers: Vec<u64> = numbered.iter().map(|(number, _)| *number).collect();
    assert_eq!(
        numbers,
        (1..=accepted as u64).collect::<Vec<_>>(),
        "số đến are not exactly 1..{accepted}"
    );
    // The same, read independently from the database: one number per document, no
    // other row numbered, the counter where the register stopped.
    let stored = incoming_numbers(&commune_database, year);
    assert_eq!(
        stored, numbered,
        "the database's số đến differ from the API's"
    );
    assert_eq!(
        count(
            &commune_database,
            &format!(
                "SELECT last_number FROM register_counters WHERE register = 'in' AND year = {year}"
            ),
        ),
        accepted as i64,
        "the incoming register's counter burnt or reused a number"
    );

    // The incoming register lists exactly those, in số đến order.
    let (status, register) = commune.get_json(&format!("/api/v1/registers/in?year={year}"));
    assert_eq!(status, 200, "{register}");
    let listed: Vec<(u64, String)> = register["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["incoming_number"].as_u64().expect("incoming_number"),
                entry["id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    assert_eq!(listed, numbered, "the incoming register");

    // Both stores are sound; nothing was quarantined on either side.
    for (name, database) in [
        ("commune", &commune_database),
        ("district", &district_database),
    ] {
        assert_eq!(common::integrity_check(database), "ok", "{name}");
        assert_eq!(
            count(
                database,
                "SELECT count(*) FROM incoming_deliveries WHERE outcome = 'quarantined'"
            ),
            0,
            "{name} quarantined a packet"
        );
        assert_eq!(
            count(
                database,
                "SELECT count(*) FROM documents WHERE state = 'quarantined'"
            ),
            0,
            "{name} holds a quarantined document"
        );
        assert_eq!(
            count(
                database,
                "SELECT count(*) FROM outbox WHERE state <> 'queued'"
            ),
            0,
            "{name} has a packet that did not reach the axis"
        );
    }
    let statuses: usize = plans
        .iter()
        .map(|plan| sent_statuses(&commune, &plan.incoming).len())
        .sum();
    println!(
        "clerk crash: {accepted} accepted (số đến 1..{accepted}), {} refused, {statuses} statuses delivered once each; {:.1} s in all",
        total - accepted,
        started.elapsed().as_secs_f64()
    );
    drop(commune);
}

/// One clerk: phase by phase over its documents (every first step, then every second…),
/// at least [`PACE`] between two statuses of one document.
fn clerk(
    api: &Api,
    plans: &[&Plan],
    records: &Mutex<Vec<Vec<StepRecord>>>,
    unanswered: &AtomicUsize,
    in_flight: &AtomicUsize,
) {
    let mut last_attempt: BTreeMap<usize, Instant> = BTreeMap::new();
    let phases = plans.iter().map(|plan| plan.steps.len()).max().unwrap_or(0);
    for phase in 0..phases {
        for plan in plans {
            let Some(step) = plan.steps.get(phase) else {
                continue;
            };
            if let Some(last) = last_attempt.get(&plan.index) {
                let ready = *last + PACE;
                let now = Instant::now();
                if ready > now {
                    std::thread::sleep(ready - now);
                }
            }
            set_status(api, plan, phase, step, records, unanswered, in_flight);
            last_attempt.insert(plan.index, Instant::now());
        }
    }
}

/// Sets one status, retrying through kills until the gateway answers.
fn set_status(
    api: &Api,
    plan: &Plan,
    phase: usize,
    step: &Step,
    records: &Mutex<Vec<Vec<StepRecord>>>,
    unanswered: &AtomicUsize,
    in_flight: &AtomicUsize,
) {
    let path = format!("/api/v1/documents/{}/status", plan.incoming);
    let body = json!({"code": step.code, "description": step.description});
    let deadline = Instant::now() + STATUS_DEADLINE;
    let record = |update: &dyn Fn(&mut StepRecord)| {
        update(&mut records.lock().expect("records")[plan.index][phase]);
    };
    loop {
        record(&|step_record| step_record.attempts += 1);
        in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = api.try_post_json(&path, &body);
        in_flight.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Ok((202, answer)) => {
                assert_eq!(answer["code"], step.code, "{answer}");
                let number = answer["incoming_number"].as_u64();
                record(&|step_record| {
                    step_record.accepted += 1;
                    if step.code == "03" {
                        step_record.incoming_number = number;
                    }
                });
                return;
            }
            // A retry of a status the lost attempt had applied.
            Ok((409, answer))
                if answer["error"]["code"] == "illegal_transition"
                    && records.lock().expect("records")[plan.index][phase].unanswered > 0 =>
            {
                return
            }
            Ok((status, answer)) => panic!(
                "document {} status {}: {status} {answer}",
                plan.index, step.code
            ),
            Err(_) => {
                unanswered.fetch_add(1, Ordering::SeqCst);
                record(&|step_record| step_record.unanswered += 1);
                assert!(
                    Instant::now() < deadline,
                    "document {} status {} never got through",
                    plan.index,
                    step.code
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Checks the commune's sent statuses against what the clerks asked: 01 first, then the
/// steps in order, each once. A 04 (which may follow itself) may be recorded again when
/// its answer was lost and it was retried: at most as often as it was tried, and at least
/// as often as it was answered 202, less the retries that found it recorded already.
fn check_recorded(plan: &Plan, record: &[StepRecord], sent: &[(String, String)]) {
    let context = || {
        format!(
            "document {}: recorded {sent:?}, asked {:?}",
            plan.index, plan.steps
        )
    };
    assert_eq!(
        sent.first().map(|(code, _)| code.as_str()),
        Some("01"),
        "{}",
        context()
    );
    let mut recorded = sent[1..].iter().peekable();
    for (step, step_record) in plan.steps.iter().zip(record) {
        let mut times = 0;
        while recorded.peek().is_some_and(|(code, description)| {
            code == step.code && *description == step.description
        }) {
            recorded.next();
            times += 1;
        }
        assert!(
            times
                >= step_record
                    .accepted
                    .saturating_sub(step_record.unanswered)
                    .max(1),
            "{}: step {} answered 202 {} times, recorded {times} times",
            context(),
            step.code,
            step_record.accepted
        );
        let most = if step.code == "04" {
            step_record.attempts
        } else {
            1
        };
        assert!(
            times <= most,
            "{}: step {} recorded {times} times ({} attempts)",
            context(),
            step.code,
            step_record.attempts
        );
    }
    assert!(
        recorded.next().is_none(),
        "{}: a status nobody asked for",
        context()
    );
}

fn document(gateway: &GatewayProcess, id: &str) -> Value {
    let (status, document) = gateway.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(status, 200, "{document}");
    document
}

/// `(code, description)` of the statuses the commune sent about an incoming document.
fn sent_statuses(gateway: &GatewayProcess, id: &str) -> Vec<(String, String)> {
    document(gateway, id)["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .filter(|status| status["direction"] == "sent")
        .map(code_and_description)
        .collect()
}

/// `(code, description)` of the statuses `organ` sent about our outgoing document `id`.
fn recipient_statuses(gateway: &GatewayProcess, id: &str, organ: &str) -> Vec<(String, String)> {
    document(gateway, id)["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|recipient| recipient["organ_id"] == organ)
        .and_then(|recipient| recipient["statuses"].as_array())
        .map(|statuses| statuses.iter().map(code_and_description).collect())
        .unwrap_or_default()
}

fn code_and_description(status: &Value) -> (String, String) {
    (
        status["code"].as_str().expect("code").to_string(),
        status["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The single integer a query answers (0 when it answers no row), read-only.
fn count(database: &Path, query: &str) -> i64 {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open database read-only");
    connection
        .query_row(query, [], |row| row.get(0))
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(0),
            other => Err(other),
        })
        .expect("query")
}

/// `(số đến, id)` of every incoming document holding a số đến (in any year), by number;
/// each must be in `year`'s register.
fn incoming_numbers(database: &Path, year: i32) -> Vec<(u64, String)> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open database read-only");
    let mut statement = connection
        .prepare(
            "SELECT incoming_number, id, register_year FROM documents
             WHERE incoming_number IS NOT NULL
             ORDER BY incoming_number, id",
        )
        .expect("prepare");
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<i32>>(2)?,
            ))
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows.into_iter()
        .map(|(number, id, register_year)| {
            assert_eq!(
                register_year,
                Some(year),
                "{id} numbered {number} in another year"
            );
            (u64::try_from(number).expect("a positive số đến"), id)
        })
        .collect()
}
