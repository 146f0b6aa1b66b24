//! The certificates a gateway depends on and when they expire: the axis link's client
//! certificate and CA, and the agency seal's certificate — in a key file, or on the token.
//! Files are read each time they are asked for (they are small, and a renewed file is seen
//! at once); a certificate on the token is judged from the DER the sealer read there
//! ([`validity_of_der`]). Reads; never decides what an expiry means for health.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::tls::{certificate_common_name, load_certificates, TlsError};

/// Days before expiry from which a certificate is reported as expiring soon.
pub const WARN_DAYS: i64 = 30;

/// A certificate to watch: what it is for and the PEM file holding it (first certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedCertificate {
    /// `link` (the axis link's client certificate), `link-ca`, `agency` (the seal).
    pub role: &'static str,
    pub path: PathBuf,
}

/// One certificate's validity as of now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateValidity {
    pub role: &'static str,
    /// Subject common name, when it has one.
    pub subject: Option<String>,
    /// RFC 3339 UTC.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// Seconds left until `not_after` (negative once expired).
    pub seconds_left: Option<i64>,
    /// `valid`, `expiring` (under [`WARN_DAYS`] left), `expired`, `not_yet_valid` or
    /// `unreadable` (with `problem`).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The validity of each watched certificate at `now`.
pub fn validity(watched: &[WatchedCertificate], now: OffsetDateTime) -> Vec<CertificateValidity> {
    watched
        .iter()
        .map(|certificate| match read_first(&certificate.path) {
            Ok(facts) => judge(certificate.role, facts, now),
            Err(error) => CertificateValidity {
                role: certificate.role,
                subject: None,
                not_before: None,
                not_after: None,
                seconds_left: None,
                state: "unreadable",
                problem: Some(error.to_string()),
            },
        })
        .collect()
}

/// The validity at `now` of a DER certificate held elsewhere (the seal certificate on the
/// token), as `role`.
pub fn validity_of_der(role: &'static str, der: &[u8], now: OffsetDateTime) -> CertificateValidity {
    match parse(der) {
        Ok(facts) => judge(role, facts, now),
        Err(reason) => CertificateValidity {
            role,
            subject: None,
            not_before: None,
            not_after: None,
            seconds_left: None,
            state: "unreadable",
            problem: Some(format!("the certificate read from the token: {reason}")),
        },
    }
}

/// Subject, not-before and not-after of the first certificate in a PEM file.
struct CertificateFacts {
    subject: Option<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn read_first(path: &Path) -> Result<CertificateFacts, TlsError> {
    let certificates = load_certificates(path)?;
    let first = certificates.first().ok_or_else(|| TlsError::Empty {
        what: "certificate",
        path: path.to_path_buf(),
    })?;
    let unreadable = |reason: String| TlsError::Read {
        what: "certificate",
        path: path.to_path_buf(),
        reason,
    };
    parse(first.as_ref()).map_err(unreadable)
}

/// The facts of one DER certificate; `Err` is why it cannot be read.
fn parse(der: &[u8]) -> Result<CertificateFacts, String> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).map_err(|error| error.to_string())?;
    let validity = &certificate.tbs_certificate.validity;
    let instant = |time: x509_cert::time::Time| {
        let seconds = time.to_unix_duration().as_secs();
        i64::try_from(seconds)
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .ok_or_else(|| "a validity date out of range".to_owned())
    };
    Ok(CertificateFacts {
        subject: certificate_common_name(der),
        not_before: instant(validity.not_before)?,
        not_after: instant(validity.not_after)?,
    })
}

fn judge(role: &'static str, facts: CertificateFacts, now: OffsetDateTime) -> CertificateValidity {
    let seconds_left = (facts.not_after - now).whole_seconds();
    let state = if now < facts.not_before {
        "not_yet_valid"
    } else if seconds_left <= 0 {
        "expired"
    } else if seconds_left < WARN_DAYS * 86_400 {
        "expiring"
    } else {
        "valid"
    };
    CertificateValidity {
        role,
        subject: facts.subject,
        not_before: Some(super::clock::rfc3339_utc(facts.not_before)),
        not_after: Some(super::clock::rfc3339_utc(facts.not_after)),
        seconds_left: Some(seconds_left),
        state,
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn facts() -> CertificateFacts {
        CertificateFacts {
            subject: Some("gw".into()),
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2027-01-01 0:00 UTC),
        }
    }

    #[test]
    fn states_by_date() {
        let at = |now| judge("link", facts(), now).state;
        assert_eq!(at(datetime!(2025-12-31 0:00 UTC)), "not_yet_valid");
        assert_eq!(at(datetime!(2026-06-01 0:00 UTC)), "valid");
        assert_eq!(at(datetime!(2026-12-15 0:00 UTC)), "expiring");
        assert_eq!(at(datetime!(2027-01-01 0:00 UTC)), "expired");
    }

    #[test]
    fn a_der_certificate_is_judged_like_a_file() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.not_before = datetime!(2026-01-01 0:00 UTC);
        params.not_after = datetime!(2026-02-01 0:00 UTC);
        let der = params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec();
        let report = validity_of_der("agency", &der, datetime!(2026-01-20 0:00 UTC));
        assert_eq!(report.role, "agency");
        assert_eq!(report.state, "expiring");
        assert_eq!(report.seconds_left, Some(12 * 86_400));
        assert_eq!(
            report.not_after.as_deref(),
            Some("2026-02-01T00:00:00.000Z")
        );
        let garbage = validity_of_der("agency", b"not DER", datetime!(2026-01-20 0:00 UTC));
        assert_eq!(garbage.state, "unreadable");
        assert!(garbage
            .problem
            .is_some_and(|problem| problem.contains("token")));
    }

    #[test]
    fn a_missing_file_is_unreadable_not_an_error() {
        let watched = [WatchedCertificate {
            role: "link",
            path: "/nonexistent/cert.pem".into(),
        }];
        let report = validity(&watched, datetime!(2026-06-01 0:00 UTC));
        assert_eq!(report[0].state, "unreadable");
        assert!(report[0].problem.is_some());
    }
}
