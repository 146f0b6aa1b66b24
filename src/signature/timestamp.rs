//! RFC 3161 timestamps: the request for a signature value's timestamp, the HTTP exchange
//! with the configured timestamp authority (`application/timestamp-query`), checking the
//! answer against what was asked (status, imprint, nonce), and reading a token back into
//! facts for the verifier (time, TSA certificate, whether its own signature holds).
//!
//! Does not decide whether the TSA is trusted (`trust`) or when to ask (the signing
//! workflow); never changes a signature's signed part.

use std::time::Duration;

use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use super::cms;
use super::signer::oid;

/// Why a timestamp could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    #[error("the timestamp authority at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the timestamp authority at {url} answered HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("the timestamp authority refused the request (status {status}{detail})")]
    Refused { status: String, detail: String },
    #[error("the timestamp authority's answer is not usable: {reason}")]
    BadResponse { reason: String },
    #[error("cannot build the timestamp request: {reason}")]
    Request { reason: String },
}

fn bad(reason: impl std::fmt::Display) -> TimestampError {
    TimestampError::BadResponse {
        reason: reason.to_string(),
    }
}

/// A request ready to send, with what the answer must repeat.
#[derive(Debug, Clone)]
pub struct TimestampRequest {
    pub der: Vec<u8>,
    imprint: Vec<u8>,
    nonce: Vec<u8>,
}

impl TimestampRequest {
    /// A request for the SHA-256 of `message` (for a PAdES signature timestamp: the CMS
    /// signature value), asking for the TSA's certificate, with a random nonce.
    pub fn new(message: &[u8]) -> Result<TimestampRequest, TimestampError> {
        let failed = |error: der::Error| TimestampError::Request {
            reason: error.to_string(),
        };
        let imprint = ring::digest::digest(&ring::digest::SHA256, message)
            .as_ref()
            .to_vec();
        let mut nonce = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(
            |_| TimestampError::Request {
                reason: "no random numbers for the nonce".into(),
            },
        )?;
        // A positive INTEGER: clear the top bit instead of adding a zero byte.
        nonce[0] &= 0x7f;
        nonce[0] |= 0x01;
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifier {
                    oid: oid::ID_SHA_256,
                    parameters: None,
                },
                hashed_message: OctetString::new(imprint.clone()).map_err(failed)?,
            },
            req_policy: None,
            nonce: Some(Int::new(&nonce).map_err(failed)?),
            cert_req: true,
            extensions: None,
        };
        Ok(TimestampRequest {
            der: request.to_der().map_err(failed)?,
            imprint,
            nonce: nonce.to_vec(),
        })
    }

    /// Checks a DER `TimeStampResp` against this request and returns the token (DER
    /// `ContentInfo`) to embed.
    pub fn accept(&self, response_der: &[u8]) -> Result<Vec<u8>, TimestampError> {
        let response = TimeStampResp::from_der(response_der).map_err(bad)?;
        use cmpv2::status::PkiStatus;
        if !matches!(
            response.status.status,
            PkiStatus::Accepted | PkiStatus::GrantedWithMods
        ) {
            let detail = response
                .status
                .status_string
                .as_ref()
                .map(|texts| {
                    let texts: Vec<String> =
                        texts.iter().map(|text| text.as_str().to_owned()).collect();
                    format!(": {}", texts.join("; "))
                })
                .unwrap_or_default();
            return Err(TimestampError::Refused {
                status: format!("{:?}", response.status.status),
                detail,
            });
        }
        let token = response
            .time_stamp_token
            .ok_or_else(|| bad("granted, but no token"))?
            .to_der()
            .map_err(bad)?;
        let info = token_info(&token)?;
        if info.message_imprint.hashed_message.as_bytes() != self.imprint.as_slice()
            || info.message_imprint.hash_algorithm.oid != oid::ID_SHA_256
        {
            return Err(bad("the token stamps something else than what was asked"));
        }
        let nonce = info.nonce.as_ref().map(|nonce| nonce.as_bytes().to_vec());
        if nonce.as_deref() != Some(self.nonce.as_slice()) {
            return Err(bad(
                "the token's nonce is not the request's (a replayed answer?)",
            ));
        }
        Ok(token)
    }
}

/// The `TSTInfo` inside a token.
fn token_info(token_der: &[u8]) -> Result<TstInfo, TimestampError> {
    let parsed = cms::parse(token_der).map_err(bad)?;
    if parsed.content_type != oid::ID_CT_TST_INFO {
        return Err(bad("the token does not hold a TSTInfo"));
    }
    let content = parsed.content.ok_or_else(|| bad("the token is empty"))?;
    TstInfo::from_der(&content).map_err(bad)
}

/// What a timestamp token says, and whether its own signature holds.
#[derive(Debug, Clone)]
pub struct TimestampFacts {
    /// `genTime`.
    pub time: time::OffsetDateTime,
    /// Whether the token stamps the SHA-256 of the expected message.
    pub imprint_matches: bool,
    /// Whether the TSA's signature over the token is valid (its certificate's trust is
    /// judged separately).
    pub signature_valid: bool,
    /// The TSA's certificate (DER), when the token carries it.
    pub tsa_certificate: Option<Vec<u8>>,
    /// All certificates the token carries, for chain building.
    pub certificates: Vec<Vec<u8>>,
}

/// Reads a timestamp token over `message` (a signature value).
pub fn examine(token_der: &[u8], message: &[u8]) -> Result<TimestampFacts, TimestampError> {
    let parsed = cms::parse(token_der).map_err(bad)?;
    let info = token_info(token_der)?;
    let expected = ring::digest::digest(&ring::digest::SHA256, message);
    let imprint_matches = info.message_imprint.hash_algorithm.oid == oid::ID_SHA_256
        && info.message_imprint.hashed_message.as_bytes() == expected.as_ref();
    let content_digest = parsed
        .content
        .as_ref()
        .map(|content| ring::digest::digest(&ring::digest::SHA256, content));
    let digest_matches = matches!(
        (&content_digest, &parsed.message_digest),
        (Some(actual), Some(signed)) if actual.as_ref() == signed.as_slice()
    );
    let signature_valid = digest_matches
        && parsed.digest_is_sha256
        && parsed
            .signer_certificate
            .as_ref()
            .is_some_and(|certificate| cms::signature_is_valid(&parsed, certificate));
    let seconds = info.gen_time.to_unix_duration().as_secs();
    let time = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
        .ok_or_else(|| bad("the token's time is out of range"))?;
    Ok(TimestampFacts {
        time,
        imprint_matches,
        signature_valid,
        tsa_certificate: parsed.signer_certificate,
        certificates: parsed.certificates,
    })
}

/// The configured timestamp authority, over HTTP(S).
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    http: reqwest::Client,
}

impl TsaClient {
    /// A client for `url`, giving up on one request after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<TsaClient, TimestampError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| TimestampError::Unreachable {
                url: url.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(TsaClient {
            url: url.to_owned(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks for a timestamp over `message` and returns the checked token.
    pub async fn stamp(&self, message: &[u8]) -> Result<Vec<u8>, TimestampError> {
        let request = TimestampRequest::new(message)?;
        let unreachable = |error: reqwest::Error| TimestampError::Unreachable {
            url: self.url.clone(),
            reason: error.to_string(),
        };
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(request.der.clone())
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(TimestampError::Http {
                url: self.url.clone(),
                status: response.status().as_u16(),
            });
        }
        // A timestamp response is a few kilobytes; refuse anything absurd.
        const LIMIT: usize = 256 * 1024;
        if response
            .content_length()
            .is_some_and(|length| length > LIMIT as u64)
        {
            return Err(bad("the answer is larger than 256 KiB"));
        }
        let body = response.bytes().await.map_err(unreachable)?;
        if body.len() > LIMIT {
            return Err(bad("the answer is larger than 256 KiB"));
        }
        request.accept(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_der_openssl_can_read_back() {
        let request = TimestampRequest::new(b"signature value").expect("request");
        let parsed = TimeStampReq::from_der(&request.der).expect("decode");
        assert!(parsed.cert_req);
        assert_eq!(
            parsed.message_imprint.hashed_message.as_bytes(),
            ring::digest::digest(&ring::digest::SHA256, b"signature value").as_ref()
        );
        assert!(parsed.nonce.is_some());
    }

    #[test]
    fn a_garbage_answer_is_refused_clearly() {
        let request = TimestampRequest::new(b"x").expect("request");
        for body in [
            &b""[..],
            b"<html>502 Bad Gateway</html>",
            b"\x30\x03\x02\x01\x00",
        ] {
            let error = request.accept(body).expect_err("refused");
            assert!(
                matches!(
                    error,
                    TimestampError::BadResponse { .. } | TimestampError::Refused { .. }
                ),
                "{error}"
            );
        }
    }
}
