//! `docgate enroll`, `docgate reset` and `docgate boot-check`: enrolling a box from its
//! console with the code provincial IT gave, forgetting an enrolment (or everything) on
//! purpose, and telling the boot loader whether the daemon came up after a boot.
//!
//! Enrolling writes the enrolment on disk (`enrolment::enrol`); a running daemon takes it
//! up within a second. Resetting refuses while documents wait to be sent (they would
//! leave under no identity, or another agency's) unless forced, and refuses while the
//! daemon answers on its port.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use docgate::store::Store;
use docgate::system::config::GatewayConfig;
use docgate::system::provisioned;

#[derive(Args)]
pub struct EnrolArgs {
    /// The gateway configuration (must have [provisioning]).
    #[arg(long, default_value = "/etc/docgate/docgate.toml")]
    config: PathBuf,
    /// The provincial axis's address, e.g. https://truc.tinh.gov.vn:8443
    #[arg(long)]
    axis: String,
    /// The 32-character code from provincial IT (dashes and spaces are ignored).
    #[arg(long)]
    code: String,
}

#[derive(Args)]
pub struct ResetArgs {
    /// The gateway configuration.
    #[arg(long, default_value = "/etc/docgate/docgate.toml")]
    config: PathBuf,
    /// Also delete the documents, registers and logs in the state directory (factory
    /// reset). Without it only the enrolment is forgotten.
    #[arg(long)]
    wipe_state: bool,
    /// Reset even though documents are still waiting to be sent (they are then stranded
    /// or, with --wipe-state, lost).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct BootCheckArgs {
    /// The gateway configuration (for the listen address and the API token).
    #[arg(long, default_value = "/etc/docgate/docgate.toml")]
    config: PathBuf,
    /// How long to wait for the daemon, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// The `/healthz` reasons that mean the software itself did not come up: what an update
/// can break and a rollback can fix.
const SOFTWARE_COMPONENTS: [&str; 2] = ["store", "config"];

/// `docgate boot-check`.
pub fn boot_check(args: BootCheckArgs) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&args.config)?;
    let daemon = crate::local_daemon::LocalDaemon::from_config(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let last = match runtime.block_on(daemon.get_json("/healthz")) {
            Ok((code, body)) => match came_up(code.as_u16(), &body) {
                Ok(()) => {
                    println!("docgate came up: /healthz answered {code}");
                    return Ok(());
                }
                Err(reason) => reason,
            },
            Err(error) => format!("no answer: {error}"),
        };
        if std::time::Instant::now() >= deadline {
            bail!(
                "docgate did not come up within {} s ({last}); the boot counts as failed",
                args.timeout
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Whether a `/healthz` answer means the daemon runs: 200, or 503 for reasons outside the
/// software (the link, the token, the disk, the enrolment).
fn came_up(code: u16, body: &serde_json::Value) -> Result<(), String> {
    if code == 200 {
        return Ok(());
    }
    if code != 503 {
        return Err(format!("/healthz answered {code}"));
    }
    let broken: Vec<String> = body["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|reason| {
            reason["component"]
                .as_str()
                .is_some_and(|component| SOFTWARE_COMPONENTS.contains(&component))
        })
        .map(|reason| reason["message"].as_str().unwrap_or("?").to_owned())
        .collect();
    if broken.is_empty() && body["reasons"].is_array() {
        Ok(())
    } else if broken.is_empty() {
        Err(format!("/healthz answered 503 without reasons: {body}"))
    } else {
        Err(broken.join("; "))
    }
}

/// `docgate enroll`.
pub fn enrol(args: EnrolArgs) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let enrolled = runtime
        .block_on(docgate::enrolment::enrol(&config, &args.axis, &args.code))
        .map_err(|error| match error.refusal() {
            Some(code) => anyhow::anyhow!("enrolment refused ({code}): {error}"),
            None => anyhow::anyhow!("enrolment failed: {error}"),
        })?;
    let bundle = &enrolled.bundle;
    println!("enrolled: {} ({})", bundle.agency.name, bundle.agency.code);
    println!("system id: {}", bundle.system_id);
    println!("axis: {}", bundle.axis.url);
    println!(
        "link certificate valid until: {}",
        docgate::system::clock::rfc3339_utc(enrolled.certificate_not_after)
    );
    println!(
        "configuration bundle: serial {}, expires {}",
        bundle.serial, bundle.expires_at
    );
    println!("generation: {}", enrolled.generation);
    println!("a running daemon takes this up within a second; otherwise start it (systemctl start docgate)");
    Ok(())
}

/// `docgate reset`.
pub fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&args.config)?;
    if config.provisioning.is_none() && !args.wipe_state {
        bail!(
            "this box is configured by hand ({} has no [provisioning]); there is no enrolment to forget. Use --wipe-state for a factory reset of its state",
            args.config.display()
        );
    }
    refuse_while_running(config.api.listen)?;
    let state_dir = &config.gateway.state_dir;
    let unsent = unsent_documents(state_dir)?;
    if unsent.count > 0 && !args.force {
        bail!(
            "{} document(s) are still waiting to be sent (the oldest since {}); resetting now would strand them. Let the box send them first (docgate status shows the queue), or use --force",
            unsent.count,
            unsent.oldest.as_deref().unwrap_or("unknown")
        );
    }
    if unsent.count > 0 {
        eprintln!(
            "warning: {} unsent document(s) {}",
            unsent.count,
            if args.wipe_state {
                "are deleted"
            } else {
                "stay in the queue, without an enrolment to send them"
            }
        );
    }
    provisioned::remove(state_dir).context("cannot forget the enrolment")?;
    println!("enrolment forgotten: the box starts \"not provisioned\"");
    if args.wipe_state {
        wipe(state_dir)?;
        println!("state directory emptied: {}", state_dir.display());
    }
    Ok(())
}

/// Refuses when something answers on the daemon's port (the daemon is running).
fn refuse_while_running(listen: SocketAddr) -> anyhow::Result<()> {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
        bail!("the gateway is running (it answers on {address}); stop it first (systemctl stop docgate)");
    }
    Ok(())
}

struct Unsent {
    count: u64,
    oldest: Option<String>,
}

/// Outgoing documents not yet confirmed by the axis (none when there is no store yet).
fn unsent_documents(state_dir: &Path) -> anyhow::Result<Unsent> {
    if !state_dir.join(docgate::store::DATABASE_FILE).exists() {
        return Ok(Unsent {
            count: 0,
            oldest: None,
        });
    }
    let store = Store::open(state_dir)
        .with_context(|| format!("cannot open the state in {}", state_dir.display()))?;
    let today =
        docgate::system::clock::edxml_date(time::OffsetDateTime::now_utc()).replace('/', "-");
    let counts = store.queue_counts(&today);
    store.close();
    let counts = counts.context("cannot count the waiting documents")?;
    Ok(Unsent {
        count: counts.waiting_to_send,
        oldest: counts.oldest_waiting_since,
    })
}

/// Deletes everything inside the state directory (the directory itself stays, with its
/// owner and mode).
fn wipe(state_dir: &Path) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).context(format!("cannot read {}", state_dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("cannot delete {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_software_failing_counts_as_not_come_up() {
        assert!(came_up(200, &json!({"status": "ok"})).is_ok());
        let not_provisioned = json!({"status": "not_provisioned",
            "reasons": [{"component": "provisioning", "message": "not enrolled"}]});
        assert!(came_up(503, &not_provisioned).is_ok());
        let link_down = json!({"reasons": [{"component": "link", "message": "down"},
            {"component": "token", "message": "absent"}]});
        assert!(came_up(503, &link_down).is_ok());
        let store = json!({"reasons": [{"component": "link", "message": "down"},
            {"component": "store", "message": "database is locked"}]});
        assert_eq!(came_up(503, &store), Err("database is locked".into()));
        assert!(came_up(503, &json!({"status": "shutting_down"})).is_err());
        assert!(came_up(500, &json!({})).is_err());
    }
}
