//! Where the box stands with its provincial IT, as the status page and `docgate status`
//! show it: enrolled or not, the bundle's standing (current, in grace, lapsed), the link
//! certificate's renewal, decommissioning. The keeper writes it; the web side reads a
//! copy. Plain data and one shared cell; no decisions.

use std::sync::{Arc, RwLock};

use serde::Serialize;

/// The box's standing, most serious last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// `[provisioning]` is not used: the configuration file says who the box is.
    Manual,
    /// Not enrolled yet: the status page offers the enrolment form.
    NotProvisioned,
    /// Enrolled, bundle current.
    Enrolled,
    /// The bundle has expired; the box keeps working until `grace_ends_at`.
    InGrace,
    /// The bundle expired longer ago than its grace: the box no longer exchanges until a
    /// fresh bundle arrives.
    Lapsed,
    /// The link certificate expired before it could be renewed (the box was offline): it
    /// needs a new code from provincial IT (`docgate enroll`).
    CertificateExpired,
    /// Provincial IT decommissioned the box: it no longer sends or receives.
    Decommissioned,
}

impl Standing {
    /// Whether the box may exchange with the axis in this standing.
    pub fn may_exchange(self) -> bool {
        matches!(
            self,
            Standing::Manual | Standing::Enrolled | Standing::InGrace
        )
    }
}

/// The facts about the enrolment (RFC 3339 UTC instants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisioningStatus {
    pub standing: Standing,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis_url: Option<String>,
    /// The generation on disk (`<state_dir>/provisioning/generations/N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_expires_at: Option<String>,
    /// When the box stops exchanging if no fresh bundle arrives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_ends_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<String>,
    /// From when the keeper renews the link certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_renewal_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_bundle_check_at: Option<String>,
    /// The last renewal or bundle refresh that failed, and why (cleared by a success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl ProvisioningStatus {
    /// Only a standing, nothing known yet.
    pub fn bare(standing: Standing) -> ProvisioningStatus {
        ProvisioningStatus {
            standing,
            agency_code: None,
            system_id: None,
            axis_url: None,
            generation: None,
            bundle_serial: None,
            bundle_expires_at: None,
            grace_ends_at: None,
            certificate_not_after: None,
            renew_from: None,
            last_renewal_at: None,
            last_bundle_check_at: None,
            last_error: None,
        }
    }
}

/// The shared cell: the keeper writes, the facts read a copy.
#[derive(Debug, Clone)]
pub struct ProvisioningWatch(Arc<RwLock<ProvisioningStatus>>);

impl ProvisioningWatch {
    pub fn new(status: ProvisioningStatus) -> ProvisioningWatch {
        ProvisioningWatch(Arc::new(RwLock::new(status)))
    }

    /// A copy of the current facts.
    pub fn snapshot(&self) -> ProvisioningStatus {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Changes the facts in place.
    pub fn update(&self, change: impl FnOnce(&mut ProvisioningStatus)) {
        let mut status = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut status);
    }
}
