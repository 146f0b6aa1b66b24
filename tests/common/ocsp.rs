//! OpenSSL as an OCSP responder (`openssl ocsp -index … -port …`), signing as the test CA,
//! over a CA database that lists which serials are valid and which are revoked; serials
//! it does not list are answered "unknown". The responder runs until dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docgate::demo::pki::TestCa;

/// A running `openssl ocsp` responder.
pub struct OcspResponder {
    child: Child,
    pub url: String,
}

impl OcspResponder {
    /// Starts a responder in `dir` for `ca`: `valid` and `revoked` are `(serial, subject)`.
    pub fn start(dir: &Path, ca: &TestCa, valid: &[u64], revoked: &[u64]) -> OcspResponder {
        std::fs::create_dir_all(dir).expect("ocsp dir");
        let key = dir.join("ca.key");
        ca.write_key(&key).expect("ca key");
        let mut index = String::new();
        for serial in valid {
            index.push_str(&format!(
                "V\t391231235959Z\t\t{serial:02X}\tunknown\t/CN=valid {serial}\n"
            ));
        }
        for serial in revoked {
            index.push_str(&format!(
                "R\t391231235959Z\t200101000000Z\t{serial:02X}\tunknown\t/CN=revoked {serial}\n"
            ));
        }
        let index_file = dir.join("index.txt");
        std::fs::write(&index_file, index).expect("index");
        let port = super::free_port();
        let log = dir.join("responder.log");
        let log_file = std::fs::File::create(&log).expect("log");
        let child = Command::new("openssl")
            .args(["ocsp", "-index"])
            .arg(&index_file)
            .args(["-port", &port.to_string(), "-CA"])
            .arg(&ca.certificate)
            .arg("-rsigner")
            .arg(&ca.certificate)
            .arg("-rkey")
            .arg(&key)
            .args(["-ndays", "1"])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("openssl ocsp");
        let responder = OcspResponder {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Wait for its "waiting for … connections" line: a probe connection would wedge it
        // (it serves one connection at a time and hangs on one that sends nothing).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("waiting for OCSP client connections")
        {
            assert!(
                Instant::now() < deadline,
                "the OCSP responder did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        responder
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
