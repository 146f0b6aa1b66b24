//! `docgate axis enroll create|list|revoke|audit|devices|decommission`: provincial IT
//! manages enrolment codes and enrolled boxes. Writes the axis's enrolment registry
//! directly (safe while `docgate axis` runs: the axis follows the registry within a
//! second); never opens the packet store.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;

use docgate::axis::{AxisConfig, Preset};
use docgate::provisioning::code::SECRET_BYTES;
use docgate::provisioning::EnrolmentCode;
use docgate::store::axis::enrolment::{EnrolmentRegistry, NewCode};
use docgate::system::clock::rfc3339_utc;

#[derive(Subcommand)]
pub enum EnrolCommand {
    /// Create a one-time enrolment code for an agency. Prints the code once (give it to
    /// whoever plugs the box in) and the command the box runs.
    Create {
        #[arg(long)]
        config: PathBuf,
        /// The agency code (mã định danh) the box will serve, e.g. 000.01.10.H41.
        #[arg(long)]
        agency: String,
        /// The agency's name, as it appears in edXML (e.g. "UBND xã Thử Nghiệm").
        #[arg(long)]
        name: String,
        /// How long the code is valid: seconds, or with a unit (30m, 12h, 7d). Default:
        /// `[enrolment] code_lifetime_secs`.
        #[arg(long)]
        expires_in: Option<String>,
        /// A JSON file of settings for this box's bundle (tsa_url, long_poll_secs,
        /// retry_min_ms, retry_max_ms, refresh_secs, fetch_crls).
        #[arg(long)]
        preset: Option<PathBuf>,
    },
    /// List the codes: id, agency, state (valid, used, expired, revoked), expiry.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Revoke an unused code by its id.
    Revoke {
        #[arg(long)]
        config: PathBuf,
        id: String,
    },
    /// The audit log: every code created, revoked, redeemed or refused, every renewal and
    /// decommissioning, oldest first (JSON lines).
    Audit {
        #[arg(long)]
        config: PathBuf,
    },
    /// The enrolled boxes: system id, agency, certificate serial and expiry, state.
    Devices {
        #[arg(long)]
        config: PathBuf,
    },
    /// Decommission a box: the axis refuses it at once; the box learns it at its next
    /// bundle check, stops sending and says so.
    Decommission {
        #[arg(long)]
        config: PathBuf,
        system_id: String,
    },
}

fn open(config_path: &Path) -> anyhow::Result<(AxisConfig, EnrolmentRegistry)> {
    let config = AxisConfig::load(config_path)?;
    if config.enrolment.is_none() {
        bail!(
            "{} has no [enrolment] section; add one (ca_key, public_url) to enrol boxes with codes",
            config_path.display()
        );
    }
    let registry = EnrolmentRegistry::open(&config.axis.state_dir)?;
    Ok((config, registry))
}

/// `30m`, `12h`, `7d` or plain seconds.
fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((index, unit)) if unit.is_ascii_alphabetic() => (&text[..index], unit),
        _ => (text, 's'),
    };
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 3600, 30m, 12h or 7d"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => bail!("unknown unit {other:?} in {text:?}; use s, m, h or d"),
    };
    let seconds = number.saturating_mul(factor);
    if !(1..=90 * 86_400).contains(&seconds) {
        bail!("{text:?} is outside one second to 90 days");
    }
    Ok(seconds)
}

pub fn run(command: EnrolCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let by = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    match command {
        EnrolCommand::Create {
            config,
            agency,
            name,
            expires_in,
            preset,
        } => {
            let (config, registry) = open(&config)?;
            let section = config.enrolment.as_ref().context("[enrolment]")?;
            if !docgate::system::config::is_agency_code(&agency, &config.axis.extra_agency_codes) {
                bail!("{agency:?} is not an agency code (LLL.KK.JJ.Xnn, e.g. 000.01.10.H41)");
            }
            if config.directory().serves_agency(&agency) {
                bail!("{agency:?} is served by a [[systems]] entry of the axis configuration; remove it there first");
            }
            if name.trim().is_empty() {
                bail!("--name is empty; write the agency's name");
            }
            let preset_json = match preset {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let preset = Preset::parse(&text)
                        .map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
                    Some(serde_json::to_string(&preset)?)
                }
                None => None,
            };
            let lifetime = match expires_in {
                Some(text) => parse_duration(&text)?,
                None => section.code_lifetime_secs,
            };
            let mut secret = [0u8; SECRET_BYTES];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
            let ca = config.device_ca()?.context("[enrolment]")?;
            let code = EnrolmentCode::new(secret, &ca.fingerprint());
            let id = ulid::Ulid::new().to_string().to_lowercase()[..12].to_owned();
            let expires_at = rfc3339_utc(now + time::Duration::seconds(lifetime as i64));
            registry.create_code(
                &NewCode {
                    id: id.clone(),
                    secret_sha256: code.secret_digest(),
                    agency_code: agency.clone(),
                    agency_name: name.trim().to_owned(),
                    preset_json,
                    created_at: rfc3339_utc(now),
                    expires_at: expires_at.clone(),
                },
                &by,
            )?;
            println!("id: {id}");
            println!("agency: {agency} ({})", name.trim());
            println!("expires: {expires_at}");
            println!("code: {}", code.to_text());
            println!(
                "on the box: docgate enroll --axis {} --code {}",
                section.public_url.trim(),
                code.to_text()
            );
        }
        EnrolCommand::List { config } => {
            let (_, registry) = open(&config)?;
            let now_text = rfc3339_utc(now);
            for code in registry.codes()? {
                let state = if code.revoked_at.is_some() {
                    "revoked".to_owned()
                } else if let Some(by) = &code.used_by {
                    format!("used by {by}")
                } else if code.expires_at <= now_text {
                    "expired".to_owned()
                } else {
                    "valid".to_owned()
                };
                println!(
                    "{}\t{}\t{}\t{state}\texpires {}",
                    code.id, code.agency_code, code.agency_name, code.expires_at
                );
            }
        }
        EnrolCommand::Revoke { config, id } => {
            let (_, registry) = open(&config)?;
            if !registry.revoke_code(&id, &rfc3339_utc(now))? {
                bail!("no unused, unrevoked code has id {id:?}; see `docgate axis enroll list`");
            }
            println!("revoked: {id}");
        }
        EnrolCommand::Audit { config } => {
            let (_, registry) = open(&config)?;
            for line in registry.audit_log()? {
                println!("{}", serde_json::to_string(&line)?);
            }
        }
        EnrolCommand::Devices { config } => {
            let (_, registry) = open(&config)?;
            for device in registry.devices()? {
                let state = match &device.decommissioned_at {
                    Some(at) => format!("decommissioned {at}"),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\tserial {}\tuntil {}\tbundle {}\t{state}",
                    device.system_id,
                    device.agency_code,
                    device.agency_name,
                    device.certificate_serial,
                    device.certificate_not_after,
                    device.bundle_serial
                );
            }
        }
        EnrolCommand::Decommission { config, system_id } => {
            let (_, registry) = open(&config)?;
            if !registry.decommission(&system_id, &rfc3339_utc(now), &by)? {
                bail!("no active enrolled box has system id {system_id:?}; see `docgate axis enroll devices`");
            }
            println!("decommissioned: {system_id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_with_units_and_stay_in_range() {
        assert_eq!(parse_duration("7d").expect("7d"), 7 * 86_400);
        assert_eq!(parse_duration("90m").expect("90m"), 5400);
        assert_eq!(parse_duration("3600").expect("3600"), 3600);
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("100d").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
