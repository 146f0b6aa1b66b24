//! Helpers for the reference axis's end-to-end tests: a test PKI and an axis config with
//! three systems in a directory, the real `docgate axis` child process (ready when it logs
//! `axis listening on ADDR`), a small signed client over real mutual TLS, and edXML packets
//! built with the real writer.

use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use docgate::demo::pki::{IssuedFiles, TestCa};
use docgate::edxml::{
    write_packet, Business, BusinessDocType, Code, EdocHeader, Header, Organization,
    OutgoingAttachment, PromulgationInfo, ResponseFor, StaffInfo, StatusCode, StatusHeader,
};
use docgate::system::tls;
use docgate::vdxp::{header, AxisAnswer, Operation, SignedRequest};
use reqwest::blocking::Client;

/// A system that sends and receives as itself (agency `001.01.10.H41`).
pub const COMMUNE: &str = "001.01.10.H41";
/// The province's system, serving two agency codes.
pub const PROVINCE: &str = "000.00.00.H41";
/// The province's second agency code.
pub const PROVINCE_OFFICE: &str = "000.00.01.H41";
/// A locked system and its one agency code.
pub const LOCKED: &str = "000.00.09.H41";
/// Largest packet the test axis accepts.
pub const MAX_PACKET_BYTES: u64 = 1024 * 1024;

/// An axis's directory: its PKI, secrets and config, kept across restarts.
pub struct AxisDir {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub ca: TestCa,
}

/// A system's credentials as a gateway holds them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub system_id: String,
    pub secret: String,
    pub certificate: IssuedFiles,
}

impl AxisDir {
    /// Writes a test PKI (CA, axis certificate, a client certificate per system), the
    /// secrets and `axis.toml` (listening on a free port chosen by the OS) under `dir`.
    pub fn create(dir: &Path) -> AxisDir {
        let pki = dir.join("pki");
        let ca = TestCa::create("docgate test axis CA", &pki, "ca").expect("CA");
        ca.issue_server("axis", &pki, "axis")
            .expect("server certificate");
        std::fs::create_dir_all(dir.join("secrets")).expect("secrets dir");
        let mut systems = String::new();
        for (id, name, agencies, locked) in [
            (COMMUNE, "UBND xã Thử Nghiệm", vec![COMMUNE], false),
            (
                PROVINCE,
                "UBND tỉnh",
                vec![PROVINCE, PROVINCE_OFFICE],
                false,
            ),
            (LOCKED, "Hệ thống bị khóa", vec![LOCKED], true),
        ] {
            ca.issue_client(id, &pki, id, None)
                .expect("client certificate");
            std::fs::write(dir.join("secrets").join(id), format!("{}\n", secret_of(id)))
                .expect("secret");
            let agencies: Vec<String> = agencies.iter().map(|code| format!("{code:?}")).collect();
            systems.push_str(&format!(
                "\n[[systems]]\nid = {id:?}\nname = {name:?}\nsecret_file = \"secrets/{id}\"\nagencies = [{}]\nlocked = {locked}\n",
                agencies.join(", ")
            ));
        }
        let config = dir.join("axis.toml");
        std::fs::write(
            &config,
            format!(
                "[axis]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\nmax_packet_bytes = {MAX_PACKET_BYTES}\nmax_clock_skew_secs = 300\nlong_poll_max_secs = 10\nshutdown_timeout_secs = 5\n\n[tls]\ncertificate = \"pki/axis.pem\"\nkey = \"pki/axis.key\"\nclient_ca = \"pki/ca.pem\"\ncrls = []\n{systems}"
            ),
        )
        .expect("axis.toml");
        AxisDir {
            dir: dir.to_path_buf(),
            config,
            ca,
        }
    }

    pub fn ca_certificate(&self) -> PathBuf {
        self.ca.certificate.clone()
    }

    /// The credentials the axis registered for `system_id`.
    pub fn credentials(&self, system_id: &str) -> Credentials {
        let pki = self.dir.join("pki");
        Credentials {
            system_id: system_id.to_owned(),
            secret: secret_of(system_id),
            certificate: IssuedFiles {
                certificate: pki.join(format!("{system_id}.pem")),
                key: pki.join(format!("{system_id}.key")),
            },
        }
    }

    /// Starts `docgate axis` and waits for its `axis listening on` line.
    pub fn start(&self) -> AxisProcess {
        let mut child = super::docgate()
            .args(["axis", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docgate axis");
        let stderr = child.stderr.take().expect("stderr");
        let (ready, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("axis listening on ") {
                    let _ = ready.send(rest.trim().to_owned());
                }
                eprintln!("[axis] {line}");
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let status = child.try_wait();
                let _ = child.kill();
                panic!("docgate axis did not become ready (exit: {status:?})");
            }
        };
        AxisProcess {
            child: Some(child),
            url: format!("https://{address}"),
        }
    }

    /// A client for a registered system.
    pub fn client(&self, process: &AxisProcess, system_id: &str) -> AxisClient {
        AxisClient::new(
            &process.url,
            &self.ca_certificate(),
            self.credentials(system_id),
        )
    }
}

/// The shared secret of a test system (deterministic, 24+ characters).
pub fn secret_of(system_id: &str) -> String {
    format!("test-secret-of-{system_id}-0123456789")
}

/// A running `docgate axis`. Killed (SIGKILL) on drop if still running.
pub struct AxisProcess {
    child: Option<Child>,
    pub url: String,
}

impl AxisProcess {
    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("wait for docgate axis").code()
    }
}

impl Drop for AxisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An answer: HTTP status, headers and body.
pub struct RawAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The body as an `AxisAnswer` (panics when it is not one).
    pub fn answer(&self) -> AxisAnswer {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not an AxisAnswer ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A signed VDXP client over mutual TLS, as a gateway would be.
pub struct AxisClient {
    pub url: String,
    pub credentials: Credentials,
    http: Client,
}

impl AxisClient {
    /// Trusts `ca` only and presents `credentials.certificate`.
    pub fn new(url: &str, ca: &Path, credentials: Credentials) -> AxisClient {
        let config = tls::client_config(
            ca,
            &credentials.certificate.certificate,
            &credentials.certificate.key,
        )
        .expect("client TLS config");
        AxisClient {
            url: url.to_owned(),
            credentials,
            http: tls_client(config),
        }
    }

    /// A signed call: `headers` are logical headers, signed and sent as `XroadVnpt-*`.
    pub fn try_call(
        &self,
        operation: Operation,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<RawAnswer, reqwest::Error> {
        let mut request =
            SignedRequest::new(&self.credentials.system_id, time::OffsetDateTime::now_utc());
        for (name, value) in headers {
            request = request.with(name, value);
        }
        self.send_signed(
            operation,
            request.sign(self.credentials.secret.as_bytes()),
            body,
        )
    }

    /// Sends `signed` headers as they are (for tampering tests).
    pub fn send_signed(
        &self,
        operation: Operation,
        signed: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<RawAnswer, reqwest::Error> {
        let mut builder = self
            .http
            .post(format!("{}/{}", self.url, operation.path()))
            .header("User-Agent", header::USER_AGENT_VALUE);
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        if let Some(body) = body {
            builder = builder
                .header("Content-Type", "application/octet-stream")
                .body(body);
        }
        let response = builder.send()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes()?.to_vec();
        Ok(RawAnswer {
            status,
            headers,
            body,
        })
    }

    pub fn call(
        &self,
        operation: Operation,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> RawAnswer {
        self.try_call(operation, headers, body)
            .unwrap_or_else(|error| panic!("{} failed: {error:?}", operation.path()))
    }

    /// `sendEdoc` of `packet` as `messagetype`, with its true SHA-256.
    pub fn send(&self, packet: &[u8], messagetype: &str) -> RawAnswer {
        let hash = super::sha256_hex(packet);
        self.send_with_hash(packet, messagetype, &hash)
    }

    pub fn send_with_hash(&self, packet: &[u8], messagetype: &str, hash: &str) -> RawAnswer {
        let system_id = self.credentials.system_id.clone();
        self.call(
            Operation::SendEdoc,
            &[
                (header::FROM, &system_id),
                (header::SERVICE_TYPE, header::SERVICE_TYPE_EDOC),
                (header::MESSAGE_TYPE, messagetype),
                (header::HASH_FILE, hash),
            ],
            Some(packet.to_vec()),
        )
    }

    /// `sendEdoc` with a body of unknown length (chunked transfer encoding), so the axis
    /// can only enforce its limit while streaming.
    pub fn send_chunked(&self, packet: Vec<u8>, messagetype: &str) -> RawAnswer {
        let hash = super::sha256_hex(&packet);
        let signed =
            SignedRequest::new(&self.credentials.system_id, time::OffsetDateTime::now_utc())
                .with(header::FROM, &self.credentials.system_id)
                .with(header::SERVICE_TYPE, header::SERVICE_TYPE_EDOC)
                .with(header::MESSAGE_TYPE, messagetype)
                .with(header::HASH_FILE, &hash)
                .sign(self.credentials.secret.as_bytes());
        let mut builder = self
            .http
            .post(format!("{}/{}", self.url, Operation::SendEdoc.path()))
            .header("User-Agent", header::USER_AGENT_VALUE)
            .header("Content-Type", "application/octet-stream");
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(reqwest::blocking::Body::new(Cursor::new(packet)))
            .send()
            .expect("sendEdoc (chunked)");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().expect("body").to_vec();
        RawAnswer {
            status,
            headers,
            body,
        }
    }

    /// `getReceivedEdocList`, optionally filtered by message type.
    pub fn received(&self, messagetype: Option<&str>) -> AxisAnswer {
        let headers: Vec<(&str, &str)> = messagetype
            .map(|kind| vec![(header::MESSAGE_TYPE, kind)])
            .unwrap_or_default();
        let answer = self.call(Operation::GetReceivedEdocList, &headers, None);
        assert_eq!(answer.status, 200);
        answer.answer()
    }

    /// The docIds of `getReceivedEdocList`.
    pub fn received_ids(&self, messagetype: Option<&str>) -> Vec<String> {
        let answer = self.received(messagetype);
        assert!(answer.is_ok(), "{answer:?}");
        answer
            .data
            .and_then(|data| data.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|item| item["docId"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn get_edoc_raw(&self, doc_id: &str) -> RawAnswer {
        self.call(
            Operation::GetEdoc,
            &[
                (header::DOC_ID, doc_id),
                (header::FORMAT, header::FORMAT_RAW),
            ],
            None,
        )
    }

    pub fn get_edoc_json(&self, doc_id: &str) -> RawAnswer {
        self.call(Operation::GetEdoc, &[(header::DOC_ID, doc_id)], None)
    }

    pub fn update_status(&self, doc_id: &str, status: &str) -> AxisAnswer {
        let answer = self.call(
            Operation::UpdateStatus,
            &[(header::DOC_ID, doc_id), (header::STATUS, status)],
            None,
        );
        assert_eq!(answer.status, 200);
        answer.answer()
    }

    pub fn wait_for_edoc(&self, seconds: u64) -> AxisAnswer {
        let wait = seconds.to_string();
        let answer = self.call(Operation::WaitForEdoc, &[(header::WAIT, &wait)], None);
        assert_eq!(answer.status, 200);
        answer.answer()
    }
}

/// A blocking reqwest client with exactly this rustls configuration.
pub fn tls_client(config: rustls::ClientConfig) -> Client {
    Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// An edoc packet from `from` to `to`, numbered `number`, with one small attachment whose
/// content depends on `tag`.
pub fn edoc_packet(
    from: &str,
    to: &[&str],
    number: u32,
    tag: &str,
    business: Option<BusinessDocType>,
) -> Vec<u8> {
    let content = format!("Nội dung văn bản {tag}").into_bytes();
    edoc_packet_with(from, to, number, tag, business, content)
}

/// Bytes that do not compress (a simple LCG), so a packet of about `size` * 4/3 bytes.
pub fn incompressible(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..size)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

/// Like [`edoc_packet`], with `content` as the attachment's bytes.
pub fn edoc_packet_with(
    from: &str,
    to: &[&str],
    number: u32,
    tag: &str,
    business: Option<BusinessDocType>,
    content: Vec<u8>,
) -> Vec<u8> {
    let organization = |code: &str| Organization {
        organ_id: code.to_owned(),
        organ_name: Some(format!("Cơ quan {code}")),
        ..Organization::default()
    };
    let header = Header::Edoc(EdocHeader {
        from: organization(from),
        to: to.iter().map(|code| organization(code)).collect(),
        document_id: Some(format!("{from},2026/11/21,{number}/UBND-VP")),
        code: Code {
            code_number: Some(number.to_string()),
            code_notation: Some("UBND-VP".into()),
        },
        promulgation_info: PromulgationInfo {
            place: Some("Nghệ An".into()),
            promulgation_date: Some("2026/11/21".into()),
        },
        subject: Some(format!("Về việc thử nghiệm trục ({tag})")),
        business: business.map(|business_doc_type| Business {
            document_id: Some(format!("{from},2026/11/21,{number}/UBND-VP")),
            business_doc_type,
            ..Business::default()
        }),
        ..EdocHeader::default()
    });
    let attachment = OutgoingAttachment::from_reader("van-ban.txt", Box::new(Cursor::new(content)));
    let mut packet = Vec::new();
    write_packet(&header, &[attachment], &mut packet).expect("write an edoc packet");
    packet
}

/// A status packet from `from` about `document_id`, which `original_sender` sent.
pub fn status_packet(from: &str, original_sender: &str, document_id: &str) -> Vec<u8> {
    let header = Header::Status(StatusHeader {
        from: Organization {
            organ_id: from.to_owned(),
            ..Organization::default()
        },
        response_for: ResponseFor {
            organ_id: Some(original_sender.to_owned()),
            code: Some("1/UBND-VP".into()),
            promulgation_date: Some("2026/11/21".into()),
            document_id: Some(document_id.to_owned()),
        },
        staff_info: StaffInfo::default(),
        status_code: StatusCode::Accepted,
        description: Some("Đã tiếp nhận".into()),
        timestamp: Some("2026/11/21 10:00:00".into()),
    });
    let mut packet = Vec::new();
    write_packet(&header, &[], &mut packet).expect("write a status packet");
    packet
}
