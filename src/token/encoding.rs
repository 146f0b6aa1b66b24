//! The bytes around a signature, so the token's output is what X.509 and CMS expect: the
//! SHA-256 of a message (with `ring`), the DER `DigestInfo` that CKM_RSA_PKCS signs when a
//! token cannot hash by itself, and the DER `Ecdsa-Sig-Value` made from the raw `r || s`
//! that CKM_ECDSA returns. Also the bytes around a new P-256 key: its `CKA_EC_PARAMS`,
//! the point in its `CKA_EC_POINT`, and its SubjectPublicKeyInfo. Pure functions over
//! bytes, built with the `der` crate; no PKCS#11 here.

use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use super::session::P256_OID;

/// Length of `r || s` for P-256: two 32-byte integers.
pub(super) const P256_RAW_SIGNATURE_LEN: usize = 64;

/// An uncompressed P-256 point: `04 || X || Y`.
const P256_POINT_BYTES: usize = 65;

/// `CKA_EC_PARAMS` of a P-256 key: the DER of the named curve's OID (prime256v1). A
/// constant, checked against the `der` crate's encoding of `P256_OID` by a test.
pub(super) const P256_EC_PARAMS: [u8; 10] =
    [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }`
/// (RFC 8017 §9.2).
#[derive(Sequence)]
struct DigestInfo<'a> {
    digest_algorithm: AlgorithmIdentifierRef<'a>,
    digest: OctetStringRef<'a>,
}

/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// The SHA-256 digest of `message`.
pub(super) fn sha256(message: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, message)
        .as_ref()
        .to_vec()
}

/// The DER `DigestInfo` of a SHA-256 digest, with the NULL parameters PKCS#1 v1.5 uses:
/// what CKM_RSA_PKCS must sign to give the same signature as CKM_SHA256_RSA_PKCS.
pub(super) fn sha256_digest_info(digest: &[u8]) -> Result<Vec<u8>, der::Error> {
    DigestInfo {
        digest_algorithm: AlgorithmIdentifierRef {
            oid: const_oid::db::rfc5912::ID_SHA_256,
            parameters: Some(AnyRef::NULL),
        },
        digest: OctetStringRef::new(digest)?,
    }
    .to_der()
}

/// Why a raw ECDSA signature could not be converted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EcdsaEncodingError {
    /// Not `2 × 32` bytes.
    Length(usize),
    /// `r` or `s` is zero, which no valid signature has.
    Zero,
    Der(der::Error),
}

impl std::fmt::Display for EcdsaEncodingError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EcdsaEncodingError::Length(length) => write!(
                formatter,
                "an ECDSA P-256 signature is {P256_RAW_SIGNATURE_LEN} bytes (r || s), the \
                 token returned {length}"
            ),
            EcdsaEncodingError::Zero => formatter.write_str("r or s is zero"),
            EcdsaEncodingError::Der(error) => write!(formatter, "DER encoding failed: {error}"),
        }
    }
}

/// PKCS#11's raw P-256 signature `r || s` (32 bytes each, big-endian) as the DER
/// `Ecdsa-Sig-Value` X.509 and CMS carry. `UintRef` drops leading zeros and adds the
/// 0x00 a set top bit needs.
pub(super) fn ecdsa_p256_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, EcdsaEncodingError> {
    if raw.len() != P256_RAW_SIGNATURE_LEN {
        return Err(EcdsaEncodingError::Length(raw.len()));
    }
    let (r, s) = raw.split_at(P256_RAW_SIGNATURE_LEN / 2);
    if r.iter().all(|byte| *byte == 0) || s.iter().all(|byte| *byte == 0) {
        return Err(EcdsaEncodingError::Zero);
    }
    EcdsaSigValue {
        r: UintRef::new(r).map_err(EcdsaEncodingError::Der)?,
        s: UintRef::new(s).map_err(EcdsaEncodingError::Der)?,
    }
    .to_der()
    .map_err(EcdsaEncodingError::Der)
}

/// The uncompressed point in a `CKA_EC_POINT`. The standard (and SoftHSM) wrap it in a DER
/// OCTET STRING; some older tokens give the bare point, which is taken too. (A bare point
/// can parse as DER only if X's first byte is 63, and then the content is 63 bytes long,
/// not a point, so the two readings cannot be confused.)
pub(super) fn p256_point(ec_point: &[u8]) -> Result<Vec<u8>, String> {
    let is_point = |bytes: &[u8]| bytes.len() == P256_POINT_BYTES && bytes.first() == Some(&0x04);
    match OctetStringRef::from_der(ec_point) {
        Ok(wrapped) if is_point(wrapped.as_bytes()) => Ok(wrapped.as_bytes().to_vec()),
        _ if is_point(ec_point) => Ok(ec_point.to_vec()),
        Ok(wrapped) => Err(format!(
            "CKA_EC_POINT holds {} bytes, not an uncompressed P-256 point ({P256_POINT_BYTES} \
             bytes starting with 04)",
            wrapped.as_bytes().len()
        )),
        Err(error) => Err(format!(
            "CKA_EC_POINT is neither a DER OCTET STRING ({error}) nor a bare P-256 point"
        )),
    }
}

/// The DER SubjectPublicKeyInfo of a P-256 point (RFC 5480: id-ecPublicKey, the named
/// curve as parameters, the point as the bit string).
pub(super) fn p256_subject_public_key_info(point: &[u8]) -> Result<Vec<u8>, der::Error> {
    let curve = P256_OID;
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        },
        subject_public_key: BitStringRef::from_bytes(point)?,
    }
    .to_der()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, KeyPair};

    #[test]
    fn digest_info_is_the_pkcs1_sha256_prefix_and_the_digest() {
        // RFC 8017 §9.2, note 1: the DER prefix of a SHA-256 DigestInfo.
        let prefix = hex::decode("3031300d060960864801650304020105000420").expect("hex");
        let digest = sha256(b"abc");
        assert_eq!(
            hex::encode(&digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let info = sha256_digest_info(&digest).expect("encode");
        assert_eq!(info.len(), 51);
        assert_eq!(&info[..19], &prefix[..]);
        assert_eq!(&info[19..], &digest[..]);
    }

    fn raw(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
        let mut bytes = r.to_vec();
        bytes.extend_from_slice(s);
        bytes
    }

    #[test]
    fn raw_ecdsa_integers_get_their_minimal_der_form() {
        let mut r = [0x11u8; 32];
        let mut s = [0x22u8; 32];
        // Plain: 32 bytes each.
        let der = ecdsa_p256_raw_to_der(&raw(&r, &s)).expect("encode");
        assert_eq!(&der[..4], &[0x30, 68, 0x02, 32]);
        // A set top bit needs a 0x00 so the INTEGER stays positive.
        r[0] = 0x80;
        let der = ecdsa_p256_raw_to_der(&raw(&r, &s)).expect("encode");
        assert_eq!(&der[..5], &[0x30, 69, 0x02, 33, 0x00]);
        assert_eq!(der[5], 0x80);
        // Leading zero bytes are dropped.
        s[0] = 0x00;
        s[1] = 0x00;
        s[2] = 0x7f;
        let der = ecdsa_p256_raw_to_der(&raw(&r, &s)).expect("encode");
        assert_eq!(der[1] as usize, der.len() - 2);
        let s_at = 2 + 2 + 33;
        assert_eq!(&der[s_at..s_at + 3], &[0x02, 30, 0x7f]);
    }

    #[test]
    fn malformed_raw_signatures_are_refused() {
        assert_eq!(
            ecdsa_p256_raw_to_der(&[1u8; 63]),
            Err(EcdsaEncodingError::Length(63))
        );
        assert_eq!(
            ecdsa_p256_raw_to_der(&[1u8; 96]),
            Err(EcdsaEncodingError::Length(96))
        );
        assert_eq!(
            ecdsa_p256_raw_to_der(&raw(&[0u8; 32], &[1u8; 32])),
            Err(EcdsaEncodingError::Zero)
        );
    }

    #[test]
    fn converted_signatures_verify_as_asn1_ecdsa() {
        // ring signs in the fixed r || s form (what PKCS#11 returns); the converted bytes
        // must verify as the ASN.1 form X.509 uses.
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &random)
                .expect("generate");
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &random,
        )
        .expect("load");
        let public_key =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key.public_key());
        for index in 0..32u8 {
            let message = [index; 100];
            let fixed = key.sign(&random, &message).expect("sign");
            let der = ecdsa_p256_raw_to_der(fixed.as_ref()).expect("convert");
            public_key.verify(&message, &der).expect("verifies");
        }
    }

    #[test]
    fn the_ec_params_are_the_p256_oid_in_der() {
        assert_eq!(hex::encode(P256_EC_PARAMS), "06082a8648ce3d030107");
        assert_eq!(P256_EC_PARAMS.to_vec(), P256_OID.to_der().expect("encode"));
    }

    #[test]
    fn the_spki_is_what_rcgen_and_ring_write_for_the_same_key() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let point = key.der_bytes().to_vec();
        // As SoftHSM returns it: the point in a DER OCTET STRING.
        let ec_point = OctetStringRef::new(&point)
            .expect("octet string")
            .to_der()
            .expect("encode");
        assert_eq!(&ec_point[..2], &[0x04, 65]);
        let unwrapped = p256_point(&ec_point).expect("point");
        assert_eq!(unwrapped, point);
        assert_eq!(
            p256_subject_public_key_info(&unwrapped).expect("spki"),
            key.subject_public_key_info()
        );
        // A token that gives the bare point.
        assert_eq!(p256_point(&point).expect("bare point"), point);
    }

    #[test]
    fn what_is_not_a_p256_point_is_refused() {
        let cases: [(&[u8], &str); 4] = [
            (&[], "neither a DER OCTET STRING"),
            (&[0x04, 0x03, 0x04, 0x01, 0x02], "holds 3 bytes"),
            (&[0x30, 0x00], "neither a DER OCTET STRING"),
            (&[0x02; 65], "neither a DER OCTET STRING"),
        ];
        for (ec_point, expected) in cases {
            let reason = p256_point(ec_point).expect_err("refused");
            assert!(reason.contains(expected), "{ec_point:02x?}: {reason}");
        }
        // A compressed point (33 bytes) wrapped as the standard says.
        let mut compressed = vec![0x04, 33, 0x02];
        compressed.extend_from_slice(&[0x11; 32]);
        assert!(p256_point(&compressed)
            .expect_err("compressed")
            .contains("holds 33 bytes"));
    }
}
