//! Helpers for the register tests: the library's intake driven in-process with a settable
//! clock, a small HTTP client for the register endpoints of a gateway that restarts under
//! it, and read-only looks at the register columns of the database.

use std::path::Path;
use std::sync::Arc;

use reqwest::blocking::{multipart, Client};
use serde_json::Value;

use docgate::store::{AcceptOutcome, Store};
use docgate::system::clock::{Clock, SettableClock};
use docgate::system::config::RegisterSection;
use docgate::workflow::register::NotationRules;
use docgate::workflow::{IncomingFile, IntakeContext, IntakeError, IntakeRequest};

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// A seed from `variable`, else from the time (odd, never 0).
pub fn seed_from_env(variable: &str) -> u64 {
    std::env::var(variable)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|duration| duration.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        })
}

/// An intake context for `000.00.01.H41` on `clock`, composing notations from `register`.
pub fn intake_context(
    clock: Arc<SettableClock>,
    register: Option<&RegisterSection>,
) -> IntakeContext {
    let clock: Arc<dyn Clock> = clock;
    IntakeContext {
        organ_id: "000.00.01.H41".into(),
        extra_agency_codes: Vec::new(),
        max_files: 20,
        clock,
        disk_quota_bytes: u64::MAX,
        signatures: None,
        notation: NotationRules::from_config(register),
    }
}

/// `meta` accepted in-process, with one PDF staged in the store's blob area.
pub async fn accept(
    store: &Store,
    context: &IntakeContext,
    meta: &Value,
    idempotency_key: Option<&str>,
) -> Result<AcceptOutcome, IntakeError> {
    use std::io::Write;
    let pdf = super::sample_pdf(&meta["subject"].to_string());
    let mut writer = store.blobs().writer(1 << 24).expect("staging writer");
    writer.write_all(&pdf).expect("stage");
    let staged = writer.finish().expect("finish");
    let file = IncomingFile {
        name: "van-ban.pdf".into(),
        content_type: "application/pdf".into(),
        staged,
        head: pdf[..pdf.len().min(1024)].to_vec(),
    };
    docgate::workflow::accept_outgoing(
        store,
        context,
        IntakeRequest {
            meta_json: meta.to_string().into_bytes(),
            files: vec![file],
            idempotency_key: idempotency_key.map(str::to_string),
            replaces: None,
        },
    )
    .await
}

/// `{number}/{notation}` at the end of a DocumentId.
pub fn code_of(document_id: &str) -> &str {
    document_id.rsplit(',').next().unwrap_or_default()
}

/// The local API of a gateway at a fixed address, across restarts.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub token: String,
    pub client: Client,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Api {
        Api {
            url: url.to_string(),
            token: token.to_string(),
            client: Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
        }
    }

    /// `POST /api/v1/documents` with one PDF; a transport failure is an `Err`.
    pub fn post(
        &self,
        meta: &Value,
        pdf: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let part = multipart::Part::bytes(pdf.to_vec())
            .file_name("van-ban.pdf")
            .mime_str("application/pdf")
            .expect("mime");
        let form = multipart::Form::new()
            .text("meta", meta.to_string())
            .part("file", part);
        let mut request = self
            .client
            .post(format!("{}/api/v1/documents", self.url))
            .bearer_auth(&self.token)
            .multipart(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().map(super::into_json)
    }

    /// An authorised GET: status, content type, body.
    pub fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .expect("GET");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            status,
            content_type,
            response.bytes().expect("body").to_vec(),
        )
    }

    /// An authorised GET of JSON.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get(path);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// An authorised POST of a JSON body; a transport failure (the gateway was killed, or
    /// is not listening yet) is an `Err`.
    pub fn try_post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .map(super::into_json)
    }

    /// An authorised POST without a body; status and JSON.
    pub fn post_empty(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .expect("POST");
        super::into_json(response)
    }
}

/// `(number, id, state)` of every outgoing document of `year`'s `series`, by number, read
/// through an independent read-only connection.
pub fn outgoing_numbers(database: &Path, year: i32, series: &str) -> Vec<(u32, String, String)> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open database read-only");
    let mut statement = connection
        .prepare(
            "SELECT code_number, id, state FROM documents
             WHERE direction = 'out' AND register_year = ?1 AND register_series = ?2
             ORDER BY code_number",
        )
        .expect("prepare");
    let rows = statement
        .query_map(rusqlite::params![year, series], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}
