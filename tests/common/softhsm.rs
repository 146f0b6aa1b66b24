//! SoftHSM2 as the agency's USB token, for tests: a configuration with its own token
//! directory, tokens made with `softhsm2-util`, private keys imported with `softhsm2-util`
//! and certificates with `pkcs11-tool`, "unplugging" by moving a token's directory out of
//! the token directory and back, and a small test PKI (rcgen: an RSA 2048 CA issuing
//! document-signing certificates for an RSA 2048 key made by `openssl genpkey` and an EC
//! P-256 key made by rcgen). A missing tool fails the test loudly: CI installs softhsm2,
//! opensc and openssl.
//!
//! SoftHSM is one C state per process and reads `SOFTHSM2_CONF` in `C_Initialize`, so
//! every test of a test binary shares `SoftHsm::shared()` (one configuration, set in the
//! environment once, before any module is loaded) and makes its own uniquely labelled
//! tokens in it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The SoftHSM2 module as Debian installs it.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "87654321";
/// Extra `softhsm2.conf` lines for `SoftHsm::shared()` in this process (a test re-runs
/// its own binary with this set to try a token with fewer mechanisms).
pub const EXTRA_CONF_ENV: &str = "DOCGATE_TEST_SOFTHSM_EXTRA_CONF";

/// A SoftHSM configuration and its token directory.
#[derive(Debug)]
pub struct SoftHsm {
    /// Holds the configuration, `tokens/`, `unplugged/` and `pki/`.
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub tokendir: PathBuf,
    unplugged: PathBuf,
}

impl SoftHsm {
    /// Writes `dir/softhsm2.conf` with the token directory `dir/tokens` and `extra_conf`.
    pub fn create(dir: &Path, extra_conf: &str) -> SoftHsm {
        let softhsm = SoftHsm {
            dir: dir.to_path_buf(),
            conf: dir.join("softhsm2.conf"),
            tokendir: dir.join("tokens"),
            unplugged: dir.join("unplugged"),
        };
        std::fs::create_dir_all(&softhsm.tokendir).expect("create the token directory");
        std::fs::create_dir_all(&softhsm.unplugged).expect("create the unplugged directory");
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = true\n{extra_conf}\n",
            softhsm.tokendir.display()
        );
        std::fs::write(&softhsm.conf, conf).expect("write softhsm2.conf");
        softhsm
    }

    /// The one SoftHSM of this test process; sets `SOFTHSM2_CONF` the first time, before
    /// any test loads the module. Lives under Cargo's target tmp directory; runs older
    /// than an hour are cleaned away.
    pub fn shared() -> &'static SoftHsm {
        static SHARED: OnceLock<SoftHsm> = OnceLock::new();
        SHARED.get_or_init(|| {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("softhsm");
            std::fs::create_dir_all(&base).expect("create the SoftHSM base directory");
            remove_old_runs(&base);
            let dir = tempfile::Builder::new()
                .prefix("run-")
                .tempdir_in(&base)
                .expect("create a SoftHSM directory")
                .keep();
            let extra = std::env::var(EXTRA_CONF_ENV).unwrap_or_default();
            let softhsm = SoftHsm::create(&dir, &extra);
            std::env::set_var("SOFTHSM2_CONF", &softhsm.conf);
            softhsm
        })
    }

    /// A command with this configuration in its environment.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SOFTHSM2_CONF", &self.conf);
        command
    }

    /// A private SoftHSM beside this one, to make tokens in: a token made there appears
    /// in this one's token directory whole, with `insert`, as a real token is plugged in
    /// fully made. (Made in place, a token could be enumerated by a test process's
    /// SoftHSM half-initialised, and SoftHSM keeps a token's PIN state from enumeration.)
    pub fn workshop(&self) -> SoftHsm {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        SoftHsm::create(&self.dir.join("workshops").join(number.to_string()), "")
    }

    /// Makes a token labelled `label` (at most 32 bytes) with the user PIN `pin`.
    pub fn init_token(&self, label: &str, pin: &str) {
        assert!(
            label.len() <= 32,
            "a token label has at most 32 bytes: {label}"
        );
        let mut command = self.command("softhsm2-util");
        command.args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
        ]);
        command.args(["--pin", pin]);
        run(command, "softhsm2-util --init-token");
    }

    /// Makes a token labelled `label` whose user PIN is not set yet, in the first slot (so
    /// only in an empty workshop).
    pub fn init_token_without_user_pin(&self, label: &str) {
        let mut command = self.command("pkcs11-tool");
        command.args(["--module", MODULE, "--slot-index", "0", "--init-token"]);
        command.args(["--label", label, "--so-pin", SO_PIN]);
        run(command, "pkcs11-tool --init-token");
    }

    /// Sets the user PIN of a token made without one.
    pub fn init_user_pin(&self, label: &str, pin: &str) {
        let mut command = self.command("pkcs11-tool");
        command.args(["--module", MODULE, "--token-label", label, "--login"]);
        command.args([
            "--login-type",
            "so",
            "--so-pin",
            SO_PIN,
            "--init-pin",
            "--pin",
            pin,
        ]);
        run(command, "pkcs11-tool --init-pin");
    }

    /// Moves the whole token labelled `label` from `workshop` into this token directory.
    pub fn insert(&self, workshop: &SoftHsm, label: &str) {
        let dir = directory_holding(&workshop.tokendir, label)
            .unwrap_or_else(|| panic!("no token '{label}' in the workshop"));
        let name = dir.file_name().expect("a directory name");
        std::fs::rename(&dir, self.tokendir.join(name)).expect("move the token in");
        super::hand_over_to_test_user(&self.tokendir);
    }

    /// Deletes the token labelled `label` (its directory).
    pub fn delete_token(&self, label: &str) {
        let dir = directory_holding(&self.tokendir, label)
            .unwrap_or_else(|| panic!("no token '{label}' to delete"));
        std::fs::remove_dir_all(dir).expect("delete the token");
    }

    /// Imports a PKCS#8 PEM private key as `key_label` with CKA_ID `id_hex`.
    pub fn import_key(
        &self,
        token: &str,
        pin: &str,
        key_pem: &Path,
        key_label: &str,
        id_hex: &str,
    ) {
        let mut command = self.command("softhsm2-util");
        command.arg("--import").arg(key_pem);
        command.args([
            "--token", token, "--label", key_label, "--id", id_hex, "--pin", pin,
        ]);
        run(command, "softhsm2-util --import");
    }

    /// Writes a DER certificate object labelled `label` with CKA_ID `id_hex`.
    pub fn import_certificate(
        &self,
        token: &str,
        pin: &str,
        certificate_der: &Path,
        label: &str,
        id_hex: &str,
    ) {
        let mut command = self.command("pkcs11-tool");
        command.args([
            "--module",
            MODULE,
            "--token-label",
            token,
            "--login",
            "--pin",
            pin,
        ]);
        command.arg("--write-object").arg(certificate_der);
        command.args(["--type", "cert", "--id", id_hex, "--label", label]);
        run(command, "pkcs11-tool --write-object");
    }

    /// Imports each identity's key and its certificate (sharing the label and an id `01`,
    /// `02`, ...) onto the token labelled `label`.
    pub fn import_identities(&self, label: &str, pin: &str, keys: &[(&Identity, &str)]) {
        for (index, (identity, key_label)) in keys.iter().enumerate() {
            let id = format!("{:02x}", index + 1);
            self.import_key(label, pin, &identity.key_pem, key_label, &id);
            self.import_certificate(label, pin, &identity.certificate_file, key_label, &id);
        }
    }

    /// Makes a token holding `keys` in a workshop and plugs it in here, whole.
    pub fn provision(&self, label: &str, pin: &str, keys: &[(&Identity, &str)]) {
        let workshop = self.workshop();
        workshop.init_token(label, pin);
        workshop.import_identities(label, pin, keys);
        self.insert(&workshop, label);
    }

    /// The subdirectory of the token directory that holds the token labelled `label`.
    pub fn token_directory(&self, label: &str) -> Option<PathBuf> {
        directory_holding(&self.tokendir, label)
    }

    /// "Pulls out" the token: moves its directory out of the token directory.
    pub fn unplug(&self, label: &str) {
        let dir = directory_holding(&self.tokendir, label)
            .unwrap_or_else(|| panic!("no token '{label}' to unplug"));
        let name = dir.file_name().expect("a directory name");
        std::fs::rename(&dir, self.unplugged.join(name)).expect("move the token out");
    }

    /// "Plugs" an unplugged token back in.
    pub fn replug(&self, label: &str) {
        let dir = directory_holding(&self.unplugged, label)
            .unwrap_or_else(|| panic!("no unplugged token '{label}'"));
        let name = dir.file_name().expect("a directory name");
        std::fs::rename(&dir, self.tokendir.join(name)).expect("move the token back");
        super::hand_over_to_test_user(&self.tokendir);
    }

    /// The labels of the present tokens in the order a freshly initialised SoftHSM lists
    /// their slots (what `softhsm2-util --show-slots` prints).
    pub fn slot_labels(&self) -> Vec<String> {
        let mut command = self.command("softhsm2-util");
        command.arg("--show-slots");
        let listing = run(command, "softhsm2-util --show-slots");
        listing
            .lines()
            .filter_map(|line| line.trim().strip_prefix("Label:"))
            .map(|label| label.trim().to_owned())
            .filter(|label| !label.is_empty())
            .collect()
    }
}

/// A token label unique in this process, at most 32 bytes.
pub fn unique_label(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let label = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    assert!(label.len() <= 32, "label too long: {label}");
    label
}

/// Runs `command`; its stdout, or a panic with its stderr. Tests run as root hand the
/// token directory it changed (its `SOFTHSM2_CONF`'s `tokens/`) back to the test user a
/// `docgate run` of theirs runs as.
pub fn run(mut command: Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what} (is it installed?): {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let conf = command
        .get_envs()
        .find(|(name, _)| *name == "SOFTHSM2_CONF")
        .and_then(|(_, value)| value.map(PathBuf::from));
    if let Some(directory) = conf.as_deref().and_then(Path::parent) {
        super::hand_over_to_test_user(&directory.join("tokens"));
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The subdirectory of `parent` whose token is labelled `label`: SoftHSM keeps a token in
/// a directory named by a UUID, its `token.object` carrying the label blank-padded to 32
/// bytes.
fn directory_holding(parent: &Path, label: &str) -> Option<PathBuf> {
    let padded = format!("{label:<32}");
    std::fs::read_dir(parent)
        .expect("list a token directory")
        .map(|entry| entry.expect("a directory entry").path())
        .find(|dir| {
            std::fs::read(dir.join("token.object"))
                .map(|object| {
                    object
                        .windows(padded.len())
                        .any(|window| window == padded.as_bytes())
                })
                .unwrap_or(false)
        })
}

fn remove_old_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A key pair and its document-signing certificate, as files.
#[derive(Debug)]
pub struct Identity {
    /// PKCS#8 PEM private key.
    pub key_pem: PathBuf,
    pub certificate_der: Vec<u8>,
    pub certificate_file: PathBuf,
    /// The certificate's public key as PEM (`openssl x509 -pubkey`), for `openssl dgst`.
    pub public_key_pem: PathBuf,
}

/// The test PKI: an RSA 2048 CA and its two document-signing identities.
#[derive(Debug)]
pub struct TestPki {
    pub ca_certificate_der: Vec<u8>,
    pub rsa: Identity,
    pub ec: Identity,
}

impl TestPki {
    /// The CA certificate as PEM, for a `trust_roots` file.
    pub fn ca_certificate_pem(&self) -> String {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(&self.ca_certificate_der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }
}

/// The test PKI of this process, made once (RSA key generation takes a moment).
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = SoftHsm::shared().dir.join("pki");
        std::fs::create_dir_all(&dir).expect("create the PKI directory");
        let ca_key = KeyPair::from_pem(&openssl_rsa_key(&dir.join("ca.key")))
            .expect("load the CA's RSA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = name("docgate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, ca_key).expect("self-sign the CA");

        let rsa_key_pem = openssl_rsa_key(&dir.join("rsa.key"));
        let rsa_key = KeyPair::from_pem(&rsa_key_pem).expect("load the RSA key");
        let rsa = issue(&ca, &rsa_key, &dir, "rsa", "UBND xã Thử Nghiệm (RSA)");

        let ec_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        std::fs::write(dir.join("ec.key"), ec_key.serialize_pem()).expect("write the EC key");
        let ec = issue(&ca, &ec_key, &dir, "ec", "UBND xã Thử Nghiệm (EC)");
        TestPki {
            ca_certificate_der: ca.der().to_vec(),
            rsa,
            ec,
        }
    })
}

/// A 2048-bit RSA key from `openssl genpkey` (rcgen with ring cannot make RSA keys),
/// written as PKCS#8 PEM to `path`; returns the PEM.
fn openssl_rsa_key(path: &Path) -> String {
    let mut command = Command::new("openssl");
    command.args([
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
    ]);
    command.arg(path);
    run(command, "openssl genpkey");
    std::fs::read_to_string(path).expect("read the RSA key")
}

fn issue(
    ca: &CertifiedIssuer<'static, KeyPair>,
    key: &KeyPair,
    dir: &Path,
    stem: &str,
    common_name: &str,
) -> Identity {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = name(common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    // id-kp-documentSigning (RFC 9336).
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![
        1, 3, 6, 1, 5, 5, 7, 3, 36,
    ])];
    let certificate = params.signed_by(key, ca).expect("issue the certificate");
    let key_pem = dir.join(format!("{stem}.key"));
    std::fs::write(&key_pem, key.serialize_pem()).expect("write the key");
    let certificate_file = dir.join(format!("{stem}.der"));
    std::fs::write(&certificate_file, certificate.der()).expect("write the certificate");
    let public_key_pem = dir.join(format!("{stem}.pub.pem"));
    let mut command = Command::new("openssl");
    command.args(["x509", "-inform", "DER", "-pubkey", "-noout", "-in"]);
    command.arg(&certificate_file);
    std::fs::write(&public_key_pem, run(command, "openssl x509 -pubkey")).expect("write pubkey");
    Identity {
        key_pem,
        certificate_der: certificate.der().to_vec(),
        certificate_file,
        public_key_pem,
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "docgate test PKI");
    name
}
