//! The reference axis end to end: the real `docgate axis` process, real mutual TLS with a
//! test PKI, signed requests, and packets written by the real edXML writer. Each test
//! starts its own axis in its own directory.

mod common;

use std::time::{Duration, Instant};

use common::axis::{
    edoc_packet, edoc_packet_with, incompressible, status_packet, tls_client, AxisClient, AxisDir,
    COMMUNE, LOCKED, MAX_PACKET_BYTES, PROVINCE, PROVINCE_OFFICE,
};
use common::sha256_hex;
use docgate::demo::pki::TestCa;
use docgate::edxml::BusinessDocType;
use docgate::system::tls;
use docgate::vdxp::{header, AxisAnswer, HubErrorCode, Operation, SignedRequest};

fn code(answer: &AxisAnswer) -> Option<HubErrorCode> {
    answer.hub_error()
}

fn doc_id(answer: &AxisAnswer) -> String {
    assert!(answer.is_ok(), "{answer:?}");
    answer.doc_id.clone().expect("DocId")
}

#[test]
fn a_packet_travels_to_its_receiver_and_a_status_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let axis = axis_dir.start();
    let commune = axis_dir.client(&axis, COMMUNE);
    let province = axis_dir.client(&axis, PROVINCE);

    // Send to both of the province's agency codes: one delivery for the one system. The
    // attachment is large enough that downloads stream in many chunks.
    let packet = edoc_packet_with(
        COMMUNE,
        &[PROVINCE, PROVINCE_OFFICE],
        1,
        "first",
        None,
        incompressible(300_000, 1),
    );
    assert!(packet.len() > 400_000);
    let sent = commune.send(&packet, "edoc");
    assert_eq!(sent.status, 200);
    let sender_doc_id = doc_id(&sent.answer());

    // A retry of the same bytes answers the same DocId and stores nothing new.
    let again = commune.send(&packet, "edoc").answer();
    assert_eq!(doc_id(&again), sender_doc_id);

    let listed = province.received(Some("edoc"));
    assert_eq!(listed.count, Some(1), "{listed:?}");
    let item = &listed.data.as_ref().expect("data")[0];
    assert_eq!(item["from"], COMMUNE);
    assert_eq!(item["messageType"], "edoc");
    assert_eq!(item["size"], packet.len() as u64);
    let delivery = item["docId"].as_str().expect("docId").to_owned();
    assert!(province.received_ids(Some("status")).is_empty());
    assert!(commune.received_ids(None).is_empty());

    // Raw and SDK JSON downloads carry the same bytes.
    let raw = province.get_edoc_raw(&delivery);
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.headers["content-type"], "application/octet-stream",
        "{:?}",
        raw.headers
    );
    assert_eq!(
        raw.headers["x-content-sha256"],
        sha256_hex(&packet).as_str()
    );
    assert_eq!(raw.body, packet);
    let json = province.get_edoc_json(&delivery).answer();
    assert!(json.is_ok(), "{json:?}");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(
            json.data
                .as_ref()
                .and_then(|data| data.as_str())
                .expect("base64 data"),
        )
        .expect("valid base64");
    assert_eq!(sha256_hex(&decoded), sha256_hex(&packet));
    assert_eq!(decoded, raw.body);

    // Nobody else reads it; unknown ids are 31.
    let stranger = commune.get_edoc_raw(&delivery).answer();
    assert_eq!(code(&stranger), Some(HubErrorCode::UnknownDocId));
    let unknown = province.update_status("01NOSUCHDELIVERY0000000000", "done");
    assert_eq!(code(&unknown), Some(HubErrorCode::UnknownDocId));

    // processing keeps it listed; done removes it; done again is fine; fail after done is 32.
    assert!(province.update_status(&delivery, "processing").is_ok());
    assert_eq!(province.received_ids(None), vec![delivery.clone()]);
    assert!(province.update_status(&delivery, "done").is_ok());
    assert!(province.received_ids(None).is_empty());
    assert!(province.update_status(&delivery, "done").is_ok());
    let flip = province.update_status(&delivery, "fail");
    assert_eq!(code(&flip), Some(HubErrorCode::BadRequest), "{flip:?}");

    // The sender sees the receiver's acknowledgement.
    let sent_list = commune
        .call(
            Operation::GetSentEdocList,
            &[(header::DOC_ID, &sender_doc_id)],
            None,
        )
        .answer();
    assert_eq!(sent_list.count, Some(1), "{sent_list:?}");
    let sent_item = &sent_list.data.as_ref().expect("data")[0];
    assert_eq!(sent_item["receiverDocId"], delivery.as_str());
    assert_eq!(sent_item["receiveStatus"], "done");
    let not_ours = province
        .call(
            Operation::GetSentEdocList,
            &[(header::DOC_ID, &sender_doc_id)],
            None,
        )
        .answer();
    assert_eq!(code(&not_ours), Some(HubErrorCode::UnknownDocId));

    // A status packet goes back to the system that owns ResponseFor.OrganId.
    let status = status_packet(
        PROVINCE_OFFICE,
        COMMUNE,
        &format!("{COMMUNE},2026/11/21,1/UBND-VP"),
    );
    doc_id(&province.send(&status, "status").answer());
    let statuses = commune.received_ids(Some("status"));
    assert_eq!(statuses.len(), 1);
    assert_eq!(commune.get_edoc_raw(&statuses[0]).body, status);
    assert!(province.received_ids(None).is_empty());

    // The directory lists every agency code with its system.
    let agencies = commune.call(Operation::GetAgenciesList, &[], None).answer();
    assert_eq!(agencies.count, Some(4), "{agencies:?}");
    let listed: Vec<(String, String)> = agencies
        .data
        .as_ref()
        .and_then(|data| data.as_array())
        .expect("list")
        .iter()
        .map(|item| {
            (
                item["code"].as_str().unwrap_or_default().to_owned(),
                item["systemId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(listed.contains(&(PROVINCE_OFFICE.to_owned(), PROVINCE.to_owned())));
}

#[test]
fn refusals_carry_the_hub_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let axis = axis_dir.start();
    let commune = axis_dir.client(&axis, COMMUNE);
    let province = axis_dir.client(&axis, PROVINCE);

    let first = edoc_packet(COMMUNE, &[PROVINCE], 7, "original", None);
    doc_id(&commune.send(&first, "edoc").answer());
    let cases: Vec<(&str, Vec<u8>, &str, HubErrorCode)> = vec![
        (
            "a different new packet reusing the DocumentId",
            edoc_packet(
                COMMUNE,
                &[PROVINCE],
                7,
                "another",
                Some(BusinessDocType::New),
            ),
            "edoc",
            HubErrorCode::DuplicateDocument,
        ),
        (
            "an unknown recipient",
            edoc_packet(COMMUNE, &[PROVINCE, "000.00.77.H41"], 8, "x", None),
            "edoc",
            HubErrorCode::UnknownRecipient,
        ),
        (
            "a spoofed From.OrganId",
            edoc_packet(PROVINCE_OFFICE, &[PROVINCE], 9, "x", None),
            "edoc",
            HubErrorCode::SenderNotRegistered,
        ),
        (
            "a locked recipient",
            edoc_packet(COMMUNE, &[LOCKED], 10, "x", None),
            "edoc",
            HubErrorCode::RecipientLocked,
        ),
        (
            "bytes that are not edXML",
            b"%PDF-1.7 this is not a packet".to_vec(),
            "edoc",
            HubErrorCode::NotStandard,
        ),
        (
            "an edoc packet sent as a status",
            edoc_packet(COMMUNE, &[PROVINCE], 11, "x", None),
            "status",
            HubErrorCode::NotStandard,
        ),
        (
            "a status whose ResponseFor.OrganId is unknown",
            status_packet(COMMUNE, "000.00.55.H41", "x"),
            "status",
            HubErrorCode::UnknownRecipient,
        ),
    ];
    for (what, packet, messagetype, expected) in cases {
        let answer = commune.send(&packet, messagetype);
        assert_eq!(answer.status, 200, "{what}");
        let answer = answer.answer();
        assert_eq!(code(&answer), Some(expected), "{what}: {answer:?}");
        assert!(!answer.error_desc.is_empty(), "{what}");
    }
    // An update of the same document is no duplicate.
    let update = edoc_packet(
        COMMUNE,
        &[PROVINCE],
        7,
        "update",
        Some(BusinessDocType::Update),
    );
    doc_id(&commune.send(&update, "edoc").answer());

    let packet = edoc_packet(COMMUNE, &[PROVINCE], 12, "hash", None);
    let wrong_hash = commune.send_with_hash(&packet, "edoc", &"ab".repeat(32));
    assert_eq!(code(&wrong_hash.answer()), Some(HubErrorCode::InvalidFile));

    // `from` must be the calling system.
    let spoofed_from = commune.call(
        Operation::SendEdoc,
        &[
            (header::FROM, PROVINCE),
            (header::MESSAGE_TYPE, "edoc"),
            (header::HASH_FILE, &sha256_hex(&packet)),
        ],
        Some(packet.clone()),
    );
    assert_eq!(
        code(&spoofed_from.answer()),
        Some(HubErrorCode::BadCredentials)
    );

    // Larger than max_packet_bytes: 413 with code 10, and nothing stored.
    let oversized = vec![b'x'; MAX_PACKET_BYTES as usize + 4096];
    let answer = commune.send(&oversized, "edoc");
    assert_eq!(answer.status, 413);
    assert_eq!(code(&answer.answer()), Some(HubErrorCode::InvalidFile));

    // The same without a Content-Length: the limit holds while streaming.
    let answer = commune.send_chunked(oversized, "edoc");
    assert_eq!(answer.status, 413);
    assert_eq!(code(&answer.answer()), Some(HubErrorCode::InvalidFile));
    let chunked = edoc_packet(COMMUNE, &[PROVINCE], 13, "chunked", None);
    doc_id(&commune.send_chunked(chunked, "edoc").answer());

    // Only the first packet, the update and the chunked one reached the province.
    assert_eq!(province.received_ids(None).len(), 3);
    // Refused bodies and the attachments extracted while checking left no files behind.
    let state = dir.path().join("state");
    assert_eq!(
        common::list_files(&state.join("packets/tmp")),
        Vec::<String>::new()
    );
    assert_eq!(
        common::list_files(&state.join("scratch")),
        Vec::<String>::new()
    );
}

#[test]
fn requests_that_do_not_authenticate_get_401() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let axis = axis_dir.start();
    let ca = axis_dir.ca_certificate();

    let mut wrong_secret = axis_dir.credentials(COMMUNE);
    wrong_secret.secret = "an-entirely-different-secret-value".into();
    let client = AxisClient::new(&axis.url, &ca, wrong_secret);
    let answer = client.call(Operation::GetAgenciesList, &[], None);
    assert_eq!(answer.status, 401);
    assert_eq!(code(&answer.answer()), Some(HubErrorCode::BadCredentials));

    // A header changed after signing.
    let commune = axis_dir.client(&axis, COMMUNE);
    let mut signed = SignedRequest::new(COMMUNE, time::OffsetDateTime::now_utc())
        .with(header::MESSAGE_TYPE, "edoc")
        .sign(commune.credentials.secret.as_bytes());
    for (name, value) in &mut signed {
        if name.eq_ignore_ascii_case("XroadVnpt-messagetype") {
            *value = "status".into();
        }
    }
    let answer = commune
        .send_signed(Operation::GetReceivedEdocList, signed, None)
        .expect("an HTTP answer");
    assert_eq!(answer.status, 401);

    // Signed correctly as the province, but over the commune's certificate.
    let mut impostor = axis_dir.credentials(COMMUNE);
    impostor.system_id = PROVINCE.into();
    impostor.secret = axis_dir.credentials(PROVINCE).secret;
    let client = AxisClient::new(&axis.url, &ca, impostor);
    let answer = client.call(Operation::GetReceivedEdocList, &[], None);
    assert_eq!(answer.status, 401);
    let description = answer.answer().error_desc;
    assert!(description.contains("certificate"), "{description}");

    // An old timestamp.
    let stale = SignedRequest::new(
        COMMUNE,
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
    )
    .sign(commune.credentials.secret.as_bytes());
    let answer = commune
        .send_signed(Operation::GetAgenciesList, stale, None)
        .expect("an HTTP answer");
    assert_eq!(answer.status, 401);

    // No signature at all, with a body the client is still sending.
    let answer = commune
        .send_signed(Operation::SendEdoc, Vec::new(), Some(vec![b'x'; 100_000]))
        .expect("an HTTP answer");
    assert_eq!(answer.status, 401);

    // The legitimate client still works.
    let answer = commune.call(Operation::GetAgenciesList, &[], None);
    assert_eq!(answer.status, 200);
}

/// The request failed because the server sent a TLS alert: no HTTP answer at all.
fn assert_refused_by_tls(result: Result<reqwest::blocking::Response, reqwest::Error>, what: &str) {
    match result {
        Ok(response) => panic!("{what}: HTTP {}", response.status()),
        Err(error) => {
            let chain = format!("{error:?}");
            assert!(chain.contains("AlertReceived"), "{what}: {chain}");
        }
    }
}

#[test]
fn tls_refuses_clients_without_a_valid_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let axis = axis_dir.start();
    let ca = axis_dir.ca_certificate();
    let pki = dir.path().join("pki");
    let url = format!("{}/{}", axis.url, Operation::GetAgenciesList.path());

    // No client certificate.
    let mut roots = rustls::RootCertStore::empty();
    for certificate in tls::load_certificates(&ca).expect("CA") {
        roots.add(certificate).expect("root");
    }
    let anonymous = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let result = tls_client(anonymous).post(&url).send();
    assert_refused_by_tls(result, "answered without a client certificate");

    // A certificate from another CA, for a registered system id.
    let other_ca = TestCa::create("Some other CA", &pki, "other-ca").expect("other CA");
    let foreign = other_ca
        .issue_client(COMMUNE, &pki, "foreign", None)
        .expect("foreign certificate");
    let config = tls::client_config(&ca, &foreign.certificate, &foreign.key).expect("config");
    let result = tls_client(config).post(&url).send();
    assert_refused_by_tls(result, "answered a foreign certificate");

    // An expired certificate from the right CA.
    let now = time::OffsetDateTime::now_utc();
    let expired = axis_dir
        .ca
        .issue_client(
            COMMUNE,
            &pki,
            "expired",
            Some((
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            )),
        )
        .expect("expired certificate");
    let config = tls::client_config(&ca, &expired.certificate, &expired.key).expect("config");
    let result = tls_client(config).post(&url).send();
    assert_refused_by_tls(result, "answered an expired certificate");

    // A valid one works.
    let answer = axis_dir
        .client(&axis, COMMUNE)
        .call(Operation::GetAgenciesList, &[], None);
    assert_eq!(answer.status, 200);
}

#[test]
fn wait_for_edoc_answers_when_a_packet_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let axis = axis_dir.start();
    let commune = axis_dir.client(&axis, COMMUNE);
    let province = axis_dir.client(&axis, PROVINCE);

    // Nothing waiting: count 0 once the short wait is over.
    let started = Instant::now();
    let idle = province.wait_for_edoc(1);
    assert!(idle.is_ok(), "{idle:?}");
    assert_eq!(idle.count, Some(0));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A waiter woken by a packet answers before its own timeout (10 s, the axis's cap).
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = province.wait_for_edoc(60);
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    doc_id(
        &commune
            .send(&edoc_packet(COMMUNE, &[PROVINCE], 1, "wake", None), "edoc")
            .answer(),
    );
    let (answer, elapsed) = waiter.join().expect("waiter");
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(answer.count, Some(1));
    assert!(elapsed < Duration::from_secs(10), "woke after {elapsed:?}");
}

#[test]
fn an_acknowledged_packet_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let mut axis = axis_dir.start();
    let packet = edoc_packet(COMMUNE, &[PROVINCE], 3, "durable", None);
    let first = doc_id(
        &axis_dir
            .client(&axis, COMMUNE)
            .send(&packet, "edoc")
            .answer(),
    );
    axis.kill();

    let mut axis = axis_dir.start();
    let province = axis_dir.client(&axis, PROVINCE);
    let waiting = province.received_ids(None);
    assert_eq!(waiting.len(), 1);
    assert_eq!(province.get_edoc_raw(&waiting[0]).body, packet);
    // The retry after the crash is the same packet.
    let again = doc_id(
        &axis_dir
            .client(&axis, COMMUNE)
            .send(&packet, "edoc")
            .answer(),
    );
    assert_eq!(again, first);
    assert_eq!(province.received_ids(None).len(), 1);
    assert_eq!(axis.terminate(), Some(0));
}
