//! Who the daemon runs as: refusing root and capabilities, and dropping from root to the
//! service user (`docgate run --drop-to USER`) once the port is bound.

use caps::CapSet;
use nix::unistd::{self, Gid, Uid, User};

use super::SandboxError;

/// This process's identity and the capabilities it could use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    pub uid: u32,
    pub euid: u32,
    /// Capabilities in the effective, permitted or ambient set, lower-case
    /// (`cap_net_bind_service`), sorted. Inheritable ones alone grant nothing.
    pub capabilities: Vec<String>,
}

impl Privileges {
    /// Reads them from the kernel.
    pub fn of_this_process() -> Result<Privileges, SandboxError> {
        let mut capabilities = Vec::new();
        for set in [CapSet::Effective, CapSet::Permitted, CapSet::Ambient] {
            let held = caps::read(None, set)
                .map_err(|error| SandboxError::Capabilities(error.to_string()))?;
            capabilities.extend(held.iter().map(|cap| cap.to_string().to_lowercase()));
        }
        capabilities.sort();
        capabilities.dedup();
        Ok(Privileges {
            uid: unistd::getuid().as_raw(),
            euid: unistd::geteuid().as_raw(),
            capabilities,
        })
    }

    /// Whether the daemon may not run like this: root, or any capability.
    pub fn is_privileged(&self) -> bool {
        self.uid == 0 || self.euid == 0 || !self.capabilities.is_empty()
    }

    /// "as root" or "with capabilities cap_net_bind_service", for the refusal (root's
    /// capabilities go without saying).
    pub fn describe(&self) -> String {
        if self.uid == 0 || self.euid == 0 {
            "as root".to_owned()
        } else {
            format!("with capabilities {}", self.capabilities.join(", "))
        }
    }
}

/// What `docgate run` does about who it runs as, decided before it binds anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Unprivileged already: nothing to drop.
    Stay,
    /// Root: bind the port, then become this user.
    DropTo(String),
}

/// Refuses root and capabilities unless `drop_to` names the user to become; refuses
/// `drop_to` from anyone but root (only root can change user).
pub fn plan(current: &Privileges, drop_to: Option<&str>) -> Result<Plan, SandboxError> {
    match (current.is_privileged(), drop_to) {
        (false, None) => Ok(Plan::Stay),
        (true, None) => Err(SandboxError::Privileged(current.describe())),
        (_, Some(user)) if current.euid == 0 => Ok(Plan::DropTo(user.to_owned())),
        (privileged, Some(user)) => {
            // Asked to become who it already is, without capabilities: nothing to do.
            let same = User::from_name(user)
                .ok()
                .flatten()
                .is_some_and(|found| found.uid.as_raw() == current.uid);
            if same && !privileged {
                Ok(Plan::Stay)
            } else {
                Err(SandboxError::DropNeedsRoot {
                    user: user.to_owned(),
                    uid: current.uid,
                })
            }
        }
    }
}

/// Who the process became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

/// As root: empties the capability bounding set, drops every supplementary group, sets
/// the group and user ids (real, effective and saved) to `user`'s, clears the inheritable
/// and ambient capabilities, sets `PR_SET_NO_NEW_PRIVS`, and then checks that there is no
/// way back: `setuid(0)` must fail and no capability may be left.
pub fn drop_to(user: &str) -> Result<Dropped, SandboxError> {
    let step = |step: &'static str| {
        move |error: nix::Error| SandboxError::Drop {
            user: user.to_owned(),
            step,
            detail: error.to_string(),
        }
    };
    let caps_step = |step: &'static str| {
        move |error: caps::errors::CapsError| SandboxError::Drop {
            user: user.to_owned(),
            step,
            detail: error.to_string(),
        }
    };
    let found = User::from_name(user)
        .map_err(step("looking the user up"))?
        .ok_or_else(|| SandboxError::UnknownUser(user.to_owned()))?;
    if found.uid.is_root() {
        return Err(SandboxError::DropToRoot(user.to_owned()));
    }
    caps::clear(None, CapSet::Bounding)
        .map_err(caps_step("emptying the capability bounding set"))?;
    unistd::setgroups(&[]).map_err(step("setgroups([])"))?;
    unistd::setresgid(found.gid, found.gid, found.gid).map_err(step("setresgid"))?;
    unistd::setresuid(found.uid, found.uid, found.uid).map_err(step("setresuid"))?;
    for set in [CapSet::Inheritable, CapSet::Ambient] {
        caps::clear(None, set).map_err(caps_step(
            "clearing the inheritable and ambient capabilities",
        ))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(step("PR_SET_NO_NEW_PRIVS"))?;
    verify_dropped(user, found.uid, found.gid)?;
    Ok(Dropped {
        user: user.to_owned(),
        uid: found.uid.as_raw(),
        gid: found.gid.as_raw(),
    })
}

/// The kernel's answer after the drop: root cannot be regained and nothing is left.
fn verify_dropped(user: &str, uid: Uid, gid: Gid) -> Result<(), SandboxError> {
    let still = |what: &str| SandboxError::StillPrivileged {
        user: user.to_owned(),
        what: what.to_owned(),
    };
    if unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(still("become root again (setuid(0) succeeded)"));
    }
    if unistd::getuid() != uid || unistd::geteuid() != uid {
        return Err(still("keep another user id"));
    }
    if unistd::getgid() != gid || unistd::getegid() != gid {
        return Err(still("keep another group id"));
    }
    let groups = unistd::getgroups().map_err(|error| SandboxError::Drop {
        user: user.to_owned(),
        step: "getgroups",
        detail: error.to_string(),
    })?;
    if !groups.is_empty() {
        return Err(still("keep supplementary groups"));
    }
    let now = Privileges::of_this_process()?;
    if now.is_privileged() {
        return Err(still(&now.describe()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privileges(uid: u32, capabilities: &[&str]) -> Privileges {
        Privileges {
            uid,
            euid: uid,
            capabilities: capabilities.iter().map(|cap| (*cap).to_owned()).collect(),
        }
    }

    #[test]
    fn root_and_capabilities_are_refused_without_a_user_to_drop_to() {
        let plain = privileges(1000, &[]);
        assert_eq!(plan(&plain, None).expect("plain user"), Plan::Stay);
        for refused in [
            privileges(0, &[]),
            privileges(1000, &["cap_net_bind_service"]),
            privileges(0, &["cap_sys_admin"]),
        ] {
            let error = plan(&refused, None).expect_err("refused").to_string();
            assert!(error.contains("--drop-to"), "{error}");
        }
        assert_eq!(
            plan(&privileges(0, &["cap_sys_admin"]), Some("docgate")).expect("root drops"),
            Plan::DropTo("docgate".into())
        );
        let capable = privileges(1000, &["cap_net_bind_service"]);
        let error = plan(&capable, Some("docgate")).expect_err("not root");
        assert!(error.to_string().contains("only root"), "{error}");
        assert_eq!(privileges(0, &["cap_chown"]).describe(), "as root");
        assert_eq!(capable.describe(), "with capabilities cap_net_bind_service");
    }
}
