//! Writes a whole demo exchange under one directory: a test PKI for the links, a second one
//! for documents (`signing/`: a CA, its CRL, each office's leader key and agency seal), the
//! axis's config with one registered system per gateway (shared secret, agency codes), two
//! gateway configs (a district and a commune) that point at the axis and check and apply
//! signatures (`[signing]`), and `demo.json` describing how to run
//! each part as its own process. Only public formats are written: each config is one that
//! `docgate axis` / `docgate run` accept, and a script can drive everything from the manifest.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};

use super::pki::TestCa;
use super::tokens::{self, DemoKey, DemoSoftHsm};
use super::{DemoError, DemoManifest, DemoProcess};
use crate::system::config::{self, InitOptions};

/// One office of the demo.
pub struct DemoOffice {
    /// Key in `demo.json` and directory name suffix.
    pub key: &'static str,
    pub organ_id: &'static str,
    pub organ_name: &'static str,
}

/// The district (huyện) office.
pub const DISTRICT: DemoOffice = DemoOffice {
    key: "district",
    organ_id: "001.00.10.H41",
    organ_name: "UBND huyện Thử Nghiệm",
};

/// The commune (xã) office under it.
pub const COMMUNE: DemoOffice = DemoOffice {
    key: "commune",
    organ_id: "001.01.10.H41",
    organ_name: "UBND xã Thử Nghiệm",
};

/// The province, which runs the axis.
pub const PROVINCE_ORGAN_ID: &str = "000.00.00.H41";

/// Writes the configs and `demo.json` under `dir` (which must not hold a demo yet).
pub fn setup(dir: &Path) -> Result<DemoManifest, DemoError> {
    let manifest_path = dir.join("demo.json");
    if manifest_path.exists() {
        return Err(DemoError::Exists {
            path: manifest_path,
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = dir.canonicalize().map_err(io(dir))?;
    let tls_dir = dir.join("tls");
    let ca = TestCa::create("docgate demo CA", &tls_dir, "ca")?;
    let axis_dir = dir.join("axis");
    let axis_listen = free_loopback_port().map_err(io(&axis_dir))?;
    let axis_url = format!("https://{axis_listen}");
    let executable = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "docgate".into());

    let signing_dir = dir.join("signing");
    let document_ca = TestCa::create("Ban Cơ yếu Chính phủ (demo)", &signing_dir, "ca")?;
    let softhsm = DemoSoftHsm::create(&dir.join("softhsm"))?;
    let crl = document_ca.revocation_list(&[], &signing_dir, "ca-crl")?;
    let mut tokens = std::collections::BTreeMap::new();
    let mut gateways = std::collections::BTreeMap::new();
    let mut systems = String::new();
    for (index, office) in [&DISTRICT, &COMMUNE].into_iter().enumerate() {
        let signing = setup_signing(
            &signing_dir,
            &document_ca,
            office,
            index as u64,
            softhsm.as_ref(),
        )?;
        tokens.insert(
            format!("{}-leader", office.key),
            signing.leader.manifest_entry(softhsm.as_ref()),
        );
        tokens.insert(
            format!("{}-agency", office.key),
            signing.agency.manifest_entry(softhsm.as_ref()),
        );
        let secret = config::fresh_token().map_err(io(&axis_dir))?;
        let secret_path = axis_dir.join("secrets").join(office.organ_id);
        write_private(&secret_path, &secret)?;
        systems.push_str(&format!(
            "\n[[systems]]\nid = \"{id}\"\nname = \"{name}\"\nsecret_file = \"secrets/{id}\"\nagencies = [\"{id}\"]\n",
            id = office.organ_id,
            name = office.organ_name,
        ));
        let mut process = setup_gateway(&dir, &ca, office, &axis_url, &secret, &executable)?;
        if let Some(softhsm) = &softhsm {
            process.env.insert(
                tokens::SOFTHSM_CONF_ENV.into(),
                softhsm.conf.display().to_string(),
            );
        }
        let signing_section = format!(
            "\n[signing]\n{}trust_roots = [\"{}\"]\ncrls = [\"{}\"]\n",
            signing.agency.signing_keys(),
            document_ca.certificate.display(),
            crl.display(),
        );
        append(&process.config, &signing_section)?;
        gateways.insert(office.key.to_string(), process);
    }
    let axis_tls = ca.issue_server("docgate demo axis", &tls_dir, "axis")?;
    let axis_config = axis_dir.join("axis.toml");
    let text = format!(
        "# The demo's reference provincial axis, written by `docgate demo`.\n\
         # Relative paths are relative to this file.\n\n\
         [axis]\nlisten = \"{axis_listen}\"\nstate_dir = \"state\"\n\n\
         [tls]\ncertificate = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n{systems}",
        axis_tls.certificate.display(),
        axis_tls.key.display(),
        ca.certificate.display(),
    );
    write_private(&axis_config, &text)?;
    let axis = DemoProcess {
        env: Default::default(),
        clerk: None,
        url: axis_url,
        api_token: None,
        organ_id: PROVINCE_ORGAN_ID.into(),
        command: vec![
            executable,
            "axis".into(),
            "--config".into(),
            axis_config.display().to_string(),
        ],
        config: axis_config,
    };
    let manifest = DemoManifest {
        axis: Some(axis),
        gateways,
        tokens,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|error| DemoError::Io {
        path: manifest_path.clone(),
        source: std::io::Error::other(error),
    })?;
    std::fs::write(&manifest_path, json).map_err(io(&manifest_path))?;
    Ok(manifest)
}

/// An office's signing keys: its leader's personal key and its agency seal, on SoftHSM
/// tokens when it is installed, else as key files.
struct OfficeSigning {
    leader: DemoKey,
    agency: DemoKey,
}

fn setup_signing(
    dir: &Path,
    ca: &TestCa,
    office: &DemoOffice,
    index: u64,
    softhsm: Option<&DemoSoftHsm>,
) -> Result<OfficeSigning, DemoError> {
    let leader_stem = format!("{}-leader", office.key);
    let agency_stem = format!("{}-agency", office.key);
    let leader = ca.issue_document_signer(
        "Nguyễn Văn Mẫu",
        office.organ_name,
        100 + 2 * index,
        dir,
        &leader_stem,
    )?;
    let agency = ca.issue_document_signer(
        office.organ_name,
        office.organ_name,
        101 + 2 * index,
        dir,
        &agency_stem,
    )?;
    let keep = |stem: &str, files: &super::pki::SignerFiles| match softhsm {
        Some(softhsm) => softhsm.provision(stem, &files.issued.key, &files.issued.certificate),
        None => Ok(DemoKey::File(files.key_file.clone())),
    };
    Ok(OfficeSigning {
        leader: keep(&leader_stem, &leader)?,
        agency: keep(&agency_stem, &agency)?,
    })
}

/// A gateway's directory: `config init`'s stand-alone config plus an `[axis]` section,
/// its client certificate and the secret it shares with the axis.
fn setup_gateway(
    dir: &Path,
    ca: &TestCa,
    office: &DemoOffice,
    axis_url: &str,
    secret: &str,
    executable: &str,
) -> Result<DemoProcess, DemoError> {
    let gateway_dir = dir.join(format!("gateway-{}", office.key));
    let listen = free_loopback_port().map_err(io(&gateway_dir))?;
    let init = config::write_initial(&InitOptions {
        dir: gateway_dir.clone(),
        listen,
        organ_id: office.organ_id.into(),
        organ_name: office.organ_name.into(),
        provisioned: false,
        state_dir: None,
    })?;
    let tls = ca.issue_client(office.organ_id, &gateway_dir.join("tls"), "gateway", None)?;
    write_private(&gateway_dir.join("axis-secret"), secret)?;
    let axis_section = format!(
        "\n[axis]\nurl = \"{axis_url}\"\nsystem_id = \"{}\"\nsecret_file = \"axis-secret\"\n\
         ca = \"{}\"\ncertificate = \"{}\"\nkey = \"{}\"\n",
        office.organ_id,
        ca.certificate.display(),
        tls.certificate.display(),
        tls.key.display(),
    );
    append(&init.config_path, &axis_section)?;
    let clerk = add_clerk(&init.config_path, office)?;
    Ok(DemoProcess {
        clerk: Some(clerk),
        url: format!("http://{listen}"),
        api_token: Some(init.api_token),
        organ_id: office.organ_id.into(),
        env: Default::default(),
        command: vec![
            executable.to_owned(),
            "run".into(),
            "--config".into(),
            init.config_path.display().to_string(),
        ],
        config: init.config_path,
    })
}

/// A clerk account `vanthu` with a random password, in the accounts file beside `config`.
fn add_clerk(config: &Path, office: &DemoOffice) -> Result<super::DemoClerk, DemoError> {
    use crate::system::clerk_accounts::{self, ClerkAccounts};
    let path = clerk_accounts::default_path(config);
    let token = config::fresh_token().map_err(io(&path))?;
    let password = token[..20].to_string();
    let mut accounts = ClerkAccounts::default();
    let failed = |error: clerk_accounts::AccountsError| DemoError::Io {
        path: path.clone(),
        source: std::io::Error::other(error.to_string()),
    };
    accounts
        .add(
            "vanthu",
            &format!("Văn thư {}", office.organ_name),
            &password,
        )
        .map_err(failed)?;
    accounts.save(&path).map_err(failed)?;
    Ok(super::DemoClerk {
        username: "vanthu".into(),
        password,
    })
}

pub(super) fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn append(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError {
    let path: PathBuf = path.to_path_buf();
    move |source| DemoError::Io { path, source }
}

/// A loopback port nothing listens on right now (bind port 0, note it, let it go).
fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}
