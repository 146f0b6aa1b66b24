//! What `docgate run` runs over one listening socket for the life of the process.
//!
//! A box configured by hand (no `[provisioning]`) runs the gateway once. A provisioned box
//! runs in turns: while it is not enrolled, the "not provisioned" page (the enrolment
//! form); once enrolled, the gateway with the enrolment applied and the keeper renewing
//! and refreshing it; and again whenever the enrolment on disk changes (`docgate enroll`
//! from a console, a renewal that brings a changed bundle, a re-enrolment). Each turn
//! stops its predecessor completely (store closed, tasks joined) before the next opens
//! anything; connections that arrive in between wait in the socket's backlog.
//!
//! Owns the turns and what starts them. Never enrols, renews or writes a file itself
//! (`enrolment`), and holds no gateway logic (`gateway`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::enrolment::keeper::{self, KeeperSettings, OwnWrites};
use crate::enrolment::status::{ProvisioningStatus, ProvisioningWatch, Standing};
use crate::gateway::{self, GatewayError, RunOptions, Running};
use crate::system::clock::SharedClock;
use crate::system::config::GatewayConfig;
use crate::system::provisioned::{self, Provisioned};
use crate::system::shutdown::Shutdown;
use crate::system::tls::LinkIdentity;

/// The systemd `STATUS=` line of a box waiting for its enrolment.
pub const NOT_PROVISIONED_STATUS: &str =
    "not provisioned: enrol this box from its status page or with `docgate enroll`";

/// How often a turn looks whether the enrolment on disk changed under it.
const DISK_CHECK: Duration = Duration::from_secs(1);

/// Serves `listener` as the configuration says until `shutdown`. `on_ready` runs at the
/// start of each gateway turn (the systemd notification, the log line); `clock` decides
/// renewals and the bundle's standing.
pub async fn run(
    file_config: &GatewayConfig,
    listener: std::net::TcpListener,
    shutdown: Shutdown,
    clock: SharedClock,
    on_ready: impl Fn(&Running<'_>, &Shutdown),
) -> Result<(), GatewayError> {
    listener
        .set_nonblocking(true)
        .map_err(GatewayError::Serve)?;
    if file_config.provisioning.is_none() {
        let listener = tokio_listener(&listener)?;
        return gateway::run(file_config, listener, shutdown.clone(), |running| {
            on_ready(running, &shutdown)
        })
        .await;
    }
    let state_dir = file_config.gateway.state_dir.clone();
    while !shutdown.is_triggered() {
        let turn = Shutdown::new();
        let forward = forward_shutdown(&shutdown, &turn);
        let current = load(&state_dir).await;
        let seen = generation_of(&current);
        let own = Arc::new(OwnWrites::default());
        let watcher = watch_disk(state_dir.clone(), seen, own.clone(), turn.clone());
        let result = match current {
            Ok(Some(current)) => {
                let turn_parts = Turn {
                    listener: &listener,
                    shutdown: &turn,
                    own,
                };
                enrolled_turn(file_config, turn_parts, current, &clock, &on_ready).await
            }
            Ok(None) => {
                not_provisioned_turn(file_config, &listener, (&turn, &shutdown), None).await
            }
            Err(problem) => {
                let turns = (&turn, &shutdown);
                not_provisioned_turn(file_config, &listener, turns, Some(problem)).await
            }
        };
        forward.abort();
        watcher.abort();
        result?;
    }
    Ok(())
}

fn tokio_listener(
    listener: &std::net::TcpListener,
) -> Result<tokio::net::TcpListener, GatewayError> {
    listener
        .try_clone()
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(GatewayError::Serve)
}

/// Triggers `turn` when `process` stops.
fn forward_shutdown(process: &Shutdown, turn: &Shutdown) -> tokio::task::JoinHandle<()> {
    let (process, turn) = (process.clone(), turn.clone());
    tokio::spawn(async move {
        process.wait().await;
        turn.trigger();
    })
}

async fn load(state_dir: &Path) -> Result<Option<Provisioned>, String> {
    let state_dir = state_dir.to_path_buf();
    tokio::task::spawn_blocking(move || provisioned::load(&state_dir))
        .await
        .map_err(|_| "the enrolment could not be read".to_owned())?
        .map_err(|error| error.to_string())
}

fn generation_of(current: &Result<Option<Provisioned>, String>) -> Option<u64> {
    match current {
        Ok(Some(current)) => Some(current.generation),
        _ => None,
    }
}

/// Ends `turn` when the current generation on disk is no longer `seen`, unless this turn's
/// keeper wrote it (a renewal or a bundle the running gateway takes up in place).
fn watch_disk(
    state_dir: PathBuf,
    seen: Option<u64>,
    own: Arc<OwnWrites>,
    turn: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = seen;
        loop {
            tokio::select! {
                () = turn.wait() => return,
                () = tokio::time::sleep(DISK_CHECK) => {}
            }
            let now = current_generation(&state_dir);
            if now == seen || own.writing() {
                continue;
            }
            if now.is_some() && now == own.last() {
                seen = now;
                continue;
            }
            tracing::info!(from = ?seen, to = ?now, "the enrolment on disk changed");
            turn.trigger();
            return;
        }
    })
}

/// The generation `current` points at, read without checking it (cheap, every second).
fn current_generation(state_dir: &Path) -> Option<u64> {
    std::fs::read_link(provisioned::root(state_dir).join("current"))
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// What one turn runs on.
struct Turn<'a> {
    listener: &'a std::net::TcpListener,
    shutdown: &'a Shutdown,
    own: Arc<OwnWrites>,
}

async fn enrolled_turn(
    file_config: &GatewayConfig,
    turn: Turn<'_>,
    current: Provisioned,
    clock: &SharedClock,
    on_ready: &impl Fn(&Running<'_>, &Shutdown),
) -> Result<(), GatewayError> {
    let standing = keeper::standing_of(&current, clock.now());
    let mut config = current.apply(file_config);
    if !standing.may_exchange() {
        tracing::warn!(
            ?standing,
            "the box may not exchange with the axis; the link stays off"
        );
        config.axis = None;
    }
    let watch = ProvisioningWatch::new(keeper::status_of(&current, clock.now()));
    let options = RunOptions {
        provisioning: Some(watch.clone()),
    };
    let listener = tokio_listener(turn.listener)?;
    let own = turn.own;
    let turn = turn.shutdown;
    let keeper_turn = turn.clone();
    let mut keeper_task = None;
    let state_dir = file_config.gateway.state_dir.clone();
    let result = gateway::run_with(&config, listener, turn.clone(), options, |running| {
        on_ready(running, turn);
        if standing == Standing::Decommissioned {
            return;
        }
        // With the link off (lapsed, certificate expired) the keeper still runs on the
        // generation's own identity: a fresh bundle is how a lapsed box comes back.
        let identity = match running.link_identity.clone() {
            Some(identity) => identity,
            None => match keeper::certified_key(file_config, &current) {
                Ok(certified) => LinkIdentity::new(certified),
                Err(error) => {
                    tracing::warn!(%error, "cannot renew or refresh the enrolment");
                    return;
                }
            },
        };
        let settings = KeeperSettings {
            state_dir,
            file_config: file_config.clone(),
            current,
            identity,
            clock: clock.clone(),
            watch,
            own,
        };
        let stop = keeper_turn.clone();
        keeper_task = Some(tokio::spawn(keeper::run(
            settings,
            keeper_turn,
            move || stop.trigger(),
        )));
    })
    .await;
    if let Some(task) = keeper_task {
        task.abort();
    }
    result
}

/// Serves the "not provisioned" page until the turn ends (an enrolment on disk, or
/// shutdown). `problem` is why an enrolment on disk could not be used, if one is there.
/// Under systemd the box is "ready" once the page is served: a new box waiting for its
/// enrolment is a service that started, not one that hangs in its start-up (the
/// appliance's boot test found `docgate.service` timing out there).
async fn not_provisioned_turn(
    file_config: &GatewayConfig,
    listener: &std::net::TcpListener,
    (turn, process): (&Shutdown, &Shutdown),
    problem: Option<String>,
) -> Result<(), GatewayError> {
    let mut status = ProvisioningStatus::bare(Standing::NotProvisioned);
    if let Some(problem) = &problem {
        tracing::error!(%problem, "the enrolment on disk cannot be used; enrol the box again");
        status.last_error = Some(problem.clone());
    }
    tracing::info!("not provisioned: the status page offers the enrolment form");
    let listener = tokio_listener(listener)?;
    let tls = file_config.api.lan_tls().map_err(GatewayError::LanTls)?;
    let probes = crate::system::systemd::Probes {
        liveness: Vec::new(),
        status: Box::new(|| NOT_PROVISIONED_STATUS.to_owned()),
    };
    let _ = crate::system::systemd::start_for_run(probes, turn.clone(), process.clone());
    crate::web::enrol_page::serve(listener, file_config.clone(), status, tls, turn.clone())
        .await
        .map_err(GatewayError::Serve)
}
