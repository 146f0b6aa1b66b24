//! Tests of the business writes: a clerk's status is compare-and-set (a second clerk
//! deciding on the same state writes nothing and takes no số đến), a recall is one request
//! whichever of its two packets comes first, and an agreed recall cancels the document.

use super::exchange_tests::{blob, incoming};
use super::*;

fn status_write(
    store: &Store,
    document: &str,
    expected: &str,
    code: &str,
    register_year: Option<i32>,
) -> ClerkStatusWrite {
    ClerkStatusWrite {
        document: document.into(),
        expected_status: Some(expected.into()),
        expected_version: 1,
        status: NewStatusPacket {
            packet: blob(store, format!("status {code} for {document}").as_bytes()),
            organ_id: "000.00.01.H41".into(),
            code: code.into(),
            description: String::new(),
            packet_timestamp: "2026/11/21 10:00:00".into(),
        },
        priority: 0,
        new_business_status: Some(code.into()),
        register_year,
        answer: None,
        at: "2026-11-21T03:00:00.000Z".into(),
    }
}

async fn received(store: &Store, delivery: &str, document_id: &str) -> String {
    let document = incoming(store, delivery, document_id);
    let id = document.id.clone();
    store.commit_incoming(document).await.expect("commit");
    id
}

#[tokio::test]
async fn a_clerk_status_is_compare_and_set_and_numbers_have_no_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let first = received(&store, "D1", "000.00.00.H41,2026/11/20,07/UBND").await;
    let second = received(&store, "D2", "000.00.00.H41,2026/11/20,08/UBND").await;
    let facts = store
        .business_facts(&first)
        .expect("facts")
        .expect("present");
    assert_eq!(facts.business_status.as_deref(), Some("01"));

    let accept = status_write(&store, &first, "01", "03", Some(2026));
    let ClerkStatusCommit::Committed(outcome) =
        store.set_clerk_status(accept.clone()).await.expect("03")
    else {
        panic!("the first 03 commits");
    };
    assert_eq!(outcome.incoming_number, Some(1));
    // A second clerk who decided on 01 too loses, and takes no number.
    assert_eq!(
        store.set_clerk_status(accept).await.expect("again"),
        ClerkStatusCommit::Changed
    );
    let ClerkStatusCommit::Committed(outcome) = store
        .set_clerk_status(status_write(&store, &second, "01", "03", Some(2026)))
        .await
        .expect("03 on the second")
    else {
        panic!("commits");
    };
    assert_eq!(outcome.incoming_number, Some(2), "no gap");
    let record = store.document(&first).expect("read").expect("present");
    assert_eq!(record.summary.incoming_number, Some(1));
    assert_eq!(record.summary.due_date.as_deref(), Some("2026-12-31"));
    assert_eq!(record.statuses.len(), 2, "01 and one 03");
    store.close();
}

#[tokio::test]
async fn a_status_whose_packet_is_already_queued_is_the_one_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let id = received(&store, "D1", "000.00.00.H41,2026/11/20,07/UBND").await;
    store
        .set_clerk_status(status_write(&store, &id, "01", "03", Some(2026)))
        .await
        .expect("03");
    let assign = status_write(&store, &id, "03", "04", None);
    assert!(matches!(
        store.set_clerk_status(assign).await.expect("04"),
        ClerkStatusCommit::Committed(_)
    ));
    // 04 again, the same bytes (same second, same words): the axis would take its packet
    // for a resend of the first, so it is the first, not a second 04.
    let again = status_write(&store, &id, "04", "04", None);
    let ClerkStatusCommit::Committed(outcome) =
        store.set_clerk_status(again).await.expect("04 again")
    else {
        panic!("answered with the status recorded");
    };
    assert_eq!(outcome.business_status.as_deref(), Some("04"));
    let record = store.document(&id).expect("read").expect("present");
    let codes: Vec<&str> = record
        .statuses
        .iter()
        .map(|status| status.code.as_str())
        .collect();
    assert_eq!(codes, ["01", "03", "04"]);
    // A reassignment in other words is a second 04, with its own packet.
    let mut reassign = status_write(&store, &id, "04", "04", None);
    reassign.status.packet = blob(&store, b"status 04 to another clerk");
    store.set_clerk_status(reassign).await.expect("04 to B");
    let record = store.document(&id).expect("read").expect("present");
    assert_eq!(record.statuses.len(), 4);
    store.close();
}

fn recall_request(
    store: &Store,
    document: &str,
    delivery: &str,
    status: bool,
) -> NewReceivedRequest {
    NewReceivedRequest {
        axis_doc_id: delivery.into(),
        document: document.into(),
        kind: "recall".into(),
        organ_id: "000.00.00.H41".into(),
        reason: "Sai số liệu".into(),
        changes_json: None,
        packet: blob(store, format!("packet {delivery}").as_bytes()),
        status: status.then(|| ReceivedStatus {
            code: "13".into(),
            description: "Sai số liệu".into(),
            packet_timestamp: Some("2026/11/21 10:00:00".into()),
        }),
        at: "2026-11-21T03:00:00.000Z".into(),
    }
}

/// Answers the pending request of `id` with 15 (agree) and returns it.
async fn agree_to_pending(store: &Store, id: &str) {
    let facts = store.business_facts(id).expect("facts").expect("present");
    let pending = facts.pending_request.expect("pending");
    let mut agree = status_write(store, id, "01", "15", None);
    agree.new_business_status = None;
    agree.answer = Some(RequestAnswer {
        request_id: pending.id,
        answer: "15".into(),
        cancel_reason: Some("recalled by the sender".into()),
        update: None,
    });
    let ClerkStatusCommit::Committed(outcome) = store.set_clerk_status(agree).await.expect("15")
    else {
        panic!("commits");
    };
    assert!(outcome.cancelled);
}

#[tokio::test]
async fn a_recall_half_arriving_after_the_answer_joins_its_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    for (document, first_is_status) in [("D1", true), ("D2", false)] {
        let document_id = format!("000.00.00.H41,2026/11/20,{document}/UBND");
        let id = received(&store, document, &document_id).await;
        let (first, second) = (
            recall_request(&store, &id, &format!("{document}-first"), first_is_status),
            recall_request(&store, &id, &format!("{document}-second"), !first_is_status),
        );
        store
            .record_received_request(first)
            .await
            .expect("first half");
        // The clerk agrees before the other packet arrives.
        agree_to_pending(&store, &id).await;
        assert_eq!(
            store
                .record_received_request(second)
                .await
                .expect("second half"),
            IncomingCommit::Committed
        );
        let record = store.document(&id).expect("read").expect("present");
        assert_eq!(
            record.business.requests.len(),
            1,
            "{document}: the late half joins the answered request: {:?}",
            record.business.requests
        );
        assert_eq!(record.business.requests[0].answer.as_deref(), Some("15"));
        let facts = store.business_facts(&id).expect("facts").expect("present");
        assert!(
            facts.pending_request.is_none(),
            "{document}: nothing left to answer"
        );
    }
    store.close();
}

#[tokio::test]
async fn a_recall_is_one_request_and_an_agreement_cancels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let id = received(&store, "D1", "000.00.00.H41,2026/11/20,07/UBND").await;
    let thirteen = recall_request(&store, &id, "S13", true);
    assert_eq!(
        store
            .record_received_request(thirteen.clone())
            .await
            .expect("13"),
        IncomingCommit::Committed
    );
    assert_eq!(
        store
            .record_received_request(thirteen)
            .await
            .expect("13 again"),
        IncomingCommit::AlreadyCommitted(DeliveryOutcome::Status)
    );
    assert_eq!(
        store
            .record_received_request(recall_request(&store, &id, "E1", false))
            .await
            .expect("recall packet"),
        IncomingCommit::Committed
    );
    let record = store.document(&id).expect("read").expect("present");
    assert_eq!(
        record.business.requests.len(),
        1,
        "one request for two packets"
    );
    let facts = store.business_facts(&id).expect("facts").expect("present");
    let pending = facts.pending_request.expect("pending");
    assert_eq!(pending.kind, "recall");

    let mut agree = status_write(&store, &id, "01", "15", None);
    agree.new_business_status = None;
    agree.answer = Some(RequestAnswer {
        request_id: pending.id,
        answer: "15".into(),
        cancel_reason: Some("recalled by the sender: Sai số liệu".into()),
        update: None,
    });
    let ClerkStatusCommit::Committed(outcome) =
        store.set_clerk_status(agree.clone()).await.expect("15")
    else {
        panic!("commits");
    };
    assert!(outcome.cancelled);
    assert_eq!(outcome.business_status.as_deref(), Some("01"));
    assert_eq!(
        store.set_clerk_status(agree).await.expect("15 again"),
        ClerkStatusCommit::Changed
    );
    let record = store.document(&id).expect("read").expect("present");
    assert_eq!(record.business.requests[0].answer.as_deref(), Some("15"));
    assert!(record.business.cancelled.is_some());
    store.close();
}
