//! The appliance's two system slots (A/B) as the updater sees them: which one runs, the
//! version in each, which one boots next, and whether the other one failed to come up.
//! Read from the JSON that RAUC's `rauc status --detailed --output-format=json` prints,
//! which a root unit of the image writes to a file (`[gateway] update_status_file`) at
//! boot and after each installation — docgate itself never talks to the updater, never
//! needs D-Bus and never runs anything. Owns the reading and the shape; not the wording
//! (`web::facts`) and not the updating (the image's RAUC configuration).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where the image's unit writes the updater's status, unless the configuration says
/// otherwise.
pub const DEFAULT_UPDATE_STATUS_FILE: &str = "/run/docgate/update-status.json";

/// The most the status file may be (RAUC's answer for two slots is about 2 KB).
const MAX_STATUS_BYTES: u64 = 256 * 1024;

/// Why the status file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UpdateStatusError {
    #[error("cannot read the update status file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the update status file {path} is larger than {MAX_STATUS_BYTES} bytes")]
    TooLarge { path: String },
    #[error("the update status file {path} is not the updater's status ({detail}); check the docgate-update-status unit")]
    Malformed { path: String, detail: String },
}

/// The two slots: the one running, the other one, and the one that boots next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateSlots {
    pub running: SlotFacts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<SlotFacts>,
    /// The slot the next boot starts (its boot name, e.g. `B`).
    pub next_boot: String,
}

/// One slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotFacts {
    /// Its boot name (`A`, `B`).
    pub slot: String,
    /// The version of the update bundle last installed there; for the running slot of a
    /// box never updated, the running docgate's own version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the boot loader says of it: `good`, or `bad` once it failed to come up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_status: Option<String>,
    /// When an update was last written there (RFC 3339 UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<String>,
}

impl UpdateSlots {
    /// Whether the other slot holds an update that failed to come up, so the box went
    /// back to the one running: the version it failed with.
    pub fn rolled_back_from(&self) -> Option<&str> {
        let other = self.other.as_ref()?;
        let failed = other.boot_status.as_deref() == Some("bad")
            && other.installed_at.is_some()
            && !self.update_pending();
        failed.then_some(other.version.as_deref().unwrap_or("?"))
    }

    /// Whether the next boot starts the other slot (an update waits for a reboot).
    pub fn update_pending(&self) -> bool {
        self.next_boot != self.running.slot
    }
}

/// Reads the status file; `Ok(None)` when there is none (not an appliance, or the
/// updater has not said yet).
pub fn read(path: &Path, running_version: &str) -> Result<Option<UpdateSlots>, UpdateStatusError> {
    let shown = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(UpdateStatusError::Read {
                path: shown,
                source,
            })
        }
    };
    let mut text = String::new();
    use std::io::Read;
    file.take(MAX_STATUS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|source| UpdateStatusError::Read {
            path: shown.clone(),
            source,
        })?;
    if text.len() as u64 > MAX_STATUS_BYTES {
        return Err(UpdateStatusError::TooLarge { path: shown });
    }
    parse(&text, running_version)
        .map(Some)
        .map_err(|detail| UpdateStatusError::Malformed {
            path: shown,
            detail,
        })
}

/// The slots from RAUC's JSON status; `running_version` stands in for a running slot
/// the updater never wrote (the factory image).
pub fn parse(json: &str, running_version: &str) -> Result<UpdateSlots, String> {
    let status: RaucStatus = serde_json::from_str(json).map_err(|error| error.to_string())?;
    let slots: Vec<(String, RaucSlot)> = status
        .slots
        .into_iter()
        .flat_map(BTreeMap::into_iter)
        .filter(|(_, slot)| slot.class == status_class(&status.boot_primary))
        .collect();
    let booted = slots
        .iter()
        .find(|(_, slot)| slot.state == "booted")
        .ok_or("no slot is marked booted")?;
    let class = booted.1.class.clone();
    let other = slots
        .iter()
        .find(|(name, slot)| slot.class == class && *name != booted.0);
    let next_boot = slots
        .iter()
        .find(|(name, _)| Some(name.as_str()) == status.boot_primary.as_deref())
        .map(|(_, slot)| slot.bootname.clone().unwrap_or_default())
        .unwrap_or_else(|| status.booted.clone());
    let mut running = facts(booted);
    if running.version.is_none() {
        running.version = Some(running_version.to_owned());
    }
    Ok(UpdateSlots {
        running,
        other: other.map(facts),
        next_boot,
    })
}

/// The class of the slot named `primary` (`rootfs.1` → `rootfs`): the slots that are
/// alternatives of each other.
fn status_class(primary: &Option<String>) -> String {
    primary
        .as_deref()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(class, _)| class.to_owned())
        .unwrap_or_else(|| "rootfs".to_owned())
}

fn facts((name, slot): &(String, RaucSlot)) -> SlotFacts {
    let status = slot.slot_status.as_ref();
    SlotFacts {
        slot: slot.bootname.clone().unwrap_or_else(|| name.clone()),
        version: status.and_then(|status| status.bundle.as_ref()?.version.clone()),
        boot_status: slot.boot_status.clone(),
        installed_at: status.and_then(|status| status.installed.as_ref()?.timestamp.clone()),
    }
}

/// `rauc status --detailed --output-format=json` (RAUC 1.8): only what is read here.
#[derive(Debug, Deserialize)]
struct RaucStatus {
    booted: String,
    boot_primary: Option<String>,
    /// One single-key object per slot: `[{"rootfs.0": {...}}, {"rootfs.1": {...}}]`.
    slots: Vec<BTreeMap<String, RaucSlot>>,
}

#[derive(Debug, Deserialize)]
struct RaucSlot {
    class: String,
    bootname: Option<String>,
    state: String,
    boot_status: Option<String>,
    slot_status: Option<RaucSlotStatus>,
}

#[derive(Debug, Deserialize)]
struct RaucSlotStatus {
    bundle: Option<RaucBundle>,
    installed: Option<RaucEvent>,
}

#[derive(Debug, Deserialize)]
struct RaucBundle {
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RaucEvent {
    timestamp: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from RAUC 1.8 (Debian 12's `rauc` + `rauc-service`) with two file-backed
    // raw slots, after installing a signed bundle of version 0.2.0 into slot B.
    const PENDING: &str = include_str!("../../tests/fixtures/rauc/status-update-pending.json");
    // The same, after B was marked bad and A made primary again (a failed update).
    const ROLLED_BACK: &str = include_str!("../../tests/fixtures/rauc/status-rolled-back.json");

    #[test]
    fn an_installed_update_waits_for_the_next_boot() {
        let slots = parse(PENDING, "0.1.0").expect("parse");
        assert_eq!(slots.running.slot, "A");
        assert_eq!(
            slots.running.version.as_deref(),
            Some("0.1.0"),
            "the factory slot: docgate's own version"
        );
        let other = slots.other.as_ref().expect("other");
        assert_eq!(other.slot, "B");
        assert_eq!(other.version.as_deref(), Some("0.2.0"));
        assert_eq!(other.installed_at.as_deref(), Some("2026-11-22T15:09:21Z"));
        assert_eq!(slots.next_boot, "B");
        assert!(slots.update_pending());
        assert_eq!(slots.rolled_back_from(), None);
    }

    #[test]
    fn an_update_that_failed_to_come_up_is_named() {
        let slots = parse(ROLLED_BACK, "0.1.0").expect("parse");
        assert_eq!(slots.next_boot, "A");
        assert!(!slots.update_pending());
        assert_eq!(slots.rolled_back_from(), Some("0.2.0"));
        let json = serde_json::to_value(&slots).expect("json");
        assert_eq!(json["other"]["boot_status"], "bad");
        assert_eq!(json["running"]["slot"], "A");
    }

    #[test]
    fn a_missing_file_is_no_appliance_and_a_bad_one_says_so() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("status.json");
        assert!(read(&path, "0.1.0").expect("absent").is_none());
        std::fs::write(&path, "{\"booted\": \"A\"").expect("write");
        let error = read(&path, "0.1.0").expect_err("malformed").to_string();
        assert!(error.contains("is not the updater's status"), "{error}");
        std::fs::write(&path, r#"{"booted":"A","boot_primary":null,"slots":[]}"#).expect("write");
        let error = read(&path, "0.1.0")
            .expect_err("no booted slot")
            .to_string();
        assert!(error.contains("no slot is marked booted"), "{error}");
        std::fs::write(&path, vec![b' '; 300 * 1024]).expect("write");
        let error = read(&path, "0.1.0").expect_err("too large").to_string();
        assert!(error.contains("larger than"), "{error}");
        std::fs::write(&path, PENDING).expect("write");
        assert!(read(&path, "0.1.0").expect("read").is_some());
    }
}
