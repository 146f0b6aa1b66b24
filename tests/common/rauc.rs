//! A real RAUC (Debian's `rauc` and `rauc-service`) on this machine, for the update tests:
//! its own D-Bus system bus (a `dbus-daemon` on a socket in the test's directory), two
//! file-backed raw slots A and B, a boot-loader backend that keeps its state in files, a
//! keyring of provincial IT's test CA, and `rauc service` in a mount namespace where
//! `/proc/cmdline` says slot A booted. Bundles are RAUC's `plain` format: `verity` needs
//! device-mapper, which this machine lacks (the appliance image has it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The compatible string the system and its bundles carry.
pub const COMPATIBLE: &str = "docgate-x86_64";

/// A RAUC system with its own bus and service; both are killed on drop.
pub struct Rauc {
    pub dir: PathBuf,
    bus: Child,
    service: Child,
    bus_address: String,
}

/// A signer: key and certificate files.
pub struct Signer {
    pub key: PathBuf,
    pub certificate: PathBuf,
}

/// Whether the tools are here (tools/test.sh installs them).
pub fn available() -> bool {
    ["rauc", "dbus-daemon", "unshare", "mksquashfs"]
        .iter()
        .all(|tool| which(tool))
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A self-signed signer named `name` (provincial IT's update key, or an impostor's).
pub fn signer(dir: &Path, name: &str) -> Signer {
    let key = dir.join(format!("{name}.key"));
    let certificate = dir.join(format!("{name}.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .expect("openssl req");
    assert!(output.status.success(), "{output:?}");
    Signer { key, certificate }
}

impl Rauc {
    /// Slots of `slot_bytes` each under `dir`, trusting `keyring`'s certificate.
    pub fn start(dir: &Path, keyring: &Path, slot_bytes: u64) -> Rauc {
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        std::fs::create_dir_all(dir.join("mnt")).expect("mount prefix");
        for slot in ["a.img", "b.img"] {
            let file = std::fs::File::create(dir.join(slot)).expect("slot");
            file.set_len(slot_bytes).expect("slot size");
        }
        let backend = dir.join("bootloader.sh");
        std::fs::write(&backend, backend_script(dir)).expect("backend");
        set_executable(&backend);
        std::fs::write(dir.join("cmdline"), "console=ttyS0 rauc.slot=A\n").expect("cmdline");
        std::fs::write(
            dir.join("system.conf"),
            format!(
                "[system]\ncompatible={COMPATIBLE}\nbootloader=custom\ndata-directory={data}\n\n\
                 [handlers]\nbootloader-custom-backend={backend}\n\n\
                 [keyring]\npath={keyring}\n\n\
                 [slot.rootfs.0]\ndevice={a}\ntype=raw\nbootname=A\n\n\
                 [slot.rootfs.1]\ndevice={b}\ntype=raw\nbootname=B\n",
                data = dir.join("data").display(),
                backend = backend.display(),
                keyring = keyring.display(),
                a = dir.join("a.img").display(),
                b = dir.join("b.img").display(),
            ),
        )
        .expect("system.conf");
        let socket = dir.join("bus.sock");
        std::fs::write(dir.join("bus.conf"), bus_config(&socket)).expect("bus.conf");
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", dir.join("bus.conf").display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        wait_for_path(&socket);
        let bus_address = format!("unix:path={}", socket.display());
        // `/proc/cmdline` names the booted slot; only this service's namespace sees ours.
        let service = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {cmdline} /proc/cmdline && exec rauc service --conf={conf} --mount={mount}",
                cmdline = dir.join("cmdline").display(),
                conf = dir.join("system.conf").display(),
                mount = dir.join("mnt").display(),
            ))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus_address)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("service.log")).expect("log"))
            .spawn()
            .expect("rauc service");
        let rauc = Rauc {
            dir: dir.to_path_buf(),
            bus,
            service,
            bus_address,
        };
        let started = Instant::now();
        while !rauc.rauc(&["status"]).status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "rauc service did not answer: {}",
                std::fs::read_to_string(dir.join("service.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        rauc
    }

    /// `rauc <args>` against this system's service.
    pub fn rauc(&self, args: &[&str]) -> Output {
        Command::new("rauc")
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus_address)
            .output()
            .expect("rauc")
    }

    /// `rauc status --detailed --output-format=json` into `file`, as the image's unit does.
    pub fn write_status(&self, file: &Path) {
        let output = self.rauc(&["status", "--detailed", "--output-format=json"]);
        assert!(output.status.success(), "{output:?}");
        std::fs::write(file, &output.stdout).expect("status file");
    }

    /// A bundle of `version` carrying `image` as the root file system, signed by `signer`.
    pub fn bundle(&self, version: &str, image: &[u8], signer: &Signer) -> PathBuf {
        let content = self.dir.join(format!("content-{version}"));
        std::fs::create_dir_all(&content).expect("content");
        std::fs::write(content.join("rootfs.img"), image).expect("image");
        std::fs::write(
            content.join("manifest.raucm"),
            format!(
                "[update]\ncompatible={COMPATIBLE}\nversion={version}\n\n[bundle]\nformat=plain\n\n\
                 [image.rootfs]\nfilename=rootfs.img\n"
            ),
        )
        .expect("manifest");
        let bundle = self.dir.join(format!("docgate-{version}.raucb"));
        let _ = std::fs::remove_file(&bundle);
        let output = Command::new("rauc")
            .arg(format!("--cert={}", signer.certificate.display()))
            .arg(format!("--key={}", signer.key.display()))
            .arg("bundle")
            .arg(&content)
            .arg(&bundle)
            .output()
            .expect("rauc bundle");
        assert!(output.status.success(), "{output:?}");
        bundle
    }

    /// The bytes at the start of slot B's device.
    pub fn slot_b_starts_with(&self, bytes: &[u8]) -> bool {
        let written = std::fs::read(self.dir.join("b.img")).expect("slot B");
        written.starts_with(bytes)
    }

    /// What the boot loader backend was told: the primary slot.
    pub fn primary(&self) -> String {
        std::fs::read_to_string(self.dir.join("primary"))
            .map(|text| text.trim().to_owned())
            .unwrap_or_else(|_| "A".into())
    }
}

impl Drop for Rauc {
    fn drop(&mut self) {
        for child in [&mut self.service, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// RAUC's custom boot-loader interface, on files: the primary slot, and each slot's last
/// state (`good`/`bad`). Making a slot primary also makes it bootable again (`good`), as
/// RAUC's GRUB backend resets a slot's tries and systemd-boot's counting starts afresh.
fn backend_script(dir: &Path) -> String {
    format!(
        "#!/bin/sh\nd={dir}\ncase \"$1\" in\n\
         get-primary) cat \"$d/primary\" 2>/dev/null || echo A ;;\n\
         set-primary) echo \"$2\" > \"$d/primary\"; echo \"$2 good\" >> \"$d/states\" ;;\n\
         get-state) s=$(grep \"^$2 \" \"$d/states\" 2>/dev/null | tail -n 1 | cut -d' ' -f2); echo \"${{s:-good}}\" ;;\n\
         set-state) echo \"$2 $3\" >> \"$d/states\" ;;\n\
         get-current) echo A ;;\n\
         *) exit 1 ;;\nesac\n",
        dir = dir.display()
    )
}

fn bus_config(socket: &Path) -> String {
    format!(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\" \
         \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
         <busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
         <policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>\
         <allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n",
        socket.display()
    )
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn wait_for_path(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
