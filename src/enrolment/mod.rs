//! The box's side of provisioning: enrolling with provincial IT's one-time code, and
//! keeping the enrolment current while the daemon runs (`keeper.rs`).
//!
//! Enrolling ([`enrol`]): read the code; fetch the axis's device CA over TLS verified by
//! nothing, and keep it only if its fingerprint is the one the code carries; make the link
//! key (in a file, or on the token); send the CSR with the code over TLS that trusts only
//! that CA; check what comes back (the certificate is for our key and our system id, the
//! bundle verifies against the pinned CA and names the same system); write it all as one
//! generation (`system::provisioned`).
//!
//! Owns the order of those steps and what is checked at each. Never writes a file itself
//! (`system::provisioned` does), never speaks HTTP itself (`sync::enrol_client` does), and
//! never decides who the box is: the axis does, and the bundle says so.

pub mod keeper;
mod link_key;
pub mod status;

use std::path::Path;

use crate::provisioning::bundle::BundleError;
use crate::provisioning::code::{CodeError, EnrolmentCode};
use crate::provisioning::messages::EnrolRequest;
use crate::provisioning::pem::pem_encode;
use crate::sync::enrol_client::{self, EnrolClientError};
use crate::system::config::GatewayConfig;
use crate::system::provisioned::{self, NewGeneration, Provisioned, ProvisionedError};

pub use link_key::{LinkKeyError, NewLinkKey};

/// Why an enrolment did not happen. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("this configuration has no [provisioning] section: the box is configured by hand, not enrolled; add [provisioning] (and remove gateway.organ_id, gateway.organ_name and [axis]) to enrol it")]
    NotProvisioned,
    #[error("the code is not right: {0}; check it against the paper from provincial IT")]
    Code(#[from] CodeError),
    #[error(transparent)]
    Axis(#[from] EnrolClientError),
    #[error("the axis's answer was refused: {0}")]
    Bundle(#[from] BundleError),
    #[error("the axis's answer does not fit the request: {0}; report this to provincial IT")]
    Answer(String),
    #[error(transparent)]
    LinkKey(#[from] LinkKeyError),
    #[error(transparent)]
    Stored(#[from] ProvisionedError),
    #[error("this box is enrolled for agency {held}; the code is for {offered}. To move the box to another agency, reset it first (docgate reset)")]
    OtherAgency { held: String, offered: String },
}

impl EnrolError {
    /// The axis's refusal code (`code_used`, `agency_mismatch`, ...), when it refused.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            EnrolError::Axis(error) => error.refusal(),
            EnrolError::OtherAgency { .. } => Some("agency_mismatch"),
            _ => None,
        }
    }
}

/// Free text about this box for the axis's audit log.
fn device_description() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "docgate {} on {}",
        env!("CARGO_PKG_VERSION"),
        host.trim().chars().take(64).collect::<String>()
    )
}

/// Enrols the box configured by `config` with the axis at `axis_url`, using `code_text` as
/// typed. On success the new enrolment is current on disk (a running daemon picks it up)
/// and is answered.
pub async fn enrol(
    config: &GatewayConfig,
    axis_url: &str,
    code_text: &str,
) -> Result<Provisioned, EnrolError> {
    let provisioning = config
        .provisioning
        .as_ref()
        .ok_or(EnrolError::NotProvisioned)?;
    let code = EnrolmentCode::parse(code_text)?;
    let state_dir = &config.gateway.state_dir;
    let held = held_agency(state_dir)?;
    let ca_der = enrol_client::fetch_pinned_ca(axis_url, &code).await?;
    let key = link_key::make(config, provisioning).await?;
    let request = EnrolRequest {
        code: code.to_text(),
        csr_pem: key.csr_pem.clone(),
        device: device_description(),
        enrolled_agency: held.clone(),
    };
    let answer = enrol_client::enrol(axis_url, &ca_der, &request).await?;
    let bundle = answer.bundle.verify(&ca_der)?;
    if bundle.system_id != answer.system_id {
        return Err(EnrolError::Answer(format!(
            "the certificate is for system {} but the bundle for {}",
            answer.system_id, bundle.system_id
        )));
    }
    if let Some(held) = held {
        if held != bundle.agency.code {
            return Err(EnrolError::OtherAgency {
                held,
                offered: bundle.agency.code,
            });
        }
    }
    check_certificate(&answer.certificate_pem, &answer.system_id, &key)?;
    let ca_pem = pem_encode("CERTIFICATE", &ca_der);
    let written = provisioned::write(
        state_dir,
        &NewGeneration {
            ca_pem: &ca_pem,
            certificate_pem: &answer.certificate_pem,
            key_pem: key.key_pem.as_deref(),
            key_label: key.token_label.as_deref(),
            secret: &answer.secret,
            bundle: &answer.bundle,
        },
    )?;
    tracing::info!(
        agency = %written.bundle.agency.code,
        system_id = %written.bundle.system_id,
        generation = written.generation,
        "enrolled with the axis"
    );
    Ok(written)
}

/// The agency the box is enrolled for, if any. A damaged enrolment counts as none (the
/// point of enrolling again), one from another CA does not (that needs a reset).
fn held_agency(state_dir: &Path) -> Result<Option<String>, EnrolError> {
    match provisioned::load(state_dir) {
        Ok(current) => Ok(current.map(|current| current.bundle.agency.code)),
        Err(ProvisionedError::Damaged { .. } | ProvisionedError::Bundle(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The certificate must name `system_id` and carry the key we made.
fn check_certificate(
    certificate_pem: &str,
    system_id: &str,
    key: &NewLinkKey,
) -> Result<(), EnrolError> {
    use x509_cert::der::{Decode, Encode};
    let der = crate::provisioning::pem::pem_block(certificate_pem, "CERTIFICATE")
        .ok_or_else(|| EnrolError::Answer("the answer holds no certificate".into()))?;
    let certificate = x509_cert::Certificate::from_der(&der)
        .map_err(|error| EnrolError::Answer(format!("the certificate cannot be read: {error}")))?;
    let subject_key = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|error| EnrolError::Answer(error.to_string()))?;
    if subject_key != key.public_key_der {
        return Err(EnrolError::Answer(
            "the certificate is not for the key this box made".into(),
        ));
    }
    let name = crate::system::tls::certificate_common_name(&der);
    if name.as_deref() != Some(system_id) {
        return Err(EnrolError::Answer(format!(
            "the certificate names {name:?}, not the system id {system_id}"
        )));
    }
    Ok(())
}
