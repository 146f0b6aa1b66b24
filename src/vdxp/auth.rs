//! The SDK's signed headers (VDXP SDK 2.0.1): a map of logical headers, each also sent as
//! `XroadVnpt-<name>`, the map itself as a JSON string in `XroadVnpt-sign-header`, and
//! `XroadVnpt-hash-header` = hex HMAC-SHA256(secret, that string). The server verifies the
//! bytes it received, so key order never matters.
//!
//! Owns signing ([`SignedRequest`]) and checking ([`verify`]): the HMAC (constant time, via
//! `ring`), that every signed name is also sent as a header with the same value (so a
//! relay cannot swap a header under a valid signature), and that the timestamp is recent.
//! Does not know which secret belongs to whom (the caller's lookup) or what the headers
//! mean to an operation.

use std::collections::BTreeMap;
use std::time::Duration;

use ring::hmac;
use time::{macros::format_description, OffsetDateTime, PrimitiveDateTime};

use super::header;
use crate::system::clock::VIETNAM;

/// The longest `XroadVnpt-sign-header` accepted, in bytes.
const MAX_SIGN_HEADER_BYTES: usize = 8 * 1024;

/// A request's logical headers, to be signed.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    headers: BTreeMap<String, String>,
}

impl SignedRequest {
    /// Starts the map with `systemid` and `timestamp` (Vietnam local time, the SDK's
    /// `ddMMyyyy'T'HHmmss+SSSS`).
    pub fn new(system_id: &str, now: OffsetDateTime) -> SignedRequest {
        let mut headers = BTreeMap::new();
        headers.insert(header::SYSTEM_ID.to_owned(), system_id.to_owned());
        headers.insert(header::TIMESTAMP.to_owned(), format_timestamp(now));
        SignedRequest { headers }
    }

    /// Adds one logical header.
    pub fn with(mut self, name: &str, value: &str) -> SignedRequest {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The HTTP headers to send: each logical header, the signed map, its key list, the
    /// HMAC and the version. (`User-Agent` is the client's to set.)
    pub fn sign(&self, secret: &[u8]) -> Vec<(String, String)> {
        let sign_header = serde_json::to_string(&self.headers).unwrap_or_else(|_| "{}".into());
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hex::encode(hmac::sign(&key, sign_header.as_bytes()).as_ref());
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            // Content-Type travels as itself, not prefixed: it is the body's real type.
            .filter(|(name, _)| name.as_str() != header::CONTENT_TYPE)
            .map(|(name, value)| (format!("{}{name}", header::PREFIX), value.clone()))
            .collect();
        let names: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        out.push((header::SIGN_HEADER.to_owned(), sign_header));
        out.push((header::SIGN_HEADER_KEY.to_owned(), names.join(";")));
        out.push((header::HASH_HEADER.to_owned(), tag));
        out.push((header::VERSION.to_owned(), header::VERSION_VALUE.to_owned()));
        out
    }
}

/// The logical headers of a request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHeaders {
    headers: BTreeMap<String, String>,
}

impl VerifiedHeaders {
    /// The calling system, as signed.
    pub fn system_id(&self) -> &str {
        self.get(header::SYSTEM_ID).unwrap_or_default()
    }

    /// A signed logical header (names compare without regard to case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Why a request's signature was refused. Messages are safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("XroadVnpt-sign-header is not a JSON object of strings ({0})")]
    Malformed(String),
    #[error("system {0:?} is not registered with this axis")]
    UnknownSystem(String),
    #[error("XroadVnpt-hash-header does not match the signed headers; check the shared secret")]
    BadSignature,
    #[error("signed header {name} differs from the {name} header sent")]
    HeaderMismatch { name: String },
    #[error("timestamp {0:?} is not in the SDK format ddMMyyyy'T'HHmmss+SSSS")]
    BadTimestamp(String),
    #[error("timestamp {0:?} is too far from the axis clock; check the gateway's time (NTP)")]
    Stale(String),
}

/// Checks a request's signed headers. `get` reads an HTTP header by name (case-insensitive);
/// `secret_for` gives the secret registered for a system id.
pub fn verify(
    get: impl Fn(&str) -> Option<String>,
    secret_for: impl FnOnce(&str) -> Option<Vec<u8>>,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<VerifiedHeaders, AuthError> {
    let sign_header = get(header::SIGN_HEADER).ok_or(AuthError::Missing(header::SIGN_HEADER))?;
    let tag = get(header::HASH_HEADER).ok_or(AuthError::Missing(header::HASH_HEADER))?;
    if sign_header.len() > MAX_SIGN_HEADER_BYTES {
        return Err(AuthError::Malformed("too long".into()));
    }
    let headers: BTreeMap<String, String> = serde_json::from_str(&sign_header)
        .map_err(|error| AuthError::Malformed(error.to_string()))?;
    let system_id = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(header::SYSTEM_ID))
        .map(|(_, value)| value.clone())
        .ok_or(AuthError::Missing("systemid in XroadVnpt-sign-header"))?;
    let secret = secret_for(&system_id).ok_or(AuthError::UnknownSystem(system_id))?;
    let tag = hex::decode(tag.trim()).map_err(|_| AuthError::BadSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    hmac::verify(&key, sign_header.as_bytes(), &tag).map_err(|_| AuthError::BadSignature)?;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case(header::CONTENT_TYPE) {
            continue;
        }
        let sent = get(&format!("{}{name}", header::PREFIX));
        if sent.as_deref().map(str::trim) != Some(value.trim()) {
            return Err(AuthError::HeaderMismatch { name: name.clone() });
        }
    }
    let verified = VerifiedHeaders { headers };
    let timestamp = verified
        .get(header::TIMESTAMP)
        .ok_or(AuthError::Missing("timestamp in XroadVnpt-sign-header"))?;
    let signed_at =
        parse_timestamp(timestamp).ok_or_else(|| AuthError::BadTimestamp(timestamp.to_owned()))?;
    let skew = (now - signed_at).unsigned_abs();
    if skew > max_skew {
        return Err(AuthError::Stale(timestamp.to_owned()));
    }
    Ok(verified)
}

/// `ddMMyyyy'T'HHmmss+SSSS` in Vietnam local time, as the Java SDK formats it (`+` is a
/// literal; `SSSS` is the milliseconds, padded to four digits).
pub fn format_timestamp(now: OffsetDateTime) -> String {
    let local = now.to_offset(VIETNAM);
    let main = local
        .format(format_description!(
            "[day][month][year]T[hour][minute][second]"
        ))
        .unwrap_or_default();
    format!("{main}+{:04}", local.millisecond())
}

/// Reads a [`format_timestamp`] string back as an instant.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let (main, millis) = text.trim().split_once('+')?;
    if millis.len() != 4 || !millis.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let millis: u16 = millis.parse().ok()?;
    let local = PrimitiveDateTime::parse(
        main,
        format_description!("[day][month][year]T[hour][minute][second]"),
    )
    .ok()?;
    let local = local.replace_millisecond(millis).ok()?;
    Some(local.assume_offset(VIETNAM))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use time::macros::datetime;

    const SECRET: &[u8] = b"shared secret of the commune";

    fn sent(request: &SignedRequest) -> HashMap<String, String> {
        request
            .sign(SECRET)
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect()
    }

    fn check(
        headers: &HashMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<VerifiedHeaders, AuthError> {
        verify(
            |name| headers.get(&name.to_ascii_lowercase()).cloned(),
            |system| (system == "001.01.10.H41").then(|| SECRET.to_vec()),
            now,
            Duration::from_secs(300),
        )
    }

    fn request(now: OffsetDateTime) -> SignedRequest {
        SignedRequest::new("001.01.10.H41", now)
            .with(header::FROM, "001.01.10.H41")
            .with(header::MESSAGE_TYPE, "edoc")
    }

    #[test]
    fn a_signed_request_verifies() {
        let now = datetime!(2026-11-22 03:04:05.067 UTC);
        let headers = sent(&request(now));
        assert_eq!(headers["xroadvnpt-timestamp"], "22112026T100405+0067");
        let verified = check(&headers, now).expect("verifies");
        assert_eq!(verified.system_id(), "001.01.10.H41");
        assert_eq!(verified.get("MessageType"), Some("edoc"));
    }

    #[test]
    fn tampering_is_refused() {
        let now = datetime!(2026-11-22 03:04:05 UTC);
        let mut swapped = sent(&request(now));
        swapped.insert("xroadvnpt-messagetype".into(), "status".into());
        assert!(matches!(
            check(&swapped, now),
            Err(AuthError::HeaderMismatch { .. })
        ));

        let mut forged = sent(&request(now));
        let body = forged["xroadvnpt-sign-header"].replace("edoc", "status");
        forged.insert("xroadvnpt-sign-header".into(), body);
        forged.insert("xroadvnpt-messagetype".into(), "status".into());
        assert_eq!(check(&forged, now), Err(AuthError::BadSignature));

        let mut wrong_system = sent(&SignedRequest::new("someone.else", now));
        wrong_system.remove("xroadvnpt-version");
        assert!(matches!(
            check(&wrong_system, now),
            Err(AuthError::UnknownSystem(_))
        ));

        let mut missing = sent(&request(now));
        missing.remove("xroadvnpt-hash-header");
        assert!(matches!(check(&missing, now), Err(AuthError::Missing(_))));

        let mut garbage = sent(&request(now));
        garbage.insert("xroadvnpt-sign-header".into(), "[1,2".into());
        assert!(matches!(check(&garbage, now), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn an_old_timestamp_is_refused() {
        let signed = datetime!(2026-11-22 03:04:05 UTC);
        let headers = sent(&request(signed));
        let later = signed + time::Duration::minutes(6);
        assert!(matches!(check(&headers, later), Err(AuthError::Stale(_))));
        assert!(check(&headers, signed + time::Duration::minutes(4)).is_ok());
    }

    #[test]
    fn timestamps_round_trip() {
        let now = datetime!(2026-01-02 23:59:58.5 UTC);
        let text = format_timestamp(now);
        assert_eq!(text, "03012026T065958+0500");
        assert_eq!(parse_timestamp(&text), Some(now));
        assert_eq!(parse_timestamp("03012026T065958"), None);
        assert_eq!(parse_timestamp("03012026T065958+05"), None);
    }
}
