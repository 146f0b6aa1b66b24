//! The clerk's statuses, recall, update and replacement across two gateways and the axis,
//! each a real process (`common::exchange`): the district sends, the commune receives and
//! acts through its local API, and each side sees the other's packets. A third agency
//! (`001.02.10.H41`) is registered at the axis with no gateway running, so updates can add
//! and remove a receiver that is not one of the two gateways.

mod common;

use std::thread;
use std::time::Duration;

use common::exchange::{documents, wait_for, Exchange};
use common::GatewayProcess;
use serde_json::{json, Value};

/// An agency registered at the axis whose deliveries nobody fetches.
const THIRD: &str = "001.02.10.H41";
const LIMIT: Duration = Duration::from_secs(60);

struct Flow {
    _dir: tempfile::TempDir,
    _axis: common::exchange::DemoAxisProcess,
    district: GatewayProcess,
    commune: GatewayProcess,
    commune_id: String,
}

fn start() -> Flow {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    let axis_config = exchange.axis.config.clone();
    let secrets = axis_config.parent().expect("axis dir").join("secrets");
    std::fs::write(
        secrets.join(THIRD),
        "a-secret-for-the-third-agency-0123456789",
    )
    .expect("secret");
    let mut text = std::fs::read_to_string(&axis_config).expect("axis config");
    text.push_str(&format!(
        "\n[[systems]]\nid = \"{THIRD}\"\nname = \"UBND xã thứ ba\"\nsecret_file = \"secrets/{THIRD}\"\nagencies = [\"{THIRD}\"]\n"
    ));
    std::fs::write(&axis_config, text).expect("write axis config");
    exchange.set_gateway_option("axis", "retry_max_ms", "500");
    let axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = exchange.gateway("commune").start();
    Flow {
        commune_id: exchange.organ_id("commune"),
        _dir: dir,
        _axis: axis,
        district,
        commune,
    }
}

fn meta(to: &[&str], subject: &str) -> Value {
    json!({
        "to": to,
        "subject": subject,
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0,
        "due_date": "2026-12-31"
    })
}

fn post_json(gateway: &GatewayProcess, path: &str, body: &Value) -> (u16, Value) {
    let response = gateway
        .client
        .post(format!("{}{path}", gateway.url))
        .bearer_auth(&gateway.token)
        .json(body)
        .send()
        .expect("POST");
    common::into_json(response)
}

fn status(gateway: &GatewayProcess, id: &str, body: Value) -> (u16, Value) {
    post_json(gateway, &format!("/api/v1/documents/{id}/status"), &body)
}

fn document(gateway: &GatewayProcess, id: &str) -> Value {
    let (code, document) = gateway.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(code, 200, "{document}");
    document
}

/// Sends a document from the district; returns its id.
fn send(flow: &Flow, to: &[&str], subject: &str) -> String {
    let (code, body) = flow.district.post_document(
        &meta(to, subject),
        &[(
            "van-ban.pdf",
            "application/pdf",
            common::sample_pdf(subject),
        )],
        None,
    );
    assert_eq!(code, 202, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// The commune's incoming document with `subject`, once it arrived.
fn arrived(flow: &Flow, subject: &str) -> String {
    wait_for(LIMIT, || {
        documents(&flow.commune, "in")
            .into_iter()
            .find(|document| document["subject"] == subject)
            .and_then(|document| document["id"].as_str().map(str::to_string))
    })
    .unwrap_or_else(|| panic!("{subject} did not arrive at the commune"))
}

/// The codes the district recorded from `organ` about `id`, once they end with `last`.
fn statuses_until(flow: &Flow, id: &str, organ: &str, last: &str) -> Vec<String> {
    wait_for(LIMIT, || {
        let document = document(&flow.district, id);
        let recipient = document["recipients"]
            .as_array()?
            .iter()
            .find(|recipient| recipient["organ_id"] == organ)?
            .clone();
        let codes: Vec<String> = recipient["statuses"]
            .as_array()?
            .iter()
            .filter_map(|status| status["code"].as_str().map(str::to_string))
            .collect();
        (codes.last().map(String::as_str) == Some(last)).then_some(codes)
    })
    .unwrap_or_else(|| panic!("the district never saw {last} from {organ} about {id}"))
}

/// What a refused request must not change. (Not the whole document: the journey of a
/// status packet sent earlier appends events to it meanwhile.)
fn business(document: Value) -> Value {
    json!([
        document["business_status"],
        document["incoming_number"],
        document["statuses"],
        document["requests"],
        document["cancelled"],
        document["version"],
        document["subject"],
    ])
}

fn sent_and_arrived(flow: &Flow, subject: &str) -> (String, String) {
    let out = send(flow, &[&flow.commune_id], subject);
    let incoming = arrived(flow, subject);
    statuses_until(flow, &out, &flow.commune_id, "01");
    (out, incoming)
}

#[test]
fn accepted_assigned_handled_completed() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "luồng 01-06");
    let arrived_view = document(&flow.commune, &incoming);
    assert_eq!(arrived_view["business_status"], "01");
    assert_eq!(arrived_view["due_date"], "2026-12-31");
    assert!(arrived_view.get("incoming_number").is_none());

    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "03"}));
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["business_status"], "03");
    assert_eq!(answer["incoming_number"], 1);
    assert!(answer["registered_at"].is_string());
    statuses_until(&flow, &out, &flow.commune_id, "03");
    for (code_value, description) in [
        ("04", "giao chuyên viên A"),
        ("04", "giao lại chuyên viên B"),
        ("05", "đang xử lý"),
        ("06", "đã xử lý xong"),
    ] {
        // A clerk's statuses are seconds apart; packets stamped in the same second may
        // travel in either order, so the test waits as a clerk would.
        thread::sleep(Duration::from_millis(1100));
        let (code, answer) = status(
            &flow.commune,
            &incoming,
            json!({"code": code_value, "description": description,
                   "staff": {"name": "Trần Thị B", "department": "Văn phòng"}}),
        );
        assert_eq!(code, 202, "{code_value}: {answer}");
    }
    let codes = statuses_until(&flow, &out, &flow.commune_id, "06");
    assert_eq!(codes, ["01", "03", "04", "04", "05", "06"]);
    let view = document(&flow.commune, &incoming);
    assert_eq!(view["business_status"], "06");
    assert_eq!(view["incoming_number"], 1);
    assert_eq!(view["overdue"], false);
    let district_view = document(&flow.district, &out);
    let recipient = &district_view["recipients"][0];
    assert_eq!(recipient["latest_code"], "06");
    assert_eq!(
        recipient["statuses"][2]["description"],
        "giao chuyên viên A"
    );
    assert!(recipient["statuses"][2]["packet_timestamp"].is_string());
    assert!(recipient["statuses"][2]["recorded_at"].is_string());
}

#[test]
fn refused_needs_a_reason() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "luồng 01-02");
    let before = business(document(&flow.commune, &incoming));
    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "02"}));
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "reason_required");
    assert_eq!(
        business(document(&flow.commune, &incoming)),
        before,
        "nothing changed"
    );

    let (code, answer) = status(
        &flow.commune,
        &incoming,
        json!({"code": "02", "description": "Gửi nhầm cơ quan"}),
    );
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["business_status"], "02");
    assert!(answer.get("incoming_number").is_none());
    let codes = statuses_until(&flow, &out, &flow.commune_id, "02");
    assert_eq!(codes, ["01", "02"]);
    let district_view = document(&flow.district, &out);
    assert_eq!(
        district_view["recipients"][0]["statuses"][1]["description"],
        "Gửi nhầm cơ quan"
    );
    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "03"}));
    assert_eq!(code, 409, "{answer}");
}

/// Waits for the commune's pending request of `kind` on `incoming`.
fn pending_request(flow: &Flow, incoming: &str, kind: &str) -> Value {
    wait_for(LIMIT, || {
        let document = document(&flow.commune, incoming);
        document["requests"]
            .as_array()?
            .iter()
            .find(|request| request["kind"] == kind && request["answer"].is_null())
            .cloned()
    })
    .unwrap_or_else(|| panic!("no pending {kind} request arrived"))
}

fn recall(flow: &Flow, out: &str, reason: &str) -> (u16, Value) {
    post_json(
        &flow.district,
        &format!("/api/v1/documents/{out}/recall"),
        &json!({"reason": reason}),
    )
}

#[test]
fn recall_agreed() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "thu hồi đồng ý");
    status(&flow.commune, &incoming, json!({"code": "03"}));
    let (code, answer) = recall(&flow, &out, "Sai số liệu");
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["outcome"], "requested");
    let (code, again) = recall(&flow, &out, "lần hai");
    assert_eq!(code, 409, "{again}");

    let request = pending_request(&flow, &incoming, "recall");
    assert_eq!(request["reason"], "Sai số liệu");
    // Both the BussinessDocType 1 packet and the status 13 arrive; one request only.
    wait_for(LIMIT, || {
        let document = document(&flow.commune, &incoming);
        let has_13 = document["statuses"]
            .as_array()?
            .iter()
            .any(|status| status["code"] == "13");
        let events = document["events"].as_array()?;
        let ledgered = events
            .iter()
            .filter(|event| event["kind"] == "recall_requested")
            .count();
        (has_13 && ledgered == 1 && document["requests"].as_array()?.len() == 1).then_some(())
    })
    .expect("the 13 and the recall packet make one request");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        document(&flow.commune, &incoming)["requests"]
            .as_array()
            .expect("requests")
            .len(),
        1
    );

    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "15"}));
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["cancelled"], true);
    let view = document(&flow.commune, &incoming);
    assert!(view["cancelled"]["reason"]
        .as_str()
        .expect("reason")
        .contains("Sai số liệu"));
    assert_eq!(view["incoming_number"], 1, "kept in the register");
    assert_eq!(view["requests"][0]["answer"], "15");
    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "04"}));
    assert_eq!(code, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "cancelled");

    statuses_until(&flow, &out, &flow.commune_id, "15");
    let district_view = wait_for(LIMIT, || {
        let view = document(&flow.district, &out);
        (view["recipients"][0]["recalled"] == true).then_some(view)
    })
    .expect("recalled for the commune");
    assert_eq!(district_view["requests"][0]["answer"], "15");
}

#[test]
fn recall_refused() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "thu hồi từ chối");
    let (code, answer) = recall(&flow, &out, "Muốn sửa");
    assert_eq!(code, 202, "{answer}");
    pending_request(&flow, &incoming, "recall");
    let (code, answer) = status(
        &flow.commune,
        &incoming,
        json!({"code": "16", "description": "Đã xử lý, không thu hồi"}),
    );
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["cancelled"], false);
    assert_eq!(answer["business_status"], "01");
    let view = document(&flow.commune, &incoming);
    assert!(view["cancelled"].is_null());
    assert_eq!(view["requests"][0]["answer"], "16");
    statuses_until(&flow, &out, &flow.commune_id, "16");
    // Work goes on after a refused recall.
    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "03"}));
    assert_eq!(code, 202, "{answer}");
    let codes = statuses_until(&flow, &out, &flow.commune_id, "03");
    assert!(codes.contains(&"16".to_string()), "{codes:?}");
    let district_view = document(&flow.district, &out);
    assert_eq!(district_view["recipients"][0]["recalled"], false);
    assert_eq!(district_view["requests"][0]["answer"], "16");
}

#[test]
fn a_recall_before_sending_withdraws_locally() {
    // A stand-alone gateway (no axis): its documents stay `accepted`, never handed over.
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = common::GatewayDir::init(dir.path(), &[]).start();
    let (code, body) = gateway.post_document(
        &common::sample_meta(),
        &[("van-ban.pdf", "application/pdf", common::sample_pdf("rút"))],
        None,
    );
    assert_eq!(code, 202, "{body}");
    let id = body["id"].as_str().expect("id");
    let path = format!("/api/v1/documents/{id}/recall");
    let (code, answer) = post_json(&gateway, &path, &json!({"reason": "Nhầm nơi nhận"}));
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["outcome"], "withdrawn");
    let view = document(&gateway, id);
    assert_eq!(view["cancelled"]["reason"], "Nhầm nơi nhận");
    assert_eq!(view["state"], "accepted");
    let (code, answer) = post_json(&gateway, &path, &json!({"reason": "lần hai"}));
    assert_eq!(
        (code, answer["error"]["code"].clone()),
        (409, json!("already_cancelled"))
    );
}

#[test]
fn update_then_added_receiver() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "cập nhật cũ");
    let (code, answer) = post_json(
        &flow.district,
        &format!("/api/v1/documents/{out}/update"),
        &json!({"reason": "Sửa trích yếu và hạn", "subject": "cập nhật mới",
                "due_date": "2027-01-31", "add_recipients": [THIRD]}),
    );
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["version"], 2);
    let request = pending_request(&flow, &incoming, "update");
    assert_eq!(request["changes"]["new"]["subject"], "cập nhật mới");
    assert_eq!(document(&flow.commune, &incoming)["subject"], "cập nhật cũ");
    let (code, answer) = status(&flow.commune, &incoming, json!({"code": "15"}));
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["version"], 2);
    let view = document(&flow.commune, &incoming);
    assert_eq!(view["subject"], "cập nhật mới");
    assert_eq!(view["due_date"], "2027-01-31");
    assert_eq!(view["version"], 2);
    assert_eq!(
        view["requests"][0]["changes"]["previous"]["subject"],
        "cập nhật cũ"
    );
    statuses_until(&flow, &out, &flow.commune_id, "15");
    let district_view = document(&flow.district, &out);
    assert_eq!(district_view["version"], 2);
    assert_eq!(district_view["subject"], "cập nhật mới");
    let organs: Vec<&str> = district_view["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .filter_map(|recipient| recipient["organ_id"].as_str())
        .collect();
    assert_eq!(organs, [flow.commune_id.as_str(), THIRD]);

    // A document the commune never had: an update adding it delivers it.
    let second = send(&flow, &[THIRD], "thêm nơi nhận");
    wait_for(LIMIT, || {
        (document(&flow.district, &second)["state"] == "queued").then_some(())
    })
    .expect("queued at the axis");
    let (code, answer) = post_json(
        &flow.district,
        &format!("/api/v1/documents/{second}/update"),
        &json!({"reason": "Gửi bổ sung", "add_recipients": [flow.commune_id],
                "remove_recipients": [THIRD]}),
    );
    assert_eq!(code, 202, "{answer}");
    let added = arrived(&flow, "thêm nơi nhận");
    assert_eq!(document(&flow.commune, &added)["business_status"], "01");
    statuses_until(&flow, &second, &flow.commune_id, "01");
    let district_view = document(&flow.district, &second);
    let third = district_view["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|recipient| recipient["organ_id"] == THIRD)
        .expect("the removed receiver is still listed")
        .clone();
    assert_eq!(third["removed"], true);
}

fn replace(flow: &Flow, old: &str, subject: &str) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .text("meta", meta(&[&flow.commune_id], subject).to_string())
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(common::sample_pdf(subject))
                .file_name("thay-the.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    let response = flow
        .district
        .client
        .post(format!(
            "{}/api/v1/documents/{old}/replace",
            flow.district.url
        ))
        .bearer_auth(&flow.district.token)
        .multipart(form)
        .send()
        .expect("POST replace");
    common::into_json(response)
}

#[test]
fn replacement_links_both_sides() {
    let flow = start();
    let (old_out, old_in) = sent_and_arrived(&flow, "bản bị thay thế");
    let (code, answer) = replace(&flow, &old_out, "bản thay thế");
    assert_eq!(code, 202, "{answer}");
    let new_out = answer["id"].as_str().expect("id").to_string();
    assert_ne!(
        answer["document_id"],
        document(&flow.district, &old_out)["document_id"]
    );
    assert_eq!(document(&flow.district, &new_out)["replaces"], old_out);
    assert_eq!(document(&flow.district, &old_out)["replaced_by"], new_out);
    let new_in = arrived(&flow, "bản thay thế");
    assert_eq!(document(&flow.commune, &new_in)["replaces"], old_in);
    assert_eq!(document(&flow.commune, &old_in)["replaced_by"], new_in);
    let packet = document(&flow.commune, &new_in)["meta"]["business"].clone();
    assert_eq!(packet["business_doc_type"], 3, "{packet}");

    let (code, answer) = replace(&flow, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "không có");
    assert_eq!(code, 404, "{answer}");
}

#[test]
fn bad_requests_change_nothing() {
    let flow = start();
    let (out, incoming) = sent_and_arrived(&flow, "đầu vào sai");
    let before = business(document(&flow.commune, &incoming));
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"code": "07"}), 400, "bad_status_code"),
        (json!({"code": "3"}), 400, "bad_status_code"),
        (json!({"code": "abc"}), 400, "bad_status_code"),
        (json!({"code": 3}), 400, "malformed_request"),
        (
            json!({"code": "03", "colour": "red"}),
            400,
            "malformed_request",
        ),
        (json!({"code": "06"}), 409, "illegal_transition"),
        (json!({"code": "04"}), 409, "illegal_transition"),
        (json!({"code": "01"}), 409, "illegal_transition"),
        (json!({"code": "13"}), 409, "illegal_transition"),
        (json!({"code": "15"}), 409, "no_pending_request"),
        (
            json!({"code": "16", "description": "x"}),
            409,
            "no_pending_request",
        ),
        (
            json!({"code": "03", "description": "x".repeat(1001)}),
            400,
            "malformed_request",
        ),
        (
            json!({"code": "03", "description": "hai\ndòng"}),
            400,
            "malformed_request",
        ),
    ];
    for (body, expected, error_code) in &cases {
        let (code, answer) = status(&flow.commune, &incoming, body.clone());
        assert_eq!(code, *expected, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], *error_code, "{body}: {answer}");
        assert!(!answer["error"]["message"]
            .as_str()
            .expect("message")
            .is_empty());
    }
    let (_, answer) = status(&flow.commune, &incoming, json!({"code": "06"}));
    assert_eq!(
        answer["error"]["message"],
        "status 06 (handling completed) cannot follow 01 (arrived): accept the document (03) first"
    );
    assert_eq!(
        business(document(&flow.commune, &incoming)),
        before,
        "nothing changed"
    );

    let (code, answer) = status(
        &flow.commune,
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        json!({"code": "03"}),
    );
    assert_eq!(
        (code, answer["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let out_before = business(document(&flow.district, &out));
    let (code, answer) = status(&flow.district, &out, json!({"code": "03"}));
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .expect("message")
        .contains("/recall"));
    assert_eq!(business(document(&flow.district, &out)), out_before);

    let (code, _) = status(&flow.commune, &incoming, json!({"code": "03"}));
    assert_eq!(code, 202);
    let accepted = business(document(&flow.commune, &incoming));
    for body in [
        json!({"code": "03"}),
        json!({"code": "02", "description": "muộn"}),
    ] {
        let (code, answer) = status(&flow.commune, &incoming, body.clone());
        assert_eq!(code, 409, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "illegal_transition");
    }
    assert_eq!(business(document(&flow.commune, &incoming)), accepted);
    let (code, answer) = recall(&flow, &out, "");
    assert_eq!(
        (code, answer["error"]["code"].clone()),
        (422, json!("reason_required"))
    );
    let (code, answer) = post_json(
        &flow.commune,
        &format!("/api/v1/documents/{incoming}/recall"),
        &json!({"reason": "không phải của mình"}),
    );
    assert_eq!(code, 409, "{answer}");
}

#[test]
fn concurrent_acceptances_number_without_gap() {
    let flow = start();
    let subjects: Vec<String> = (0..20).map(|index| format!("đồng thời {index}")).collect();
    for subject in &subjects {
        send(&flow, &[&flow.commune_id], subject);
    }
    let incoming: Vec<String> = wait_for(Duration::from_secs(120), || {
        let all = documents(&flow.commune, "in");
        (all.len() == subjects.len()).then(|| {
            all.iter()
                .filter_map(|document| document["id"].as_str().map(str::to_string))
                .collect()
        })
    })
    .expect("twenty documents arrived");
    let commune = &flow.commune;
    let numbers: Vec<u64> = thread::scope(|scope| {
        let handles: Vec<_> = incoming
            .iter()
            .map(|id| {
                scope.spawn(move || {
                    let (code, answer) = status(commune, id, json!({"code": "03"}));
                    assert_eq!(code, 202, "{answer}");
                    answer["incoming_number"].as_u64().expect("số đến")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<u64>>(), "{numbers:?}");
}
