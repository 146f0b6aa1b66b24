//! OCSP (RFC 6960), for certificates that name a responder (Authority Information Access)
//! when no current CRL is at hand: the request for one certificate (CertID with SHA-1, as
//! responders expect), and the judgement of the answer — successful, a basic response
//! signed by the issuer or by a responder the issuer delegated (`id-kp-OCSPSigning`), for
//! this certificate, current — into a revocation status. Anything else is "unknown".
//!
//! Does not send anything (the revocation source does, over HTTP) and does not decide what
//! a revoked certificate means for a signature (`trust`).

use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, TbsRequest, Version,
};

/// id-sha1: the CertID hash responders index by.
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");

/// Clock skew tolerated on `thisUpdate` / `nextUpdate`.
const SKEW: time::Duration = time::Duration::minutes(5);

/// What an OCSP answer says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspVerdict {
    Good {
        produced_at: OffsetDateTime,
    },
    Revoked {
        at: OffsetDateTime,
    },
    /// Why nothing can be concluded.
    Unknown {
        reason: String,
    },
}

fn sha1(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .to_vec()
}

/// The responder URLs (`http(s)`) a certificate names.
pub fn responder_urls(certificate: &Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|extension| {
            extension.extn_id == const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS
        })
        .filter_map(|extension| {
            AuthorityInfoAccessSyntax::from_der(extension.extn_value.as_bytes()).ok()
        })
        .flat_map(|access| access.0)
        .filter(|description| description.access_method == const_oid::db::rfc5280::ID_AD_OCSP)
        .filter_map(|description| match description.access_location {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|uri| uri.starts_with("http://") || uri.starts_with("https://"))
        .collect()
}

/// The CertID of `certificate` issued by `issuer`.
pub fn cert_id(certificate: &Certificate, issuer: &Certificate) -> Result<CertId, der::Error> {
    let issuer_key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(sha1(&issuer.tbs_certificate.subject.to_der()?))?,
        issuer_key_hash: OctetString::new(sha1(issuer_key))?,
        serial_number: certificate.tbs_certificate.serial_number.clone(),
    })
}

/// A DER OCSP request for `id` (unsigned, no nonce: responders often pre-produce answers).
pub fn request(id: &CertId) -> Result<Vec<u8>, der::Error> {
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id.clone(),
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
}

/// Judges a DER OCSP response about `id`, issued under `issuer`, at `now`.
pub fn judge(
    response: &[u8],
    id: &CertId,
    issuer: &Certificate,
    now: OffsetDateTime,
) -> OcspVerdict {
    match judge_inner(response, id, issuer, now) {
        Ok(verdict) => verdict,
        Err(reason) => OcspVerdict::Unknown { reason },
    }
}

fn judge_inner(
    response: &[u8],
    id: &CertId,
    issuer: &Certificate,
    now: OffsetDateTime,
) -> Result<OcspVerdict, String> {
    let response =
        OcspResponse::from_der(response).map_err(|error| format!("unreadable answer: {error}"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!(
            "the responder answered {:?}",
            response.response_status
        ));
    }
    let bytes = response
        .response_bytes
        .ok_or("the answer carries no response")?;
    if bytes.response_type != const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC {
        return Err("not a basic OCSP response".into());
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|error| format!("unreadable basic response: {error}"))?;
    let signer = response_signer(&basic, issuer)
        .ok_or("the answer is not signed by the issuer or a responder it delegated")?;
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|error| error.to_string())?;
    let signature = basic.signature.as_bytes().ok_or("malformed signature")?;
    if !super::trust::verify_with(&signer, &basic.signature_algorithm.oid, &tbs, signature) {
        return Err("the answer's signature does not verify".into());
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|single| &single.cert_id == id)
        .ok_or("the answer is about another certificate")?;
    let this_update = to_offset(&single.this_update.0);
    if this_update > now + SKEW {
        return Err("the answer is dated in the future".into());
    }
    if let Some(next) = &single.next_update {
        if to_offset(&next.0) + SKEW < now {
            return Err("the answer is out of date".into());
        }
    }
    Ok(match &single.cert_status {
        CertStatus::Good(_) => OcspVerdict::Good {
            produced_at: to_offset(&basic.tbs_response_data.produced_at.0),
        },
        CertStatus::Revoked(info) => OcspVerdict::Revoked {
            at: to_offset(&info.revocation_time.0),
        },
        CertStatus::Unknown(_) => OcspVerdict::Unknown {
            reason: "the responder does not know the certificate".into(),
        },
    })
}

/// The certificate whose key signed the answer: the issuer, or a responder certificate
/// it issued with `id-kp-OCSPSigning`.
fn response_signer(basic: &BasicOcspResponse, issuer: &Certificate) -> Option<Certificate> {
    let names = |certificate: &Certificate| match &basic.tbs_response_data.responder_id {
        ResponderId::ByName(name) => &certificate.tbs_certificate.subject == name,
        ResponderId::ByKey(hash) => {
            sha1(
                certificate
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            ) == hash.as_bytes()
        }
    };
    if names(issuer) {
        return Some(issuer.clone());
    }
    basic
        .certs
        .iter()
        .flatten()
        .find(|candidate| {
            names(candidate)
                && super::trust::signed_by(candidate, issuer)
                && has_ocsp_signing(candidate)
        })
        .cloned()
}

fn has_ocsp_signing(certificate: &Certificate) -> bool {
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .filter_map(|extension| ExtendedKeyUsage::from_der(extension.extn_value.as_bytes()).ok())
        .any(|usage| {
            usage
                .0
                .contains(&const_oid::db::rfc5280::ID_KP_OCSP_SIGNING)
        })
}

fn to_offset(time: &der::asn1::GeneralizedTime) -> OffsetDateTime {
    i64::try_from(time.to_unix_duration().as_secs())
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
