//! The `docgate` command line: a thin edge over the library. Parses arguments, sets up
//! logging and the runtime, calls one library function per subcommand, and maps errors to
//! exit codes. `anyhow` lives here and nowhere else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use docgate::axis::{self, AxisConfig};
use docgate::system::config::{self, GatewayConfig, InitOptions};
use docgate::system::sandbox::{self, SandboxError};
use docgate::system::{logging, shutdown::Shutdown};
use docgate::{demo, edxml, gateway};

mod axis_enrol_cli;
mod box_cli;
mod clerk_cli;
mod local_daemon;

/// Exit code for a configuration that does not validate (sysexits' EX_CONFIG); systemd's
/// unit does not restart on it, since restarting cannot fix a file.
const EXIT_BAD_CONFIG: u8 = 78;
/// Exit code when `docgate run` refuses to run as root or with capabilities, or cannot
/// become the `--drop-to` user (sysexits' EX_NOPERM); like 78, restarting cannot fix it.
const EXIT_PRIVILEGES: u8 = 77;
/// Exit code for a failure at run time.
const EXIT_FAILURE: u8 = 1;
/// Exit code for wrong command-line arguments (as clap uses).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "docgate",
    version,
    about = "Gateway appliance for government electronic document exchange (edXML, QCVN 102:2016)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this box with the provincial axis using the one-time code from provincial
    /// IT (needs [provisioning] in the configuration; a running daemon takes it up).
    Enroll(box_cli::EnrolArgs),
    /// Forget this box's enrolment (and with --wipe-state, its documents too). Refuses
    /// while the daemon runs, and while documents wait to be sent unless --force.
    Reset(box_cli::ResetArgs),
    /// Whether the daemon came up after a boot: waits until it answers `/healthz` with
    /// its database and configuration working (a link, token or enrolment problem does
    /// not count: an update cannot fix those). Exits 0 if so, 1 after --timeout. The
    /// appliance's boot-complete gate: an update that never passes it is rolled back.
    BootCheck(box_cli::BootCheckArgs),
    /// Run the gateway daemon (ready when GET /healthz answers). It refuses to run as root
    /// or with capabilities unless --drop-to names the user to become, and sandboxes itself
    /// before it serves (README.md, "The sandbox").
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/docgate/docgate.toml")]
        config: PathBuf,
        /// Started as root: bind the port, then become USER (no supplementary groups, no
        /// capabilities, no way back to root) before anything else. USER must be able to
        /// read the configuration and what it names, and to write the state directory.
        #[arg(long, value_name = "USER")]
        drop_to: Option<String>,
    },
    /// Run the reference provincial axis: the VDXP operations (sendEdoc, getReceivedEdocList,
    /// getEdoc, updateStatus, getSentEdocList, getAgenciesList, waitForEdoc) over mutual TLS.
    /// Ready when it logs `axis listening on ADDR`.
    #[command(args_conflicts_with_subcommands = true)]
    Axis {
        /// The axis configuration file (TOML: [axis], [tls], [[systems]], [enrolment]; see
        /// README.md).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<AxisCommand>,
    },
    /// Write or check a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a whole exchange on loopback: no root, no hardware.
    Demo(DemoArgs),
    /// Read or write edXML packets (QCVN 102:2016).
    #[command(subcommand)]
    Edxml(EdxmlCommand),
    /// Sign a PDF as a leader or as the agency (PAdES; B-T when --tsa answers).
    Sign(SignArgs),
    /// Print the signatures report of a PDF; exit 0 only when every signature is valid.
    Verify(VerifyArgs),
    /// The registers (sổ văn bản) of a gateway.
    #[command(subcommand)]
    Register(RegisterCommand),
    /// The clerk accounts of the clerk pages (/clerk/ on the LAN side).
    #[command(subcommand)]
    Clerk(clerk_cli::ClerkCommand),
    /// What the status page shows, for a console: link, queues, seal, certificates, disk
    /// and every failing check. Asks the running daemon; exits 1 when a check fails or the
    /// box is not provisioned yet, and 2 when the daemon does not answer.
    Status {
        /// The configuration file (for the listen address and the API token).
        #[arg(long, default_value = "/etc/docgate/docgate.toml")]
        config: PathBuf,
        /// Print the facts as JSON (as `GET /api/v1/status` answers them).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AxisCommand {
    /// Enrolment codes and enrolled boxes (needs [enrolment] in the axis configuration).
    #[command(subcommand)]
    Enroll(axis_enrol_cli::EnrolCommand),
}

#[derive(Subcommand)]
enum RegisterCommand {
    /// Export one register year (NĐ 30/2020 Phụ lục IV columns) as CSV (UTF-8 with BOM, for
    /// Excel), a printable HTML page (A4 landscape) or JSON — the same bytes as the local
    /// API's GET /api/v1/registers/{out|in}?year=…&format=…. Reads the gateway's database
    /// read-only: safe while `docgate run` is running; changes nothing.
    Export(RegisterExportArgs),
}

#[derive(Args)]
struct RegisterExportArgs {
    /// The gateway configuration (its state directory and agency name).
    #[arg(long)]
    config: PathBuf,
    /// `out` (sổ văn bản đi, outgoing) or `in` (sổ văn bản đến, incoming).
    #[arg(long)]
    register: String,
    /// The register year (Vietnam time), e.g. 2026.
    #[arg(long)]
    year: String,
    /// Outgoing register only: `general` (default) or `secret` (the series of secret
    /// documents, which are never sent over the network).
    #[arg(long)]
    series: Option<String>,
    /// `csv` (default), `html` or `json`.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Write here instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["token_label", "key_file"])))]
struct SignArgs {
    /// The label of the PKCS#11 token holding the key (never a slot number).
    #[arg(long)]
    token_label: Option<String>,
    /// The PKCS#11 module of the token.
    #[arg(long, default_value = "/usr/lib/softhsm/libsofthsm2.so")]
    module: PathBuf,
    /// A file holding the token's user PIN.
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// A PEM file holding the PKCS#8 private key, then the signing certificate and any
    /// intermediates (no hardware needed: leaders' stations without a token, the demo).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Whose signature: `leader`, or `agency` (only over a valid leader's signature).
    #[arg(long, value_parser = ["leader", "agency"])]
    role: String,
    /// Trust roots (PEM) the leader's signature is checked against before `--role agency`.
    #[arg(long = "trust")]
    trust_roots: Vec<PathBuf>,
    /// CRLs (PEM or DER) for that check.
    #[arg(long = "crl")]
    crls: Vec<PathBuf>,
    /// RFC 3161 timestamp authority URL; without it the signature is PAdES B-B.
    #[arg(long)]
    tsa: Option<String>,
    /// Show the signature on the last page as this PNG (the agency's red seal, or a
    /// leader's signature image) at its size on paper (its pHYs resolution, else 40 mm
    /// wide), with the signing time under it. With `--role agency` it goes over the left
    /// third of the leader's visible signature when there is one. Without it the signature
    /// is invisible.
    #[arg(long, value_name = "PNG")]
    seal_image: Option<PathBuf>,
    /// Where the seal picture's lower-left corner goes, in millimetres from the page's
    /// lower-left corner (`X,Y`), when it does not go over a leader's signature. Default:
    /// the bottom right of the page, 20 mm from the right edge and 25 mm above the bottom.
    #[arg(long, value_name = "X,Y", requires = "seal_image", value_parser = parse_position_mm)]
    seal_position: Option<(f64, f64)>,
    input: PathBuf,
    output: PathBuf,
}

/// `X,Y` in millimetres, each from 0 to 1000.
fn parse_position_mm(text: &str) -> Result<(f64, f64), String> {
    let usage = || format!("{text:?} is not X,Y in millimetres (e.g. 120,40)");
    let (x, y) = text.split_once(',').ok_or_else(usage)?;
    let number = |part: &str| {
        part.trim()
            .parse::<f64>()
            .ok()
            .filter(|value| (0.0..=1000.0).contains(value))
            .ok_or_else(usage)
    };
    Ok((number(x)?, number(y)?))
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "evidence"])))]
struct VerifyArgs {
    /// The PDF whose signatures to report.
    file: Option<PathBuf>,
    /// Instead of a PDF: check the evidence log of the gateway `--config` names (hash chain,
    /// signed batches, proofs), read-only, also while the daemon runs.
    #[arg(long, requires = "config")]
    evidence: bool,
    /// The gateway configuration (for --evidence: its state directory, and its [signing]
    /// trust roots unless --trust is given).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Trust roots (PEM); repeat for several files.
    #[arg(long = "trust")]
    trust_roots: Vec<PathBuf>,
    /// CRLs (PEM or DER); without one for an issuer, revocation is reported "unknown".
    #[arg(long = "crl")]
    crls: Vec<PathBuf>,
    /// Fetch the CRLs certificates name (their distribution points) when --crl has none
    /// for an issuer, caching them in this directory until their next update.
    #[arg(long)]
    crl_cache: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Write DIR/docgate.toml: a working stand-alone gateway with its state under DIR and a
    /// fresh API token. Prints `config: PATH` and `api_token: TOKEN`.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Address the local API listens on.
        #[arg(long, default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        /// This office's agency code (mã định danh).
        #[arg(long, default_value = "000.00.01.H41")]
        organ_id: String,
        /// This office's name as it appears on its documents.
        #[arg(long, default_value = "Văn phòng UBND (đổi tên trong docgate.toml)")]
        organ_name: String,
        /// Leave the agency out and write `[provisioning]`: the box boots "not provisioned"
        /// and is enrolled with a code from provincial IT (`docgate enroll`, or the form on
        /// its status page).
        #[arg(long, conflicts_with_all = ["organ_id", "organ_name"])]
        provisioned: bool,
        /// Where the database and blobs live (`gateway.state_dir`), e.g. /var/lib/docgate
        /// on the appliance; default: `state` next to the file.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Validate a configuration file with the same rules `docgate run` applies.
    Check {
        /// The configuration file (or use --config).
        file: Option<PathBuf>,
        #[arg(long = "config")]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
struct DemoArgs {
    /// Where the demo keeps its configs, state and demo.json (default: a new directory
    /// under the system's temp directory). An existing demo there is run again.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Only write the configs and demo.json; start nothing.
    #[arg(long)]
    setup_only: bool,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    exit_after: Option<u64>,
}

#[derive(Subcommand)]
enum EdxmlCommand {
    /// Read a packet; print it (as JSON with --json), or one clear line on stderr and exit non-zero.
    Parse {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write a packet from a header (JSON, the shape `parse --json` prints) and attachments.
    Build {
        #[arg(long)]
        meta: PathBuf,
        #[arg(long = "attach")]
        attachments: Vec<PathBuf>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

/// An error and the exit code it deserves.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            error: error.into(),
        }
    }
}

fn bad_config(error: config::ConfigError) -> Failure {
    Failure {
        code: EXIT_BAD_CONFIG,
        error: error.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // One line a person can act on: the chain of causes, joined.
            eprintln!("docgate: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run { config, drop_to } => run_gateway(&config, drop_to.as_deref()),
        Command::Status { config, json } => status(&config, json),
        Command::Axis {
            command: Some(AxisCommand::Enroll(command)),
            ..
        } => Ok(axis_enrol_cli::run(command)?),
        Command::Axis {
            config: Some(config),
            command: None,
        } => run_axis(&config),
        Command::Axis {
            config: None,
            command: None,
        } => Err(Failure {
            code: EXIT_USAGE,
            error: anyhow::anyhow!("give --config FILE to run the axis, or a subcommand (enroll)"),
        }),
        Command::Config(ConfigCommand::Init {
            dir,
            listen,
            organ_id,
            organ_name,
            provisioned,
            state_dir,
        }) => {
            let result = config::write_initial(&InitOptions {
                dir,
                listen,
                organ_id,
                organ_name,
                provisioned,
                state_dir,
            })
            .map_err(bad_config)?;
            println!("config: {}", result.config_path.display());
            println!("api_token: {}", result.api_token);
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file, config }) => {
            let path = file
                .or(config)
                .unwrap_or_else(|| PathBuf::from("/etc/docgate/docgate.toml"));
            GatewayConfig::load(&path).map_err(bad_config)?;
            println!("{}: ok", path.display());
            Ok(())
        }
        Command::Demo(args) => run_demo(args),
        Command::Edxml(command) => run_edxml(command),
        Command::Sign(args) => run_sign(args),
        Command::Verify(args) => run_verify(args),
        Command::Register(RegisterCommand::Export(args)) => run_register_export(args),
        Command::Clerk(command) => Ok(clerk_cli::run(command)?),
        Command::Enroll(args) => Ok(box_cli::enrol(args)?),
        Command::Reset(args) => Ok(box_cli::reset(args)?),
        Command::BootCheck(args) => Ok(box_cli::boot_check(args)?),
    }
}

/// `docgate register export`: one register year, read-only, to a file or standard output.
fn run_register_export(args: RegisterExportArgs) -> Result<(), Failure> {
    use docgate::store::registers::RegisterReader;
    use docgate::workflow::register::{parse_register, parse_year};
    use docgate::workflow::register_export::{ExportFormat, RegisterExport};
    use std::io::Write;
    let usage = |error: &dyn std::fmt::Display| Failure {
        code: EXIT_USAGE,
        error: anyhow::anyhow!("{error}"),
    };
    let kind = parse_register(&args.register, args.series.as_deref()).map_err(|e| usage(&e))?;
    let year = parse_year(&args.year).map_err(|e| usage(&e))?;
    let format = ExportFormat::parse(Some(&args.format)).map_err(|e| usage(&e))?;
    let config = GatewayConfig::load(&args.config).map_err(bad_config)?;
    let database = config.gateway.state_dir.join(docgate::store::DATABASE_FILE);
    let reader = RegisterReader::open(&database)?;
    let export = RegisterExport::new(
        kind,
        year,
        &config.gateway.organ_name,
        reader.closure(kind, year)?,
        &reader.rows(kind, year)?,
    );
    let bytes = export.render(format)?;
    match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .context("cannot write to standard output")?,
    }
    Ok(())
}

fn run_sign(args: SignArgs) -> Result<(), Failure> {
    use docgate::signature::command::{self, SignOptions, SigningRole};
    let signer: Box<dyn docgate::signature::DocumentSigner> =
        match (&args.key_file, &args.token_label) {
            (Some(key_file), _) => Box::new(docgate::signature::KeyFileSigner::load(key_file)?),
            (None, Some(label)) => {
                let pin_file = args
                    .pin_file
                    .clone()
                    .context("--token-label needs --pin-file (the file holding the token's PIN)")?;
                let token = docgate::token::Token::start(docgate::token::TokenConfig::new(
                    &args.module,
                    label,
                    pin_file,
                ));
                wait_for_token(&token, label)?;
                Box::new(docgate::signature::TokenSigner::new(token, Vec::new())?)
            }
            (None, None) => return Err(anyhow::anyhow!("give --token-label or --key-file").into()),
        };
    let options = SignOptions {
        role: if args.role == "agency" {
            SigningRole::Agency
        } else {
            SigningRole::Leader
        },
        trust_roots: args.trust_roots,
        crls: args.crls,
        tsa_url: args.tsa,
        seal_image: args.seal_image,
        seal_position_mm: args.seal_position,
    };
    let signed = command::sign(&args.input, &args.output, signer.as_ref(), &options)?;
    println!(
        "signed {} as {} (field {}, PAdES {})",
        args.output.display(),
        args.role,
        signed.field_name,
        match signed.level {
            docgate::signature::pades::PadesLevel::BB => "B-B",
            docgate::signature::pades::PadesLevel::BT => "B-T",
        }
    );
    if let Some(error) = signed.timestamp_error {
        eprintln!("docgate: no timestamp ({error}); the signature is B-B");
    }
    Ok(())
}

/// `docgate verify --evidence --config FILE`: the evidence log's chain and signed batches.
fn run_verify_evidence(args: &VerifyArgs) -> Result<(), Failure> {
    use docgate::signature::trust::TrustStore;
    let config_path = args
        .config
        .as_ref()
        .context("--evidence needs --config (the gateway's configuration)")?;
    let config = GatewayConfig::load(config_path).map_err(bad_config)?;
    let (roots, crls) = match (&config.signing, args.trust_roots.is_empty()) {
        (Some(signing), true) => (signing.trust_roots.clone(), signing.crls.clone()),
        _ => (args.trust_roots.clone(), args.crls.clone()),
    };
    let trust = TrustStore::load(&roots, &crls)?;
    let database = config.gateway.state_dir.join(docgate::store::DATABASE_FILE);
    let report = docgate::workflow::evidence::verify_evidence(
        &database,
        &trust,
        time::OffsetDateTime::now_utc(),
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot render the report")?
        );
    } else {
        println!(
            "evidence log: {} records, {} signed in {} batches, {} not signed yet",
            report.records, report.signed_records, report.batches, report.unsigned_records
        );
        for problem in &report.problems {
            println!("  problem: {problem}");
        }
        println!(
            "evidence: {}",
            if report.intact { "INTACT" } else { "BROKEN" }
        );
    }
    if report.intact {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}: the evidence log is broken", database.display()).into())
    }
}

/// Waits up to 10 s for the token; a rejected PIN or a missing module ends it at once
/// (a wrong PIN is tried once: a real token locks after a few).
fn wait_for_token(token: &docgate::token::Token, label: &str) -> Result<(), Failure> {
    use docgate::token::TokenStatus;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = token.status();
        match status {
            TokenStatus::Ready { .. } => return Ok(()),
            TokenStatus::PinRejected { .. } | TokenStatus::ModuleUnavailable { .. } => {
                return Err(anyhow::anyhow!("token '{label}': {status}").into())
            }
            _ if std::time::Instant::now() >= deadline => {
                return Err(anyhow::anyhow!("token '{label}': {status}").into())
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn run_verify(args: VerifyArgs) -> Result<(), Failure> {
    use docgate::signature::command;
    if args.evidence {
        return run_verify_evidence(&args);
    }
    let Some(file) = args.file.clone() else {
        return Err(anyhow::anyhow!("give a PDF to verify, or --evidence --config FILE").into());
    };
    let report = command::verify(
        &file,
        &args.trust_roots,
        &args.crls,
        args.crl_cache.as_deref(),
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot render the report")?
        );
    } else {
        print!("{}", command::report_text(&report));
    }
    if report.valid {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_FAILURE,
            error: anyhow::anyhow!("{}: not every signature is valid", file.display()),
        })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?)
}

fn sandbox_failure(error: SandboxError) -> Failure {
    Failure {
        code: if error.is_about_privileges() {
            EXIT_PRIVILEGES
        } else {
            EXIT_FAILURE
        },
        error: error.into(),
    }
}

/// `docgate run`: configuration, who runs, the port, the drop to `--drop-to`'s user, the
/// sandbox, and only then the runtime and its threads (ARCHITECTURE.md, invariants).
fn run_gateway(config_path: &Path, drop_to: Option<&str>) -> Result<(), Failure> {
    let config = GatewayConfig::load(config_path).map_err(bad_config)?;
    let privileges = sandbox::Privileges::of_this_process().map_err(sandbox_failure)?;
    let plan = sandbox::plan(&privileges, drop_to).map_err(sandbox_failure)?;
    let address = config.api.listen;
    let listener = std::net::TcpListener::bind(address)
        .map_err(|source| gateway::GatewayError::Listen { address, source })?;
    if let sandbox::Plan::DropTo(user) = &plan {
        let dropped = sandbox::drop_to(user).map_err(sandbox_failure)?;
        tracing::info!(
            user = %dropped.user,
            uid = dropped.uid,
            gid = dropped.gid,
            "started as root: now running as {}",
            dropped.user
        );
    }
    sandbox::confine_gateway(&config).map_err(sandbox_failure)?;
    #[cfg(feature = "fault-injection")]
    sandbox::probe::run_from_env();
    runtime()?.block_on(async {
        let shutdown = Shutdown::new();
        shutdown.trigger_on_signals();
        let address = listener.local_addr().ok();
        let clock = docgate::system::clock::process_clock();
        docgate::boot::run(&config, listener, shutdown, clock, |running, process| {
            tracing::info!(address = ?address, organ_id = %running.organ_id, "gateway ready");
            running.notify_systemd_within(process);
        })
        .await?;
        Ok(())
    })
}

/// `docgate status`: the daemon's status facts, as text or JSON.
fn status(config_path: &Path, json: bool) -> Result<(), Failure> {
    let config = GatewayConfig::load(config_path).map_err(bad_config)?;
    let daemon = local_daemon::LocalDaemon::from_config(&config).map_err(|error| Failure {
        code: EXIT_BAD_CONFIG,
        error,
    })?;
    let url = format!("{}/api/v1/status", daemon.base);
    let does_not_answer = |error: &dyn std::fmt::Display| {
        Failure {
        code: 2,
        error: anyhow::anyhow!(
            "the gateway does not answer at {url} ({error}); is it running? (systemctl status docgate)"
        ),
    }
    };
    let (code, body) = runtime()?
        .block_on(daemon.get_json("/api/v1/status"))
        .map_err(|error| does_not_answer(&error))?;
    let facts = if code.is_success() {
        body
    } else if docgate::web::status_text::is_not_provisioned(&body) {
        if json {
            println!("{body:#}");
        } else {
            let page = format!("{}/", daemon.base);
            print!(
                "{}",
                docgate::web::status_text::render_not_provisioned(&body, &page)
            );
        }
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("this box is not provisioned yet; see above"),
        });
    } else {
        return Err(does_not_answer(&format_args!("HTTP {code}: {body}")));
    };
    if json {
        println!("{facts:#}");
    } else {
        print!("{}", docgate::web::status_text::render(&facts));
    }
    if docgate::web::status_text::any_failing(&facts) {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("a check fails; see above"),
        });
    }
    Ok(())
}

fn run_axis(config_path: &Path) -> Result<(), Failure> {
    let config = AxisConfig::load(config_path).map_err(|error| Failure {
        code: EXIT_BAD_CONFIG,
        error: error.into(),
    })?;
    runtime()?.block_on(async {
        let listener = axis::bind(&config).await?;
        let shutdown = Shutdown::new();
        shutdown.trigger_on_signals();
        axis::run(&config, listener, shutdown, |_| {}).await?;
        Ok(())
    })
}

fn run_demo(args: DemoArgs) -> Result<(), Failure> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("docgate-demo-{}", ulid::Ulid::new())),
    };
    let manifest = match demo::load(&dir)? {
        Some(manifest) if !args.setup_only => manifest,
        _ => demo::setup(&dir)?,
    };
    println!("demo directory: {}", dir.display());
    println!("demo.json: {}", dir.join("demo.json").display());
    if args.setup_only {
        return Ok(());
    }
    // The demo runs every part in this process: the environment its parts need (the
    // SoftHSM configuration of its tokens) is set now, before any thread starts.
    for process in manifest.gateways.values() {
        for (name, value) in &process.env {
            std::env::set_var(name, value);
        }
    }
    runtime()?.block_on(demo::run(
        &manifest,
        args.exit_after.map(Duration::from_secs),
    ))?;
    Ok(())
}

fn run_edxml(command: EdxmlCommand) -> Result<(), Failure> {
    match command {
        EdxmlCommand::Parse { file, json } => {
            if json {
                let value = edxml::command::parse_to_json(&file)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).context("cannot print JSON")?
                );
            } else {
                print!("{}", edxml::command::parse_to_text(&file)?);
            }
            Ok(())
        }
        EdxmlCommand::Build {
            meta,
            attachments,
            output,
        } => {
            edxml::command::build_packet(&meta, &attachments, &output)?;
            println!("wrote {}", output.display());
            Ok(())
        }
    }
}
