//! CMS (RFC 5652) for PAdES: building the detached `SignedData` a PDF signature carries
//! (PAdES baseline B-B: content-type, message-digest and ESS signing-certificate-v2 signed
//! attributes, no signing-time attribute, SHA-256), adding the RFC 3161 signature timestamp
//! as an unsigned attribute (B-T), and reading a `SignedData` back into the facts the
//! verifier checks. Every structure goes through the `der`/`cms`/`x509-cert` types; nothing
//! here encodes ASN.1 by hand.
//!
//! Does not know about PDF byte ranges (`pdf`), trust or revocation (`trust`), or where a
//! key lives (`signer`).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::error::SignatureError;
use super::signer::{oid, DocumentSigner, SignatureAlgorithm};

/// ESS `SigningCertificateV2` (RFC 5035): binds the signature to its certificate, as
/// PAdES requires.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// ESS `ESSCertIDv2`; the hash algorithm is left out when it is the default, SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

/// ESS `IssuerSerial`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

fn sha256_identifier() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::ID_SHA_256,
        parameters: None,
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn attribute(oid: der::asn1::ObjectIdentifier, value: Any) -> Result<Attribute, SignatureError> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(SignatureError::build)?;
    Ok(Attribute { oid, values })
}

fn any_of(value: &impl Encode) -> Result<Any, SignatureError> {
    let der = value.to_der().map_err(SignatureError::build)?;
    Any::from_der(&der).map_err(SignatureError::build)
}

/// The signed attributes of a PAdES B-B signature over content whose SHA-256 is `digest`.
fn signed_attributes(
    certificate: &Certificate,
    certificate_der: &[u8],
    digest: &[u8; 32],
) -> Result<SetOfVec<Attribute>, SignatureError> {
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(sha256(certificate_der)).map_err(SignatureError::build)?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    certificate.tbs_certificate.issuer.clone(),
                )],
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            }),
        }],
    };
    let mut attributes = SetOfVec::new();
    for attribute in [
        attribute(oid::ID_CONTENT_TYPE, any_of(&oid::ID_DATA)?)?,
        attribute(
            oid::ID_MESSAGE_DIGEST,
            any_of(&OctetString::new(digest.to_vec()).map_err(SignatureError::build)?)?,
        )?,
        attribute(
            oid::ID_AA_SIGNING_CERTIFICATE_V_2,
            any_of(&signing_certificate)?,
        )?,
    ] {
        attributes
            .insert(attribute)
            .map_err(SignatureError::build)?;
    }
    Ok(attributes)
}

/// Builds a detached CMS `SignedData` (DER) over content whose SHA-256 is `digest`,
/// signed by `signer`, carrying its certificate chain. PAdES B-B.
pub fn sign_detached(
    signer: &dyn DocumentSigner,
    digest: &[u8; 32],
) -> Result<Vec<u8>, SignatureError> {
    let chain = signer.chain();
    let Some(first) = chain.first() else {
        return Err(SignatureError::build("the signer has no certificate"));
    };
    let certificate = Certificate::from_der(first)
        .map_err(|error| SignatureError::certificate("the signing certificate", error))?;
    let attributes = signed_attributes(&certificate, first, digest)?;
    // The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4).
    let to_sign = attributes.to_der().map_err(SignatureError::build)?;
    let signature = signer.sign(&to_sign)?;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256_identifier(),
        signed_attrs: Some(attributes),
        signature_algorithm: signer.algorithm().cms_identifier(),
        signature: OctetString::new(signature).map_err(SignatureError::build)?,
        unsigned_attrs: None,
    };
    let mut certificates = SetOfVec::new();
    for der in chain {
        let certificate = Certificate::from_der(der)
            .map_err(|error| SignatureError::certificate("a chain certificate", error))?;
        certificates
            .insert(CertificateChoices::Certificate(certificate))
            .map_err(SignatureError::build)?;
    }
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms
        .insert(sha256_identifier())
        .map_err(SignatureError::build)?;
    let mut signer_infos = SetOfVec::new();
    signer_infos
        .insert(signer_info)
        .map_err(SignatureError::build)?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    };
    wrap(&signed_data)
}

fn wrap(signed_data: &SignedData) -> Result<Vec<u8>, SignatureError> {
    ContentInfo {
        content_type: oid::ID_SIGNED_DATA,
        content: any_of(signed_data)?,
    }
    .to_der()
    .map_err(SignatureError::build)
}

/// Adds an RFC 3161 timestamp token (DER `ContentInfo`) over the signature value as the
/// `signatureTimeStampToken` unsigned attribute: B-B becomes B-T. The signed part is not
/// touched.
pub fn add_signature_timestamp(
    cms_der: &[u8],
    token_der: &[u8],
) -> Result<Vec<u8>, SignatureError> {
    let mut signed_data = decode_signed_data(cms_der)?;
    let token = Any::from_der(token_der).map_err(SignatureError::cms)?;
    let timestamp = attribute(oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN, token)?;
    let mut infos: Vec<SignerInfo> = signed_data.signer_infos.0.into_vec();
    let Some(info) = infos.first_mut() else {
        return Err(SignatureError::cms("no SignerInfo"));
    };
    let mut unsigned = info.unsigned_attrs.take().unwrap_or_default();
    unsigned.insert(timestamp).map_err(SignatureError::build)?;
    info.unsigned_attrs = Some(unsigned);
    signed_data.signer_infos =
        SignerInfos(SetOfVec::try_from(infos).map_err(SignatureError::build)?);
    wrap(&signed_data)
}

fn decode_signed_data(cms_der: &[u8]) -> Result<SignedData, SignatureError> {
    let content = ContentInfo::from_der(trim_padding(cms_der)?).map_err(SignatureError::cms)?;
    if content.content_type != oid::ID_SIGNED_DATA {
        return Err(SignatureError::cms(format!(
            "content type {} is not signed-data",
            content.content_type
        )));
    }
    content
        .content
        .decode_as::<SignedData>()
        .map_err(SignatureError::cms)
}

/// PDF `/Contents` holes are zero-padded: the DER ends where its outer length says.
fn trim_padding(bytes: &[u8]) -> Result<&[u8], SignatureError> {
    let mut reader = der::SliceReader::new(bytes).map_err(SignatureError::cms)?;
    let header = der::Header::decode(&mut reader).map_err(SignatureError::cms)?;
    let header_length = header.encoded_len().map_err(SignatureError::cms)?;
    let total = (header_length + header.length).map_err(SignatureError::cms)?;
    let total = usize::try_from(total).map_err(SignatureError::cms)?;
    bytes
        .get(..total)
        .ok_or_else(|| SignatureError::cms("the signature is truncated"))
}

/// What a CMS signature says, read without judging it.
#[derive(Debug, Clone)]
pub struct ParsedCms {
    /// The certificates it carries (DER), in the order found.
    pub certificates: Vec<Vec<u8>>,
    /// The signer's certificate (DER), matched by issuer and serial, or subject key id.
    pub signer_certificate: Option<Vec<u8>>,
    /// The `message-digest` signed attribute.
    pub message_digest: Option<Vec<u8>>,
    /// The digest algorithm named by the signer (only SHA-256 is accepted).
    pub digest_is_sha256: bool,
    /// The DER of the signed attributes as signed (a SET OF).
    pub signed_attributes_der: Option<Vec<u8>>,
    pub signature_algorithm: Option<SignatureAlgorithm>,
    pub signature: Vec<u8>,
    /// The RFC 3161 signature timestamp token, when present (DER `ContentInfo`).
    pub timestamp_token: Option<Vec<u8>>,
    /// The encapsulated content type and content (a timestamp token's TSTInfo); `None`
    /// content for a detached signature.
    pub content_type: der::asn1::ObjectIdentifier,
    pub content: Option<Vec<u8>>,
    /// ESS signing-certificate-v2 hash of the signer's certificate, when present.
    pub signing_certificate_hash: Option<Vec<u8>>,
    /// The `signing-time` signed attribute, when present (PAdES forbids it; CAdES uses it).
    pub signing_time: Option<time::OffsetDateTime>,
}

/// Reads a detached CMS signature (zero padding after the DER is allowed).
pub fn parse(cms_der: &[u8]) -> Result<ParsedCms, SignatureError> {
    let signed_data = decode_signed_data(cms_der)?;
    let certificates: Vec<(Certificate, Vec<u8>)> = signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(certificate) => certificate
                .to_der()
                .ok()
                .map(|der| (certificate.clone(), der)),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let infos = signed_data.signer_infos.0.as_slice();
    let [info] = infos else {
        return Err(SignatureError::cms(format!(
            "{} SignerInfos; a PDF signature has exactly one",
            infos.len()
        )));
    };
    let signer_certificate = certificates
        .iter()
        .find(|(certificate, _)| identifies(&info.sid, certificate))
        .map(|(_, der)| der.clone());
    let signature_algorithm = match info.signature_algorithm.oid {
        oid::RSA_ENCRYPTION | oid::SHA_256_WITH_RSA_ENCRYPTION => {
            Some(SignatureAlgorithm::RsaPkcs1Sha256)
        }
        oid::ECDSA_WITH_SHA_256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
        _ => None,
    };
    let signed = info.signed_attrs.as_ref();
    let find = |attributes: Option<&SetOfVec<Attribute>>, wanted| {
        attributes
            .and_then(|attributes| attributes.iter().find(|attribute| attribute.oid == wanted))
            .and_then(|attribute| attribute.values.iter().next().cloned())
    };
    let message_digest = find(signed, oid::ID_MESSAGE_DIGEST)
        .and_then(|value| value.decode_as::<OctetString>().ok())
        .map(|digest| digest.as_bytes().to_vec());
    let signing_certificate_hash = find(signed, oid::ID_AA_SIGNING_CERTIFICATE_V_2)
        .and_then(|value| value.decode_as::<SigningCertificateV2>().ok())
        .and_then(|value| value.certs.into_iter().next())
        .filter(|id| {
            id.hash_algorithm
                .as_ref()
                .is_none_or(|alg| alg.oid == oid::ID_SHA_256)
        })
        .map(|id| id.cert_hash.as_bytes().to_vec());
    let signing_time = find(signed, oid::ID_SIGNING_TIME)
        .and_then(|value| value.to_der().ok())
        .and_then(|der| x509_cert::time::Time::from_der(&der).ok())
        .and_then(|time| {
            time::OffsetDateTime::from_unix_timestamp(time.to_unix_duration().as_secs() as i64).ok()
        });
    let timestamp_token = find(
        info.unsigned_attrs.as_ref(),
        oid::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
    )
    .and_then(|value| value.to_der().ok());
    Ok(ParsedCms {
        certificates: certificates.into_iter().map(|(_, der)| der).collect(),
        signer_certificate,
        message_digest,
        digest_is_sha256: info.digest_alg.oid == oid::ID_SHA_256,
        signed_attributes_der: signed.and_then(|attributes| attributes.to_der().ok()),
        signature_algorithm,
        signature: info.signature.as_bytes().to_vec(),
        timestamp_token,
        content_type: signed_data.encap_content_info.econtent_type,
        content: signed_data
            .encap_content_info
            .econtent
            .as_ref()
            .and_then(|content| content.decode_as::<OctetString>().ok())
            .map(|content| content.as_bytes().to_vec()),
        signing_certificate_hash,
        signing_time,
    })
}

fn identifies(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == certificate.tbs_certificate.issuer
                && id.serial_number == certificate.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(key_id) => certificate
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|extension| {
                extension.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER
            })
            .any(|extension| {
                OctetString::from_der(extension.extn_value.as_bytes())
                    .is_ok_and(|value| value.as_bytes() == key_id.0.as_bytes())
            }),
    }
}

/// Whether the CMS signature value is a valid signature of its signed attributes by
/// `certificate_der`'s key. `false` for anything unreadable.
pub fn signature_is_valid(parsed: &ParsedCms, certificate_der: &[u8]) -> bool {
    let (Some(algorithm), Some(attributes)) = (
        parsed.signature_algorithm,
        parsed.signed_attributes_der.as_ref(),
    ) else {
        return false;
    };
    let Ok(public_key) = super::signer::certificate_public_key(certificate_der) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(algorithm.verification(), public_key)
        .verify(attributes, &parsed.signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::signer::KeyFileSigner;

    fn key_file(dir: &std::path::Path) -> std::path::PathBuf {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Nguyễn Văn A");
        let certificate = params.self_signed(&key).expect("certificate");
        let path = dir.join("signer.pem");
        std::fs::write(
            &path,
            format!("{}{}", key.serialize_pem(), certificate.pem()),
        )
        .expect("write");
        path
    }

    #[test]
    fn a_built_signature_parses_back_and_verifies() {
        let dir = tempfile::tempdir().expect("dir");
        let signer = KeyFileSigner::load(&key_file(dir.path())).expect("signer");
        let digest = [7u8; 32];
        let der = sign_detached(&signer, &digest).expect("sign");
        let mut padded = der.clone();
        padded.resize(der.len() + 100, 0);
        let parsed = parse(&padded).expect("parse");
        assert_eq!(parsed.message_digest.as_deref(), Some(&digest[..]));
        assert!(parsed.digest_is_sha256);
        assert_eq!(
            parsed.signing_time, None,
            "PAdES B-B has no signing-time attribute"
        );
        let certificate = parsed
            .signer_certificate
            .clone()
            .expect("signer certificate");
        assert_eq!(certificate, signer.chain()[0].as_ref());
        assert_eq!(
            parsed.signing_certificate_hash.as_deref(),
            Some(sha256(&certificate).as_slice())
        );
        assert!(signature_is_valid(&parsed, &certificate));

        let mut tampered = parsed.clone();
        if let Some(attributes) = tampered.signed_attributes_der.as_mut() {
            let last = attributes.len() - 1;
            attributes[last] ^= 1;
        }
        assert!(!signature_is_valid(&tampered, &certificate));
    }

    #[test]
    fn a_timestamp_is_added_without_touching_the_signed_part() {
        let dir = tempfile::tempdir().expect("dir");
        let signer = KeyFileSigner::load(&key_file(dir.path())).expect("signer");
        let der = sign_detached(&signer, &[1u8; 32]).expect("sign");
        // Any DER ContentInfo stands in for a token here; the timestamp tests use real ones.
        let token = ContentInfo {
            content_type: oid::ID_DATA,
            content: any_of(&OctetString::new(vec![1, 2, 3]).expect("octets")).expect("any"),
        }
        .to_der()
        .expect("token");
        let stamped = add_signature_timestamp(&der, &token).expect("stamp");
        let before = parse(&der).expect("parse");
        let after = parse(&stamped).expect("parse");
        assert_eq!(after.timestamp_token.as_deref(), Some(token.as_slice()));
        assert_eq!(before.signed_attributes_der, after.signed_attributes_der);
        assert_eq!(before.signature, after.signature);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        for bytes in [
            &b""[..],
            b"\x30\x80",
            b"\x30\x05\x02\x01\x01",
            b"not der at all",
        ] {
            let error = parse(bytes).expect_err("refused");
            assert!(error.to_string().contains("CMS"), "{error}");
        }
    }
}
