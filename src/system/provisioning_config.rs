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

/// The label a renewal makes the link key under: the other one of a pair (`L` and
/// `L.next`), so the key in use is never touched while the new certificate is fetched.
pub fn rotated_link_key_label(label: &str) -> String {
    match label.strip_suffix(ROTATED_SUFFIX) {
        Some(base) => base.to_owned(),
        None => format!("{label}{ROTATED_SUFFIX}"),
    }
}

const ROTATED_SUFFIX: &str = ".next";

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
        if provisioning.link_key == LinkKeyPlace::Token {
            provisioning.validate_seal_label(path, config)?;
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

    /// With the link key on the `[signing]` token, the token holds two keys (three during
    /// a renewal) once enrolled: the seal must then be named, and by a label the link key
    /// never takes, or sealing would stop at the first enrolment ("several private keys").
    fn validate_seal_label(&self, path: &Path, config: &GatewayConfig) -> Result<(), ConfigError> {
        let seal_label = config
            .signing
            .as_ref()
            .and_then(|signing| signing.token_key_label.as_deref());
        let problem = match seal_label {
            None => {
                "is unset, but [provisioning] link_key = \"token\" puts the link key on the same \
                     token"
                    .to_owned()
            }
            Some(label)
                if label == self.link_key_label
                    || label == rotated_link_key_label(&self.link_key_label) =>
            {
                format!("is '{label}', a label the link key takes (link_key_label)")
            }
            Some(_) => return Ok(()),
        };
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: "signing.token_key_label",
            problem,
            fix: "set it to the agency seal's key label (pkcs11-tool --list-objects --type privkey), \
                  and keep link_key_label different",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provisioned box's configuration with `[signing]` on a token, its seal labelled
    /// `seal_label`, the link key labelled `link_label`.
    fn load(seal_label: Option<&str>, link_label: &str) -> Result<GatewayConfig, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["module.so", "pin", "roots.pem"] {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        let seal = seal_label
            .map(|label| format!("token_key_label = \"{label}\"\n"))
            .unwrap_or_default();
        let text = format!(
            "[gateway]\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:8480\"\n\
             token = \"0123456789abcdef0123456789abcdef\"\n\
             [signing]\ntoken_module = \"module.so\"\ntoken_label = \"agency\"\n\
             token_pin_file = \"pin\"\ntrust_roots = [\"roots.pem\"]\n{seal}\
             [provisioning]\nlink_key = \"token\"\nlink_key_label = \"{link_label}\"\n"
        );
        let path = dir.path().join("docgate.toml");
        std::fs::write(&path, text).expect("write");
        GatewayConfig::load(&path).map_err(|error| error.to_string())
    }

    #[test]
    fn a_link_key_on_the_token_needs_the_seal_named_apart_from_it() {
        assert!(load(Some("agency-seal"), "docgate-link").is_ok());
        for (seal, link) in [
            (None, "docgate-link"),
            (Some("docgate-link"), "docgate-link"),
            (Some("docgate-link.next"), "docgate-link"),
            (Some("link"), "link.next"),
        ] {
            let error = load(seal, link).expect_err("refused");
            assert!(error.contains("signing.token_key_label"), "{error}");
        }
    }

    #[test]
    fn the_link_key_labels_pair_up() {
        assert_eq!(rotated_link_key_label("docgate-link"), "docgate-link.next");
        assert_eq!(rotated_link_key_label("docgate-link.next"), "docgate-link");
    }
}
