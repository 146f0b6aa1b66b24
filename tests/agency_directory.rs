//! The agency directory end to end, each part a real process (`common::exchange`): the
//! district's gateway fetches the axis's `getAgenciesList` at start; from then on an
//! outgoing document to a code the directory lacks (one digit off the commune's) is
//! refused with `422 unknown_recipient`, naming the code and suggesting the commune, and
//! nothing is stored; the commune's own code is accepted. The status facts and page show
//! the directory's size and age. (A stand-alone gateway, which never has a directory,
//! accepts any well-formed code: `tests/local_api.rs`.)

mod common;

use std::time::Duration;

use common::exchange::{wait_for, Exchange};
use common::{list_files, sample_meta, sample_pdf, GatewayProcess};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

/// The commune's code with its last district digit changed: `001.01.10.H41` → `...11...`.
const MISSPELT_COMMUNE: &str = "001.01.11.H41";

fn post(gateway: &GatewayProcess, to: &[&str], tag: &str) -> (u16, Value) {
    let mut meta = sample_meta();
    meta["to"] = json!(to);
    meta["subject"] = json!(format!("Danh bạ {tag}"));
    gateway.post_document(
        &meta,
        &[("van-ban.pdf", "application/pdf", sample_pdf(tag))],
        None,
    )
}

/// The gateway's directory facts once it holds at least `agencies`.
fn directory_holding(gateway: &GatewayProcess, agencies: u64) -> Value {
    wait_for(LIMIT, || {
        let (status, facts) = gateway.get_json("/api/v1/status");
        assert_eq!(status, 200, "{facts}");
        let directory = facts["directory"].clone();
        (directory["agencies"].as_u64() >= Some(agencies)).then_some(directory)
    })
    .unwrap_or_else(|| panic!("the directory never held {agencies} agencies"))
}

#[test]
fn a_misspelt_recipient_is_refused_with_the_real_code_suggested_and_nothing_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    exchange.set_gateway_option("axis", "retry_max_ms", "500");
    let _axis = exchange.axis.start();
    let district_dir = exchange.gateway("district");
    let district = district_dir.start();
    let commune = exchange.organ_id("commune");

    // The axis knows the district and the commune.
    let directory = directory_holding(&district, 2);
    assert_eq!(directory["agencies"], 2, "{directory}");
    assert!(directory["refreshed_at"].is_string(), "{directory}");
    assert!(directory["age_secs"].as_i64() < Some(60), "{directory}");
    let page = district
        .client
        .get(format!("{}/?lang=en", district.url))
        .send()
        .expect("GET /")
        .text()
        .expect("page");
    assert!(page.contains("2 agencies, refreshed"), "{page}");

    let documents_before = district.all_document_ids();
    let files_before = list_files(&district_dir.blobs_dir());
    let (status, refused) = post(&district, &[MISSPELT_COMMUNE], "misspelt");
    assert_eq!(status, 422, "{refused}");
    let error = &refused["error"];
    assert_eq!(error["code"], "unknown_recipient", "{refused}");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "meta.to[0]: {MISSPELT_COMMUNE} is not in the agency directory"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("did you mean {commune} (UBND xã Thử Nghiệm)")),
        "{message}"
    );
    assert_eq!(
        error["suggestions"][0]["for"], MISSPELT_COMMUNE,
        "{refused}"
    );
    assert_eq!(
        error["suggestions"][0]["code"],
        commune.as_str(),
        "{refused}"
    );
    assert_eq!(error["suggestions"][0]["name"], "UBND xã Thử Nghiệm");
    // One good and one misspelt recipient: the document is refused as a whole.
    let (status, refused) = post(&district, &[&commune, MISSPELT_COMMUNE], "mixed");
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("meta.to[1]: ")),
        "{refused}"
    );
    assert_eq!(district.all_document_ids(), documents_before);
    assert_eq!(list_files(&district_dir.blobs_dir()), files_before);

    let (status, accepted) = post(&district, &[&commune], "correct");
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(
        district.all_document_ids().len(),
        documents_before.len() + 1
    );
}
