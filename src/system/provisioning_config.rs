//! The optional `[provisioning]` section of the gateway's configuration: the box is
//! enrolled with provincial IT's one-time code (`docgate enroll`, or the status page's
//! form) instead of being configured by hand, so the file leaves out who the box is and
//! where its axis is. Validated with the rest of the file by `GatewayConfig::load`; what an
//! enrolment holds and how it is applied is `system::provisioned`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{ConfigError, GatewayConfig};

/// `[provisioning]`: the box is enrolled by provincial IT's one-time code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSection {
    /// Where the link key is made: `file` (in the state directory, 0600) or `token` (on the
    /// `[signing]` token, never leaving it).
    #[serde(default)]
    pub link_key: LinkKeyPlace,
    /// The label of the link key on the token (`link_key = "token"`).
    #[serde(default = "default_link_key_label")]
    pub link_key_label: String,
    /// The axis address the status page's form proposes (provincial IT may pre-set it in
    /// the image); the person enrolling can change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis_url: Option<String>,
}

impl Default for ProvisioningSection {
    fn default() -> Self {
        ProvisioningSection {
            link_key: LinkKeyPlace::default(),
            link_key_label: default_link_key_label(),
            axis_url: None,
        }
    }
}

/// Where `[provisioning]` makes the link key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkKeyPlace {
    #[default]
    File,
    Token,
}

fn default_link_key_label() -> String {
    "docgate-link".into()
}

impl ProvisioningSection {
    /// With `[provisioning]`: the enrolment says who the box is, so the file must not.
    pub(super) fn validate(&self, path: &Path, config: &GatewayConfig) -> Result<(), ConfigError> {
        let provisioning = self;
        let set_by_enrolment = |key| {
            ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem: "is set although [provisioning] is".into(),
            fix: "remove it: the enrolment sets it (or remove [provisioning] to configure the box by hand)",
        }
        };
        if !config.gateway.organ_id.is_empty() {
            return Err(set_by_enrolment("gateway.organ_id"));
        }
        if !config.gateway.organ_name.is_empty() {
            return Err(set_by_enrolment("gateway.organ_name"));
        }
        if config.axis.is_some() {
            return Err(set_by_enrolment("axis"));
        }
        let token_named = config
            .signing
            .as_ref()
            .is_some_and(|signing| signing.token_label.is_some());
        if provisioning.link_key == LinkKeyPlace::Token && !token_named {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "provisioning.link_key",
                problem: "is \"token\", but [signing] names no token".into(),
                fix: "set token_label, token_module and token_pin_file in [signing], or use link_key = \"file\"",
            });
        }
        if provisioning.link_key_label.trim().is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "provisioning.link_key_label",
                problem: "is empty".into(),
                fix: "leave it out (docgate-link) or name the key",
            });
        }
        Ok(())
    }
}
