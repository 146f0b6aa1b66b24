//! The certificates a gateway depends on and when they expire: the axis link's client
//! certificate and CA, and the agency seal's certificate when it is in a key file. Read from
//! the files the configuration names, each time they are asked for (they are small, and a
//! renewed file is seen at once). Reads; never decides what an expiry means for health.

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

/// Subject, not-before and not-after of the first certificate in a PEM file.
struct CertificateFacts {
    subject: Option<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn read_first(path: &Path) -> Result<CertificateFacts, TlsError> {
    use x509_cert::der::Decode;
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
    let certificate = x509_cert::Certificate::from_der(first.as_ref())
        .map_err(|error| unreadable(error.to_string()))?;
    let validity = &certificate.tbs_certificate.validity;
    let instant = |time: x509_cert::time::Time| {
        let seconds = time.to_unix_duration().as_secs();
        i64::try_from(seconds)
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .ok_or_else(|| unreadable("a validity date out of range".into()))
    };
    Ok(CertificateFacts {
        subject: certificate_common_name(first.as_ref()),
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
