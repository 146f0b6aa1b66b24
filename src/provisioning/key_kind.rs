//! Which kind of public key a SubjectPublicKeyInfo holds, for the keys provisioning signs
//! and checks with (the device CA's, a box's link key). One place reads the OID and curve;
//! the bundle and the device CA each map the kind to what they need.

/// A key kind provisioning supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Rsa,
    Ed25519,
}

impl KeyKind {
    /// The kind of `spki`, or `None` for any other key.
    pub fn of(spki: &spki::SubjectPublicKeyInfoOwned) -> Option<KeyKind> {
        use const_oid::db::rfc5912;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.decode_as::<der::asn1::ObjectIdentifier>().ok());
        match (spki.algorithm.oid, curve) {
            (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_256_R_1)) => Some(KeyKind::EcdsaP256),
            (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_384_R_1)) => Some(KeyKind::EcdsaP384),
            (rfc5912::RSA_ENCRYPTION, _) => Some(KeyKind::Rsa),
            (const_oid::db::rfc8410::ID_ED_25519, _) => Some(KeyKind::Ed25519),
            _ => None,
        }
    }
}
