//! The scheduler against an in-memory fake axis: incoming deliveries are committed before
//! they are acknowledged, unusable ones are quarantined and acknowledged `fail`, and the
//! automatic status 01 leaves through the sender; the agency directory is refreshed, and an
//! empty answer keeps the cached one.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::edxml::{
    write_packet, EdocHeader, Header, Limits, Organization, OutgoingAttachment, ResponseFor,
    StatusCode, StatusHeader,
};
use crate::store::{DeliveryOutcome, Direction, ListFilter, Store};
use crate::system::clock::SystemClock;
use crate::system::shutdown::Shutdown;
use crate::vdxp::{MessageType, TransportStatus};

type Ack = (String, TransportStatus, Option<DeliveryOutcome>);

struct Inner {
    store: Store,
    deliveries: Mutex<Vec<(String, MessageType, Vec<u8>)>>,
    acks: Mutex<Vec<Ack>>,
    sent: Mutex<Vec<MessageType>>,
    /// The answers to `getAgenciesList`, in turn; then an empty directory.
    agencies: Mutex<VecDeque<Result<Vec<Agency>, AxisError>>>,
    agency_calls: Mutex<u32>,
}

#[derive(Clone)]
struct FakeAxis(Arc<Inner>);

impl AxisClient for FakeAxis {
    async fn send_packet(&self, packet: &OutgoingPacket) -> Result<String, AxisError> {
        let mut sent = self.0.sent.lock().expect("lock");
        sent.push(packet.kind);
        Ok(format!("AX-{}", sent.len()))
    }

    async fn list_received(&self, kind: MessageType) -> Result<Vec<Delivery>, AxisError> {
        let acked: Vec<String> = self
            .0
            .acks
            .lock()
            .expect("lock")
            .iter()
            .map(|a| a.0.clone())
            .collect();
        Ok(self
            .0
            .deliveries
            .lock()
            .expect("lock")
            .iter()
            .filter(|(id, k, _)| *k == kind && !acked.contains(id))
            .map(|(id, kind, bytes)| Delivery {
                id: id.clone(),
                kind: *kind,
                from: "000.00.00.H41".into(),
                size: Some(bytes.len() as u64),
            })
            .collect())
    }

    async fn fetch(
        &self,
        delivery: &Delivery,
        destination: &std::path::Path,
        _max_bytes: u64,
    ) -> Result<FetchedPacket, AxisError> {
        let delivery_id = &delivery.id;
        let bytes = self
            .0
            .deliveries
            .lock()
            .expect("lock")
            .iter()
            .find(|(id, _, _)| id == delivery_id)
            .map(|(_, _, bytes)| bytes.clone())
            .ok_or_else(|| AxisError::transient("getEdoc", "no such delivery"))?;
        std::fs::write(destination, &bytes).expect("write");
        Ok(FetchedPacket {
            size: bytes.len() as u64,
            sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()),
        })
    }

    async fn acknowledge(
        &self,
        delivery_id: &str,
        status: TransportStatus,
    ) -> Result<(), AxisError> {
        // What the store holds at the moment of the acknowledgement.
        let committed = self.0.store.incoming_delivery(delivery_id).expect("lookup");
        self.0
            .acks
            .lock()
            .expect("lock")
            .push((delivery_id.to_string(), status, committed));
        Ok(())
    }

    async fn wait_for(&self, _seconds: u64) -> Result<u64, AxisError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(0)
    }

    async fn list_sent(&self, _doc_id: Option<&str>) -> Result<Vec<SentDelivery>, AxisError> {
        Ok(Vec::new())
    }

    async fn list_agencies(&self) -> Result<Vec<Agency>, AxisError> {
        *self.0.agency_calls.lock().expect("lock") += 1;
        self.0
            .agencies
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

fn agency(code: &str, name: &str) -> Agency {
    Agency {
        code: code.into(),
        name: name.into(),
        system_id: code.into(),
    }
}

fn fake_axis(store: &Store, agencies: Vec<Result<Vec<Agency>, AxisError>>) -> FakeAxis {
    FakeAxis(Arc::new(Inner {
        store: store.clone(),
        deliveries: Mutex::new(Vec::new()),
        acks: Mutex::new(Vec::new()),
        sent: Mutex::new(Vec::new()),
        agencies: Mutex::new(agencies.into()),
        agency_calls: Mutex::new(0),
    }))
}

fn settings() -> SyncSettings {
    SyncSettings {
        organ: organization("000.00.01.H41"),
        long_poll_secs: 1,
        retry_min_ms: 10,
        retry_max_ms: 50,
        disk_quota_bytes: u64::MAX,
        limits: Limits::default(),
        signatures: None,
        sealing: None,
    }
}

fn packet(header: &Header, attachments: &[OutgoingAttachment]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_packet(header, attachments, &mut bytes).expect("packet");
    bytes
}

fn organization(organ_id: &str) -> Organization {
    Organization {
        organ_id: organ_id.into(),
        ..Organization::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_committed_before_they_are_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let edoc = Header::Edoc(EdocHeader {
        from: organization("000.00.00.H41"),
        to: vec![organization("000.00.01.H41")],
        document_id: Some("000.00.00.H41,2026/11/20,07/UBND".into()),
        subject: Some("Về việc thử nghiệm".into()),
        ..EdocHeader::default()
    });
    let attachment =
        OutgoingAttachment::from_reader("a.pdf", Box::new(Cursor::new(b"%PDF-1.4 test".to_vec())));
    let status = Header::Status(StatusHeader {
        from: organization("000.00.00.H41"),
        response_for: ResponseFor {
            document_id: Some("000.00.01.H41,2026/01/01,01/NOPE".into()),
            ..ResponseFor::default()
        },
        staff_info: Default::default(),
        status_code: StatusCode::Accepted,
        description: None,
        timestamp: None,
    });
    let fake = fake_axis(
        &store,
        vec![Ok(vec![agency("000.00.00.H41", "UBND tỉnh Thử Nghiệm")])],
    );
    *fake.0.deliveries.lock().expect("lock") = vec![
        ("E1".into(), MessageType::Edoc, packet(&edoc, &[attachment])),
        ("E2".into(), MessageType::Edoc, b"not edXML at all".to_vec()),
        ("S1".into(), MessageType::Status, packet(&status, &[])),
    ];
    let shutdown = Shutdown::new();
    let link = LinkState::configured("https://axis.test");
    let handle = start(
        store.clone(),
        fake.clone(),
        link.clone(),
        settings(),
        Arc::new(SystemClock),
        shutdown.clone(),
    );
    for _ in 0..200 {
        let done = fake.0.acks.lock().expect("lock").len() >= 3
            && !fake.0.sent.lock().expect("lock").is_empty()
            && store.agency_directory_refresh().expect("read").is_some();
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The directory task, asleep until its next refresh, counts as running.
    assert!(
        handle.heartbeat().age() < Duration::from_secs(2),
        "the heartbeat stopped"
    );
    assert_eq!(*fake.0.agency_calls.lock().expect("lock"), 1);
    shutdown.trigger();
    handle.join().await;

    let mut acks = fake.0.acks.lock().expect("lock").clone();
    acks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        acks,
        vec![
            (
                "E1".into(),
                TransportStatus::Done,
                Some(DeliveryOutcome::Document)
            ),
            (
                "E2".into(),
                TransportStatus::Fail,
                Some(DeliveryOutcome::Quarantined)
            ),
            (
                "S1".into(),
                TransportStatus::Fail,
                Some(DeliveryOutcome::Quarantined)
            ),
        ]
    );
    // The status 01 about E1 went out through the sender.
    assert_eq!(
        *fake.0.sent.lock().expect("lock"),
        vec![MessageType::Status]
    );
    let incoming = store
        .list_documents(&ListFilter {
            direction: Some(Direction::Incoming),
            limit: 10,
            ..ListFilter::default()
        })
        .expect("list");
    let mut states: Vec<&str> = incoming
        .documents
        .iter()
        .map(|d| d.state.as_str())
        .collect();
    states.sort_unstable();
    assert_eq!(states, vec!["quarantined", "received"]);
    let received = incoming
        .documents
        .iter()
        .find(|d| d.state == "received")
        .expect("received");
    let record = store.document(&received.id).expect("read").expect("doc");
    assert_eq!(record.files.len(), 1);
    assert_eq!(record.statuses[0].code, "01");
    assert!(link.snapshot().connected);
    let directory = store.agency_directory().expect("directory");
    assert_eq!(directory.len(), 1);
    assert_eq!(directory[0].code, "000.00.00.H41");
    store.close();
}

/// The directory task against a scripted axis: a failure is retried, a success replaces
/// the cache (one entry per code, blank codes dropped), an empty answer keeps it, and the
/// task ends on shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_is_refreshed_and_an_empty_answer_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let fake = fake_axis(
        &store,
        vec![
            Err(AxisError::transient("getAgenciesList", "the axis is down")),
            Ok(vec![
                agency("001.00.10.H41", "UBND huyện Thử Nghiệm"),
                agency("001.01.10.H41", "UBND xã Thử Nghiệm"),
                agency("001.01.10.H41", "a second copy"),
                agency("  ", "blank"),
            ]),
            // Then empty answers only.
        ],
    );
    let context = Arc::new(scheduler::Context {
        store: store.clone(),
        client: fake.clone(),
        link: LinkState::configured("https://axis.test"),
        settings: settings(),
        clock: Arc::new(SystemClock),
        shutdown: Shutdown::new(),
        outbox_wake: tokio::sync::Notify::new(),
        packable_wake: tokio::sync::Notify::new(),
    });
    let task = tokio::spawn({
        let context = context.clone();
        async move { directory::run_every(&context, Duration::from_millis(100)).await }
    });
    for _ in 0..200 {
        if *fake.0.agency_calls.lock().expect("lock") >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        *fake.0.agency_calls.lock().expect("lock") >= 4,
        "not retried"
    );
    let codes: Vec<String> = store
        .agency_directory()
        .expect("directory")
        .into_iter()
        .map(|entry| entry.code)
        .collect();
    assert_eq!(codes, ["001.00.10.H41", "001.01.10.H41"]);
    assert_eq!(
        store
            .agency("001.01.10.H41")
            .expect("read")
            .map(|entry| entry.name),
        Some("UBND xã Thử Nghiệm".to_string())
    );
    context.shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the task stops on shutdown")
        .expect("task");
    store.close();
}
