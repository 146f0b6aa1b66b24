//! Tests of the exchange writes: an incoming commit is all-or-nothing and idempotent per
//! delivery docId; the outbox comes out in priority order; packet blobs survive the sweep.

use std::io::Write;

use super::*;

pub(super) fn blob(store: &Store, content: &[u8]) -> PacketBlob {
    let mut writer = store.blobs().writer(1 << 20).expect("writer");
    writer.write_all(content).expect("write");
    let published = store
        .blobs()
        .publish(writer.finish().expect("finish"))
        .expect("publish");
    PacketBlob {
        sha256: published.sha256,
        size: published.size,
    }
}

pub(super) fn outgoing(index: usize) -> NewOutgoingDocument {
    NewOutgoingDocument {
        id: ulid::Ulid::new().to_string(),
        subject: format!("document {index}"),
        meta_json: "{}".into(),
        files: Vec::new(),
        state: DocumentState::Accepted,
        numbering: NumberingRequest {
            series: crate::store::RegisterSeries::General,
            year: 2026,
            number: None,
            notation: "UBND-VP".into(),
            organ_id: "000.00.01.H41".into(),
            promulgation_date: "2026/11/21".into(),
        },
        idempotency: None,
        at: format!("2026-11-21T00:00:{index:02}.000Z"),
        replaces: None,
    }
}

pub(super) fn incoming(store: &Store, axis_doc_id: &str, document_id: &str) -> NewIncomingDocument {
    let file = blob(store, format!("attachment of {axis_doc_id}").as_bytes());
    NewIncomingDocument {
        id: ulid::Ulid::new().to_string(),
        axis_doc_id: axis_doc_id.into(),
        document_id: Some(document_id.into()),
        subject: "incoming".into(),
        code_number: Some(7),
        code_notation: Some("UBND".into()),
        priority: 0,
        peer_organ: "000.00.00.H41".into(),
        meta_json: "{}".into(),
        packet: blob(store, format!("packet {axis_doc_id}").as_bytes()),
        files: vec![NewFile {
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            sha256: file.sha256,
            size: file.size,
        }],
        note: String::new(),
        signatures_json: Some(r#"{"valid":true,"signatures":[]}"#.into()),
        status: NewStatusPacket {
            packet: blob(store, format!("status 01 for {axis_doc_id}").as_bytes()),
            organ_id: "000.00.01.H41".into(),
            code: "01".into(),
            description: "arrived".into(),
            packet_timestamp: "2026/11/21 10:00:00".into(),
        },
        at: "2026-11-21T03:00:00.000Z".into(),
        due_date: Some("2026-12-31".into()),
        replaces_document_id: None,
    }
}

#[tokio::test]
async fn an_incoming_commit_is_idempotent_per_delivery_and_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let first = incoming(&store, "D1", "000.00.00.H41,2026/11/20,07/UBND");
    let id = first.id.clone();
    assert_eq!(
        store.commit_incoming(first.clone()).await.expect("commit"),
        IncomingCommit::Committed
    );
    // The same delivery again (lost acknowledgement): nothing new.
    let mut again = first.clone();
    again.id = ulid::Ulid::new().to_string();
    assert_eq!(
        store.commit_incoming(again).await.expect("again"),
        IncomingCommit::AlreadyCommitted(DeliveryOutcome::Document)
    );
    assert_eq!(
        store.incoming_delivery("D1").expect("lookup"),
        Some(DeliveryOutcome::Document)
    );
    let record = store.document(&id).expect("read").expect("present");
    assert_eq!(record.summary.state, "received");
    assert_eq!(record.files.len(), 1);
    assert_eq!(record.exchange.axis_doc_id.as_deref(), Some("D1"));
    assert_eq!(record.statuses.len(), 1);
    assert_eq!(record.statuses[0].code, "01");
    assert_eq!(record.statuses[0].direction, "sent");
    assert_eq!(
        record.signatures,
        Some(serde_json::json!({"valid": true, "signatures": []})),
        "the signature report is stored with the document"
    );
    // Its status 01 waits in the outbox.
    let outbox = store.next_outbox_batch(10).expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, PacketKind::Status);

    // A second delivery with the same DocumentId fails as a whole: no row, no ledger entry,
    // no status packet.
    let duplicate = incoming(&store, "D2", "000.00.00.H41,2026/11/20,07/UBND");
    let error = store
        .commit_incoming(duplicate)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(error, StoreError::DuplicateDocumentId { .. }),
        "{error}"
    );
    assert_eq!(store.incoming_delivery("D2").expect("lookup"), None);
    assert_eq!(store.next_outbox_batch(10).expect("outbox").len(), 1);
    let counts = store.count_documents().expect("count");
    assert_eq!(
        counts,
        vec![(Direction::Incoming, DocumentState::Received, 1)]
    );

    // Quarantine is idempotent too.
    let quarantine = NewQuarantine {
        axis_doc_id: "D2".into(),
        kind: PacketKind::Edoc,
        reason: "duplicate".into(),
        packet: None,
        peer_organ: None,
        document_row: Some(ulid::Ulid::new().to_string()),
        at: "2026-11-21T03:00:00.000Z".into(),
    };
    assert_eq!(
        store
            .commit_quarantined(quarantine.clone())
            .await
            .expect("q"),
        IncomingCommit::Committed
    );
    assert_eq!(
        store.commit_quarantined(quarantine).await.expect("q again"),
        IncomingCommit::AlreadyCommitted(DeliveryOutcome::Quarantined)
    );
    store.close();
}

#[tokio::test]
async fn the_outbox_sends_express_first_then_oldest_and_follows_the_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut ids = Vec::new();
    for (index, priority) in [0u8, 3, 1, 4, 0].into_iter().enumerate() {
        let accepted = store
            .accept_outgoing(outgoing(index))
            .await
            .expect("accept");
        let id = accepted.identity.id;
        let packet = blob(&store, format!("packet {index}").as_bytes());
        assert!(store
            .mark_packed(
                id.clone(),
                DocumentState::Accepted,
                packet.clone(),
                priority,
                "t".into()
            )
            .await
            .expect("pack"));
        // Packing twice does nothing.
        assert!(!store
            .mark_packed(
                id.clone(),
                DocumentState::Accepted,
                packet,
                priority,
                "t".into()
            )
            .await
            .expect("pack again"));
        ids.push(id);
    }
    let batch = store.next_outbox_batch(10).expect("outbox");
    let order: Vec<&str> = batch.iter().map(|item| item.document.as_str()).collect();
    assert_eq!(order, vec![&ids[3], &ids[1], &ids[2], &ids[0], &ids[4]]);
    assert_eq!(store.outbox_depth().expect("depth"), 5);

    let first = &batch[0];
    store
        .mark_sending(first.id, "t1".into())
        .await
        .expect("sending");
    assert_eq!(
        store
            .document(&ids[3])
            .expect("read")
            .expect("doc")
            .summary
            .state,
        "sent"
    );
    // Still waiting until the axis answers (a crash here resends the same bytes).
    assert_eq!(store.outbox_depth().expect("depth"), 5);
    store
        .mark_queued(first.id, "AXIS-1".into(), "t2".into())
        .await
        .expect("queued");
    let queued = store.document(&ids[3]).expect("read").expect("doc");
    assert_eq!(queued.summary.state, "queued");
    assert_eq!(queued.exchange.axis_doc_id.as_deref(), Some("AXIS-1"));

    let second = &batch[1];
    store
        .mark_sending(second.id, "t3".into())
        .await
        .expect("sending");
    store
        .record_refusal(second.id, "code 18: unknown recipient".into(), "t4".into())
        .await
        .expect("refusal");
    let refused = store.document(&ids[1]).expect("read").expect("doc");
    assert_eq!(refused.summary.state, "quarantined");
    assert!(refused
        .exchange
        .quarantine_reason
        .as_deref()
        .is_some_and(|reason| reason.contains("unknown recipient")));
    assert!(refused.events.iter().any(|event| event.kind == "refused"));
    assert_eq!(store.outbox_depth().expect("depth"), 3);

    // A status received about our document is recorded once.
    let document_id = queued.summary.document_id.clone().expect("document id");
    let ours = store
        .outgoing_by_document_id(&document_id)
        .expect("lookup")
        .expect("ours");
    let status = NewIncomingStatus {
        axis_doc_id: "S1".into(),
        document: ours,
        organ_id: "000.00.00.H41".into(),
        code: "03".into(),
        description: "registered".into(),
        packet_timestamp: Some("2026/11/21 11:00:00".into()),
        packet: blob(&store, b"status packet"),
        at: "t5".into(),
    };
    assert_eq!(
        store
            .record_incoming_status(status.clone())
            .await
            .expect("status"),
        IncomingCommit::Committed
    );
    assert_eq!(
        store.record_incoming_status(status).await.expect("again"),
        IncomingCommit::AlreadyCommitted(DeliveryOutcome::Status)
    );
    let statuses = store
        .document(&ids[3])
        .expect("read")
        .expect("doc")
        .statuses;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].code, "03");
    store.close();
}

#[tokio::test]
async fn packet_blobs_survive_the_sweep_and_count_towards_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let accepted = store.accept_outgoing(outgoing(1)).await.expect("accept");
    let packet = blob(&store, b"the packed packet");
    store
        .mark_packed(
            accepted.identity.id,
            DocumentState::Accepted,
            packet.clone(),
            0,
            "t".into(),
        )
        .await
        .expect("pack");
    let document = incoming(&store, "D9", "000.00.00.H41,2026/11/20,09/UBND");
    let kept = [
        document.packet.sha256.clone(),
        document.status.packet.sha256.clone(),
        document.files[0].sha256.clone(),
        packet.sha256.clone(),
    ];
    store.commit_incoming(document).await.expect("commit");
    let quarantined = blob(&store, b"an unreadable packet");
    store
        .commit_quarantined(NewQuarantine {
            axis_doc_id: "S9".into(),
            kind: PacketKind::Status,
            reason: "unknown document".into(),
            packet: Some(quarantined.clone()),
            peer_organ: None,
            document_row: None,
            at: "t".into(),
        })
        .await
        .expect("quarantine");
    let orphan = blob(&store, b"published, never committed");
    let usage_before = store.storage_usage();
    assert!(usage_before.blob_bytes > 0 && usage_before.database_bytes > 0);
    store.close();
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    for sha256 in kept.iter().chain([&quarantined.sha256]) {
        assert!(store.blobs().contains(sha256), "{sha256} was swept");
    }
    assert!(!store.blobs().contains(&orphan.sha256));
    assert_eq!(
        store.storage_usage().blob_bytes,
        usage_before.blob_bytes - orphan.size
    );
    store.close();
}

#[tokio::test]
async fn express_documents_are_sealed_and_packed_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut ids = Vec::new();
    for (index, priority) in [0u8, 0, 3, 1, 4].into_iter().enumerate() {
        let mut document = outgoing(index);
        document.meta_json =
            format!(r#"{{"priority": {priority}, "due_date": "2026-12-0{index}"}}"#);
        ids.push((priority, document.id.clone()));
        store.accept_outgoing(document).await.expect("accept");
    }
    let waiting = store
        .packable_documents(DocumentState::Accepted, None, 10)
        .expect("packable");
    let order: Vec<&str> = waiting
        .iter()
        .map(|document| document.id.as_str())
        .collect();
    // 4 (express at a set time), 3 (hỏa tốc), 1 (urgent), then the two normal ones oldest
    // first: by id, a ULID, whose order is the order of creation to the millisecond (two
    // made in the same millisecond, as here, may come either way round).
    let mut normal = [ids[0].1.as_str(), ids[1].1.as_str()];
    normal.sort_unstable();
    let expected: Vec<&str> = [ids[4].1.as_str(), ids[2].1.as_str(), ids[3].1.as_str()]
        .into_iter()
        .chain(normal)
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn the_list_filters_by_status_deadline_urgency_and_subject() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let cases = [
        ("D1", "Về việc 100% kế hoạch", 0u8, Some("2026-11-01")),
        ("D2", "Báo cáo quý", 3, Some("2026-12-31")),
        ("D3", "Giấy mời họp", 1, None),
    ];
    for (delivery, subject, priority, due_date) in cases {
        let mut document = incoming(
            &store,
            delivery,
            &format!("000.00.00.H41,2026/11/20,{delivery}/UBND"),
        );
        document.subject = subject.into();
        document.priority = priority;
        document.due_date = due_date.map(str::to_string);
        store.commit_incoming(document).await.expect("commit");
    }
    let subjects = |filter: ListFilter| -> Vec<String> {
        let page = store
            .list_documents(&ListFilter {
                limit: 10,
                today: "2026-11-22".into(),
                ..filter
            })
            .expect("list");
        let mut subjects: Vec<String> = page.documents.into_iter().map(|d| d.subject).collect();
        subjects.sort();
        subjects
    };
    assert_eq!(
        subjects(ListFilter {
            overdue: Some(true),
            ..ListFilter::default()
        }),
        ["Về việc 100% kế hoạch"]
    );
    assert_eq!(
        subjects(ListFilter {
            overdue: Some(false),
            ..ListFilter::default()
        }),
        ["Báo cáo quý", "Giấy mời họp"]
    );
    assert_eq!(
        subjects(ListFilter {
            priority_min: Some(1),
            ..ListFilter::default()
        }),
        ["Báo cáo quý", "Giấy mời họp"]
    );
    // `%` is taken literally, not as a wildcard.
    assert_eq!(
        subjects(ListFilter {
            subject_contains: Some("100%".into()),
            ..ListFilter::default()
        }),
        ["Về việc 100% kế hoạch"]
    );
    assert!(subjects(ListFilter {
        subject_contains: Some("1%k".into()),
        ..ListFilter::default()
    })
    .is_empty());
    assert_eq!(
        subjects(ListFilter {
            business_status: Some("01".into()),
            ..ListFilter::default()
        })
        .len(),
        3
    );
    assert!(subjects(ListFilter {
        business_status: Some("03".into()),
        ..ListFilter::default()
    })
    .is_empty());
}
