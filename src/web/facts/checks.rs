//! The health checks: each looks at one gathered fact (the store's answer, the
//! configuration file as it is on disk now, the link, the token, the seal and the
//! timestamp authority as the sealer saw them, a certificate, the disk, the clock, the
//! enrolment as the keeper last saw it) and
//! says which [`Finding`] holds. Pure apart from re-reading the configuration file; words
//! nothing itself (`findings.rs` and `token_findings.rs` do).

use std::path::PathBuf;

use time::OffsetDateTime;

use super::findings::{ProvisioningFinding, TokenFinding};
use super::{DirectoryFacts, Disk, Finding, SigningIdentity, TsaFacts};
use crate::enrolment::status::{ProvisioningStatus, Standing};
use crate::store::{DirectoryRefresh, QueueCounts, StorageUsage};
use crate::sync::{LinkSnapshot, TokenPresence, TokenReport, TsaContact};
use crate::system::certificates::CertificateValidity;
use crate::system::clock::rfc3339_utc;
use crate::system::config::GatewayConfig;

/// Share of the disk quota from which the page warns.
const DISK_WARN_PERCENT: u64 = 90;
/// How old the agency directory may get before the page warns: it is refreshed every 6
/// hours, so two days means many refreshes failed in a row.
const DIRECTORY_STALE_SECS: i64 = 2 * 86_400;
/// The earliest year a working clock can show (a box whose clock reads earlier has lost
/// its time, e.g. after a dead RTC battery).
const EARLIEST_SANE_YEAR: i32 = 2025;

/// The directory's size and age from its last refresh.
pub(super) fn directory_facts(
    refresh: Option<DirectoryRefresh>,
    now: OffsetDateTime,
) -> DirectoryFacts {
    let Some(refresh) = refresh else {
        return DirectoryFacts::default();
    };
    let age_secs = OffsetDateTime::parse(
        &refresh.refreshed_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
    .map(|at| (now - at).whole_seconds().max(0));
    DirectoryFacts {
        agencies: refresh.agencies,
        refreshed_at: Some(refresh.refreshed_at),
        age_secs,
    }
}

/// With an axis: a warning when the directory was refreshed, but not for more than
/// [`DIRECTORY_STALE_SECS`] (recipients are checked against an old list). Nothing
/// otherwise, so the usual list of checks stays as it is.
pub(super) fn directory(link: &LinkSnapshot, directory: &DirectoryFacts) -> Option<Finding> {
    let age = directory
        .age_secs
        .filter(|age| *age > DIRECTORY_STALE_SECS)?;
    if !link.configured {
        return None;
    }
    Some(Finding::DirectoryStale {
        refreshed_at: directory.refreshed_at.clone().unwrap_or_default(),
        days: age / 86_400,
    })
}

/// With `[provisioning]`: the box's standing with provincial IT, and, once enrolled, the
/// keeper's last failed renewal or bundle check. Nothing for a box configured by hand, so
/// its usual list of checks stays as it is.
pub(super) fn provisioning(status: &ProvisioningStatus) -> Vec<Finding> {
    let known = |value: &Option<String>| value.clone().unwrap_or_else(|| "an unknown date".into());
    let standing = match status.standing {
        Standing::Manual => return Vec::new(),
        Standing::NotProvisioned => ProvisioningFinding::NotProvisioned,
        Standing::Enrolled => ProvisioningFinding::Enrolled {
            agency_code: status.agency_code.clone().unwrap_or_default(),
            bundle_expires_at: known(&status.bundle_expires_at),
        },
        Standing::InGrace => ProvisioningFinding::InGrace {
            expired_at: known(&status.bundle_expires_at),
            grace_ends_at: known(&status.grace_ends_at),
        },
        Standing::Lapsed => ProvisioningFinding::Lapsed {
            expired_at: known(&status.bundle_expires_at),
            grace_ended_at: known(&status.grace_ends_at),
        },
        Standing::CertificateExpired => ProvisioningFinding::CertificateExpired {
            not_after: known(&status.certificate_not_after),
        },
        Standing::Decommissioned => ProvisioningFinding::Decommissioned,
    };
    let mut findings = vec![Finding::Provisioning(standing)];
    if status.standing != Standing::NotProvisioned {
        if let Some(error) = &status.last_error {
            findings.push(Finding::Provisioning(ProvisioningFinding::LastFailed {
                error: error.clone(),
            }));
        }
    }
    findings
}

pub(super) fn store(counts: &Result<QueueCounts, String>) -> Finding {
    match counts {
        Ok(_) => Finding::StoreAnswers,
        Err(error) => Finding::StoreUnavailable {
            error: error.clone(),
        },
    }
}

/// The configuration file as it is on disk now: a file that no longer loads would stop the
/// box at its next restart.
pub(super) async fn config(path: Option<PathBuf>) -> Finding {
    let Some(path) = path else {
        return Finding::ConfigLoaded;
    };
    let loaded = tokio::task::spawn_blocking(move || GatewayConfig::load(&path)).await;
    match loaded {
        Ok(Ok(_)) => Finding::ConfigValid,
        Ok(Err(error)) => Finding::ConfigBroken {
            error: error.to_string(),
        },
        Err(_) => Finding::ConfigUnchecked,
    }
}

pub(super) fn link(link: &LinkSnapshot) -> Finding {
    match (link.configured, link.connected) {
        (false, _) => Finding::Standalone,
        (true, true) => Finding::LinkUp,
        (true, false) => Finding::LinkDown {
            error: link.last_error.clone(),
        },
    }
}

/// With `[signing]`: the key file, or the token as the sealer last copied its worker's
/// state — a token that is absent, refuses its PIN or cannot be used fails whether or not
/// a document waits; otherwise the check fails while documents wait for a seal that
/// failed (the copy may be up to a second older than that failure).
pub(super) fn seal(
    signing: Option<&SigningIdentity>,
    link: &LinkSnapshot,
    token: Option<&TokenReport>,
) -> Option<Finding> {
    let signing = signing?;
    let waiting = |on_token| {
        link.sealing
            .clone()
            .map(|problem| TokenFinding::SealWaiting { problem, on_token })
    };
    let Some(label) = signing.token_label.clone() else {
        return Some(Finding::Token(
            waiting(false).unwrap_or(TokenFinding::KeyFileInUse),
        ));
    };
    if !link.configured {
        return Some(Finding::Token(TokenFinding::Unused { label }));
    }
    let presence = token.map(|token| token.presence.clone());
    Some(Finding::Token(match presence {
        None | Some(TokenPresence::Starting) => {
            waiting(true).unwrap_or(TokenFinding::Starting { label })
        }
        Some(TokenPresence::Ready) => waiting(true).unwrap_or(TokenFinding::Ready { label }),
        Some(TokenPresence::Absent { reason }) => TokenFinding::Absent { label, reason },
        Some(TokenPresence::PinRefused { pin_file, code }) => TokenFinding::PinRefused {
            label,
            pin_file,
            code,
        },
        Some(TokenPresence::PinLocked) => TokenFinding::PinLocked { label },
        Some(TokenPresence::Unusable { reason }) => TokenFinding::Unusable { label, reason },
    }))
}

/// The timestamp authority's state from what the sealer saw.
pub(super) fn tsa_facts(signing: Option<&SigningIdentity>, contact: TsaContact) -> TsaFacts {
    let configured = signing.is_some_and(|signing| signing.tsa_url.is_some());
    let state = match (configured, contact.answered_last) {
        (false, _) => "not_configured",
        (true, None) => "not_tried",
        (true, Some(true)) => "answering",
        (true, Some(false)) => "failing",
    };
    TsaFacts { state, contact }
}

/// With `[signing]`: whether the timestamp authority answered the sealer's last request.
/// A failing TSA is a warning (seals are made B-B and wait for their timestamp), never a
/// failing check.
pub(super) fn tsa(signing: Option<&SigningIdentity>, facts: &TsaFacts) -> Option<Finding> {
    let signing = signing?;
    let Some(url) = signing.tsa_url.clone() else {
        return Some(Finding::TsaNotConfigured);
    };
    let contact = &facts.contact;
    Some(match contact.answered_last {
        None => Finding::TsaNotTried { url },
        Some(true) => Finding::TsaAnswering {
            url,
            at: contact.last_success.clone().unwrap_or_default(),
        },
        Some(false) => Finding::TsaFailing {
            url,
            at: contact.last_failure.clone().unwrap_or_default(),
            error: contact
                .last_error
                .clone()
                .unwrap_or_else(|| "no reason recorded".to_owned()),
            wait_minutes: signing
                .send_without_timestamp_after_secs
                .map(|seconds| seconds.div_ceil(60)),
        },
    })
}

pub(super) fn certificate(certificate: &CertificateValidity) -> Finding {
    let role = certificate.role;
    let days = certificate
        .seconds_left
        .map_or(0, |seconds| seconds.div_euclid(86_400));
    let not_after = certificate.not_after.clone().unwrap_or_default();
    match certificate.state {
        "valid" => Finding::CertificateValid { role, days },
        "expiring" => Finding::CertificateExpiring {
            role,
            days,
            not_after,
        },
        "expired" => Finding::CertificateExpired { role, not_after },
        "not_yet_valid" => Finding::CertificateNotYetValid { role },
        _ => Finding::CertificateUnreadable {
            role,
            problem: certificate
                .problem
                .clone()
                .unwrap_or_else(|| "unknown reason".to_owned()),
        },
    }
}

pub(super) fn disk_use(usage: StorageUsage, quota: u64) -> Disk {
    let used = usage.total();
    Disk {
        used_bytes: used,
        quota_bytes: quota,
        percent: used.saturating_mul(100).checked_div(quota).unwrap_or(100),
    }
}

pub(super) fn disk(usage: StorageUsage, quota: u64) -> Finding {
    let disk = disk_use(usage, quota);
    if disk.used_bytes >= disk.quota_bytes {
        Finding::DiskFull {
            used: disk.used_bytes,
            quota: disk.quota_bytes,
        }
    } else if disk.percent >= DISK_WARN_PERCENT {
        Finding::DiskFilling {
            percent: disk.percent,
        }
    } else {
        Finding::DiskOk {
            percent: disk.percent,
        }
    }
}

/// A clock before [`EARLIEST_SANE_YEAR`], or behind the newest record by more than five
/// minutes, is wrong: dates in the registers and certificate checks would be wrong too.
pub(super) fn clock(now: OffsetDateTime, newest_record: Option<&str>) -> Finding {
    if now.year() < EARLIEST_SANE_YEAR {
        return Finding::ClockLost {
            now: rfc3339_utc(now),
        };
    }
    let newest = newest_record.and_then(|text| {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
    });
    match newest {
        Some(newest) if newest - now > time::Duration::minutes(5) => Finding::ClockWentBack {
            now: rfc3339_utc(now),
            newest: rfc3339_utc(newest),
        },
        _ => Finding::ClockOk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::facts::Severity;
    use time::macros::datetime;

    #[test]
    fn the_disk_check_warns_then_fails() {
        let usage = |bytes| StorageUsage {
            blob_bytes: bytes,
            database_bytes: 0,
        };
        assert_eq!(disk(usage(10), 100).severity(), Severity::Ok);
        assert_eq!(disk(usage(95), 100).severity(), Severity::Warning);
        assert_eq!(disk(usage(100), 100).severity(), Severity::Failing);
        assert_eq!(disk_use(usage(5), 0).percent, 100);
    }

    #[test]
    fn the_clock_check_catches_a_lost_clock_and_a_jump_back() {
        let now = datetime!(2026-11-22 08:00 UTC);
        assert_eq!(clock(now, None), Finding::ClockOk);
        assert_eq!(
            clock(datetime!(1970-01-01 0:00 UTC), None).severity(),
            Severity::Failing
        );
        assert_eq!(
            clock(now, Some("2026-11-23T08:00:00.000Z")).severity(),
            Severity::Warning
        );
        assert_eq!(
            clock(now, Some("2026-11-22T08:03:00.000Z")),
            Finding::ClockOk
        );
    }

    #[test]
    fn the_token_check_follows_the_workers_state_with_nothing_waiting() {
        let signing = SigningIdentity {
            token_label: Some("agency-seal".into()),
            tsa_url: None,
            send_without_timestamp_after_secs: None,
        };
        let link = LinkSnapshot {
            configured: true,
            ..LinkSnapshot::default()
        };
        let report = |presence| TokenReport {
            label: "agency-seal".into(),
            presence,
            since: "2026-11-22T08:00:00Z".into(),
        };
        let judge = |token: Option<&TokenReport>, link: &LinkSnapshot| {
            seal(Some(&signing), link, token).expect("a finding")
        };
        let ready = report(TokenPresence::Ready);
        assert_eq!(
            judge(Some(&ready), &link),
            Finding::Token(TokenFinding::Ready {
                label: "agency-seal".into()
            })
        );
        let absent = report(TokenPresence::Absent {
            reason: "not found in slot list".into(),
        });
        let finding = judge(Some(&absent), &link);
        assert_eq!(finding.severity(), Severity::Failing);
        assert_eq!(
            (finding.component(), finding.kind()),
            ("token", "token_absent")
        );
        assert!(finding.english().line().starts_with(
            "token 'agency-seal' not found in slot list; is the USB token plugged in? — "
        ));
        let refused = report(TokenPresence::PinRefused {
            pin_file: "/run/pin".into(),
            code: "CKR_PIN_INCORRECT".into(),
        });
        assert_eq!(judge(Some(&refused), &link).kind(), "token_pin_refused");
        assert_eq!(
            judge(None, &link).severity(),
            Severity::Warning,
            "not looked yet"
        );
        let starting = report(TokenPresence::Starting);
        assert_eq!(judge(Some(&starting), &link).kind(), "token_starting");
        // A ready token with documents waiting for a seal that failed otherwise.
        let waiting = LinkSnapshot {
            sealing: Some("cannot apply the agency seal: bad PDF".into()),
            ..link.clone()
        };
        assert_eq!(judge(Some(&ready), &waiting).kind(), "seal_waiting");
        assert_eq!(judge(Some(&absent), &waiting).kind(), "token_absent");
        assert_eq!(judge(Some(&starting), &waiting).kind(), "seal_waiting");
        // Without [axis] nothing seals and no worker looks at the token.
        assert_eq!(judge(None, &LinkSnapshot::default()).kind(), "token_unused");
        let key_file = SigningIdentity {
            token_label: None,
            ..signing.clone()
        };
        assert_eq!(
            seal(Some(&key_file), &link, None).map(|f| f.kind()),
            Some("seal_key_file")
        );
    }

    #[test]
    fn the_directory_check_warns_only_when_an_old_directory_is_in_use() {
        let now = datetime!(2026-11-25 00:00 UTC);
        let refreshed = |at: &str| {
            directory_facts(
                Some(DirectoryRefresh {
                    refreshed_at: at.into(),
                    agencies: 12,
                }),
                now,
            )
        };
        let link = LinkSnapshot {
            configured: true,
            ..LinkSnapshot::default()
        };
        let fresh = refreshed("2026-11-24T18:00:00.000Z");
        assert_eq!((fresh.agencies, fresh.age_secs), (12, Some(6 * 3_600)));
        assert_eq!(directory(&link, &fresh), None);
        let stale = refreshed("2026-11-21T00:00:00.000Z");
        let finding = directory(&link, &stale).expect("stale");
        assert_eq!(finding.severity(), Severity::Warning);
        assert_eq!(
            (finding.component(), finding.kind()),
            ("directory", "directory_stale")
        );
        assert!(finding.english().what.contains("4 days ago"), "{finding:?}");
        let never = directory_facts(None, now);
        assert_eq!(
            (never.agencies, never.refreshed_at, never.age_secs),
            (0, None, None)
        );
        assert_eq!(directory(&link, &directory_facts(None, now)), None);
        assert_eq!(directory(&LinkSnapshot::default(), &stale), None);
    }

    #[test]
    fn the_provisioning_check_follows_the_standing_and_the_last_failure() {
        let enrolled = ProvisioningStatus {
            agency_code: Some("000.01.20.H41".into()),
            bundle_expires_at: Some("2026-11-20T00:00:00Z".into()),
            grace_ends_at: Some("2026-11-27T00:00:00Z".into()),
            certificate_not_after: Some("2026-12-20T00:00:00Z".into()),
            ..ProvisioningStatus::bare(Standing::Enrolled)
        };
        let judge = |standing, last_error: Option<&str>| {
            let status = ProvisioningStatus {
                standing,
                last_error: last_error.map(str::to_owned),
                ..enrolled.clone()
            };
            provisioning(&status)
                .iter()
                .map(|finding| (finding.component(), finding.kind(), finding.severity()))
                .collect::<Vec<_>>()
        };
        assert!(
            provisioning(&ProvisioningStatus::bare(Standing::Manual)).is_empty(),
            "nothing for a box configured by hand"
        );
        assert_eq!(
            judge(Standing::Enrolled, None),
            [("provisioning", "provisioning_enrolled", Severity::Ok)]
        );
        assert_eq!(
            judge(Standing::InGrace, None),
            [("provisioning", "bundle_in_grace", Severity::Warning)]
        );
        assert_eq!(
            judge(Standing::Lapsed, None),
            [("provisioning", "bundle_lapsed", Severity::Failing)]
        );
        assert_eq!(
            judge(Standing::CertificateExpired, None),
            [(
                "provisioning",
                "link_certificate_expired",
                Severity::Failing
            )]
        );
        assert_eq!(
            judge(Standing::Decommissioned, None),
            [("provisioning", "decommissioned", Severity::Failing)]
        );
        assert_eq!(
            judge(Standing::Enrolled, Some("cannot reach the axis")),
            [
                ("provisioning", "provisioning_enrolled", Severity::Ok),
                ("provisioning", "provisioning_error", Severity::Warning),
            ]
        );
        assert_eq!(
            judge(Standing::NotProvisioned, Some("generation 2 is damaged")),
            [("provisioning", "not_provisioned", Severity::Failing)],
            "a damaged enrolment is the enrolment page's to show"
        );
        let grace = &provisioning(&ProvisioningStatus {
            standing: Standing::InGrace,
            ..enrolled.clone()
        })[0];
        assert!(
            grace.english().line().starts_with(
                "the configuration bundle expired on 2026-11-20T00:00:00Z; the box keeps working until 2026-11-27T00:00:00Z (grace) — check the link to the axis"
            ),
            "{grace:?}"
        );
        let expired = &provisioning(&ProvisioningStatus {
            standing: Standing::CertificateExpired,
            ..enrolled
        })[0];
        assert!(
            expired.english().line().contains("2026-12-20T00:00:00Z"),
            "{expired:?}"
        );
    }

    #[test]
    fn the_tsa_check_follows_the_sealers_last_request() {
        let signing = |url: Option<&str>| SigningIdentity {
            token_label: None,
            tsa_url: url.map(str::to_owned),
            send_without_timestamp_after_secs: Some(1_800),
        };
        let judge = |signing: Option<&SigningIdentity>, contact: TsaContact| {
            let facts = tsa_facts(signing, contact);
            (facts.state, tsa(signing, &facts))
        };
        assert_eq!(judge(None, TsaContact::default()), ("not_configured", None));
        assert_eq!(
            judge(Some(&signing(None)), TsaContact::default()),
            ("not_configured", Some(Finding::TsaNotConfigured))
        );
        let with_url = signing(Some("http://tsa.test/"));
        let (state, finding) = judge(Some(&with_url), TsaContact::default());
        assert_eq!(state, "not_tried");
        assert_eq!(finding.map(|f| f.severity()), Some(Severity::Ok));
        let failed = TsaContact {
            last_success: Some("2026-11-22T08:00:00.000Z".into()),
            last_failure: Some("2026-11-22T09:00:00.000Z".into()),
            last_error: Some("connection refused".into()),
            answered_last: Some(false),
        };
        let (state, finding) = judge(Some(&with_url), failed);
        assert_eq!(state, "failing");
        let finding = finding.expect("a finding");
        assert_eq!(finding.severity(), Severity::Warning, "never failing");
        assert!(matches!(
            finding,
            Finding::TsaFailing {
                wait_minutes: Some(30),
                ..
            }
        ));
    }
}
