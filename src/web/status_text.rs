//! The status facts (`GET /api/v1/status`) as lines for a console: what `docgate status`
//! prints. Works on the JSON the daemon answered, so the command needs nothing but HTTP.
//! Renders; never gathers.

use serde_json::Value;

/// The facts as readable lines: a headline, the link, the queues, the seal, certificates,
/// the enrolment, disk, then every check that is not ok with what to do.
pub fn render(facts: &Value) -> String {
    let mut lines = Vec::new();
    let text = |value: &Value| value.as_str().unwrap_or("?").to_string();
    let number = |value: &Value| value.as_u64().unwrap_or(0);
    let failing = checks_with(facts, "failing");
    let warnings = checks_with(facts, "warning");
    lines.push(format!(
        "docgate {} — {} ({}): {}",
        text(&facts["version"]),
        text(&facts["agency"]["organ_name"]),
        text(&facts["agency"]["organ_id"]),
        if !failing.is_empty() {
            "NOT WORKING"
        } else if !warnings.is_empty() {
            "working, with warnings"
        } else {
            "working"
        }
    ));
    lines.push(format!(
        "up for {}",
        duration(facts["uptime_secs"].as_i64().unwrap_or(0))
    ));
    lines.push(link_line(&facts["link"]));
    let queues = &facts["queues"];
    let oldest = facts["oldest_waiting_secs"]
        .as_i64()
        .map(|seconds| format!(" (oldest {})", duration(seconds)))
        .unwrap_or_default();
    lines.push(format!(
        "to send: {}{oldest}; sent, not yet confirmed: {}; failed: {}",
        number(&queues["waiting_to_send"]),
        number(&queues["sent_unconfirmed"]),
        number(&queues["failed_outgoing"]),
    ));
    lines.push(format!(
        "incoming awaiting the clerk: {}; overdue: {}; quarantined packets: {}",
        number(&queues["awaiting_clerk"]),
        number(&queues["overdue"]),
        number(&queues["quarantined_incoming"]),
    ));
    lines.push(seal_line(&facts["seal"]));
    if facts["seal"]["configured"] == true {
        lines.push(tsa_line(&facts["seal"]));
    }
    for certificate in facts["certificates"].as_array().into_iter().flatten() {
        let days = certificate["seconds_left"]
            .as_i64()
            .map(|seconds| format!(", {} days left", seconds.div_euclid(86_400)))
            .unwrap_or_default();
        lines.push(format!(
            "certificate {}: {}{days}",
            text(&certificate["role"]),
            text(&certificate["state"]),
        ));
    }
    lines.extend(provisioning_lines(&facts["provisioning"]));
    lines.extend(update_line(&facts["update"]));
    let disk = &facts["disk"];
    lines.push(format!(
        "disk: {} of {} ({}%)",
        bytes(number(&disk["used_bytes"])),
        bytes(number(&disk["quota_bytes"])),
        number(&disk["percent"])
    ));
    for (label, checks) in [("FAILING", failing), ("warning", warnings)] {
        for message in checks {
            lines.push(format!("{label}: {message}"));
        }
    }
    lines.join("\n") + "\n"
}

/// Whether any check fails (the command then exits 1).
pub fn any_failing(facts: &Value) -> bool {
    !checks_with(facts, "failing").is_empty()
}

fn checks_with(facts: &Value, severity: &str) -> Vec<String> {
    facts["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|check| check["severity"] == severity)
        .map(|check| check["message"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn link_line(link: &Value) -> String {
    if link["configured"] != true {
        return "link: no axis configured (stand-alone)".into();
    }
    let url = link["url"].as_str().unwrap_or("?");
    if link["connected"] == true {
        return format!(
            "link: up ({url}); last success {}",
            link["last_success"].as_str().unwrap_or("?")
        );
    }
    format!(
        "link: DOWN ({url}); last success {}; next try {}; {}",
        link["last_success"].as_str().unwrap_or("never"),
        link["next_try"].as_str().unwrap_or("soon"),
        link["last_error"]
            .as_str()
            .unwrap_or("no error recorded yet")
    )
}

fn seal_line(seal: &Value) -> String {
    if seal["configured"] != true {
        return "agency seal: not configured".into();
    }
    let holder = match seal["token_label"].as_str() {
        Some(label) => format!("token '{label}'"),
        None => "key file".into(),
    };
    let token = seal["token"]["state"].as_str();
    match (seal["problem"].as_str(), token) {
        (Some(problem), _) => format!("agency seal ({holder}): WAITING — {problem}"),
        (None, None | Some("ready")) => format!("agency seal ({holder}): ready"),
        (None, Some("starting")) => format!("agency seal ({holder}): looking for the token"),
        (None, Some(state)) => format!(
            "agency seal ({holder}): NOT READY — token {}",
            state.replace('_', " ")
        ),
    }
}

fn tsa_line(seal: &Value) -> String {
    let Some(url) = seal["tsa_url"].as_str() else {
        return "timestamp authority: not configured".into();
    };
    let tsa = &seal["tsa"];
    let text = |key: &str| tsa[key].as_str().unwrap_or("?").to_string();
    match tsa["state"].as_str() {
        Some("answering") => format!(
            "timestamp authority ({url}): answering; last answer {}",
            text("last_success")
        ),
        Some("failing") => format!(
            "timestamp authority ({url}): NOT ANSWERING since {} — {}",
            text("last_failure"),
            text("last_error")
        ),
        _ => format!("timestamp authority ({url}): not tried yet"),
    }
}

/// What the not-provisioned server answers on `/api/v1/status` (503 `not_provisioned`,
/// with where the box stands), as lines: the box has no agency yet and how to enrol it.
pub fn render_not_provisioned(answer: &Value, page_url: &str) -> String {
    let mut lines = vec![format!(
        "docgate — NOT PROVISIONED: {}",
        answer["error"]["message"]
            .as_str()
            .unwrap_or("this box is not enrolled yet")
    )];
    lines.extend(provisioning_lines(&answer["provisioning"]));
    lines.push(format!(
        "to enrol it: open {page_url} on the office network and type the axis address and the code \
         provincial IT gave you, or run `docgate enroll --axis URL --code CODE` on the box"
    ));
    lines.join("\n") + "\n"
}

/// Whether an answer is the not-provisioned server's (rather than a failure to answer).
pub fn is_not_provisioned(answer: &Value) -> bool {
    answer["error"]["code"].as_str() == Some("not_provisioned")
}

/// The enrolment: one line for a box configured by hand (none from a daemon too old to
/// say), else its standing and agency, the bundle, the link certificate, the keeper's last
/// renewal and bundle check, and its last failure.
fn provisioning_lines(provisioning: &Value) -> Vec<String> {
    let Some(standing) = provisioning["standing"].as_str() else {
        return Vec::new();
    };
    if standing == "manual" {
        return vec!["provisioning: configured by hand (not enrolled)".into()];
    }
    let text = |key: &str| provisioning[key].as_str().unwrap_or("—").to_string();
    let agency = provisioning["agency_code"]
        .as_str()
        .map(|code| format!(" as {code}"))
        .unwrap_or_default();
    let mut lines = vec![format!(
        "provisioning: {}{agency}",
        standing.replace('_', " ")
    )];
    if provisioning["bundle_expires_at"].is_string() {
        let serial = provisioning["bundle_serial"]
            .as_u64()
            .map(|serial| format!(" #{serial}"))
            .unwrap_or_default();
        let grace = match standing {
            "in_grace" | "lapsed" => format!("; grace until {}", text("grace_ends_at")),
            _ => String::new(),
        };
        lines.push(format!(
            "configuration bundle{serial}: valid until {}{grace}; last checked {}",
            text("bundle_expires_at"),
            text("last_bundle_check_at"),
        ));
    }
    if provisioning["certificate_not_after"].is_string() {
        lines.push(format!(
            "link certificate: expires {}; renewed from {}; last renewal {}",
            text("certificate_not_after"),
            text("renew_from"),
            text("last_renewal_at"),
        ));
    }
    if let Some(error) = provisioning["last_error"].as_str() {
        lines.push(format!("provisioning error: {error}"));
    }
    lines
}

/// The appliance's system slots in one line (none elsewhere): `system: slot A runs 0.2.0;
/// slot B has 0.3.0 (failed to come up); next boot A`.
fn update_line(update: &Value) -> Option<String> {
    let running = update.get("running")?;
    let version = |slot: &Value| slot["version"].as_str().unwrap_or("—").to_string();
    let mut line = format!(
        "system: slot {} runs {}",
        running["slot"].as_str().unwrap_or("?"),
        version(running)
    );
    if let Some(other) = update.get("other") {
        let failed = if other["boot_status"] == "bad" && other["installed_at"].is_string() {
            " (failed to come up)"
        } else {
            ""
        };
        line.push_str(&format!(
            "; slot {} has {}{failed}",
            other["slot"].as_str().unwrap_or("?"),
            version(other)
        ));
    }
    line.push_str(&format!(
        "; next boot {}",
        update["next_boot"].as_str().unwrap_or("?")
    ));
    Some(line)
}

/// `3 d 4 h`, `5 h 2 min`, `42 s`.
fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut amount = value as f64;
    let mut unit = 0;
    while amount >= 1024.0 && unit + 1 < UNITS.len() {
        amount /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{amount:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failing_box_says_so_and_what_to_do() {
        let facts = json!({
            "version": "0.1.0", "agency": {"organ_id": "000.00.01.H41", "organ_name": "UBND xã"},
            "uptime_secs": 90_000,
            "link": {"configured": true, "connected": false, "url": "https://axis", "last_error": "connection refused"},
            "queues": {"waiting_to_send": 3, "sent_unconfirmed": 0, "failed_outgoing": 0,
                       "awaiting_clerk": 1, "overdue": 0, "quarantined_incoming": 0},
            "oldest_waiting_secs": 125,
            "seal": {"configured": true, "token_label": "agency-seal", "problem": "token 'agency-seal' not found",
                     "tsa_url": "http://tsa.test/", "tsa": {"state": "failing", "last_failure": "2026-11-22T09:00:00.000Z",
                     "last_error": "connection refused"}},
            "certificates": [{"role": "link", "state": "expiring", "seconds_left": 864_000}],
            "disk": {"used_bytes": 3_221_225_472u64, "quota_bytes": 10_737_418_240u64, "percent": 30},
            "checks": [{"component": "link", "severity": "failing", "message": "the axis is unreachable"},
                       {"component": "certificate", "severity": "warning", "message": "expires in 10 days"}],
        });
        let text = render(&facts);
        assert!(
            text.starts_with("docgate 0.1.0 — UBND xã (000.00.01.H41): NOT WORKING"),
            "{text}"
        );
        assert!(text.contains("up for 1 d 1 h"), "{text}");
        assert!(text.contains("link: DOWN (https://axis)"), "{text}");
        assert!(text.contains("to send: 3 (oldest 2 min)"), "{text}");
        assert!(
            text.contains("agency seal (token 'agency-seal'): WAITING"),
            "{text}"
        );
        assert!(
            text.contains("timestamp authority (http://tsa.test/): NOT ANSWERING since 2026-11-22T09:00:00.000Z — connection refused"),
            "{text}"
        );
        assert!(
            text.contains("certificate link: expiring, 10 days left"),
            "{text}"
        );
        assert!(text.contains("disk: 3.0 GiB of 10.0 GiB (30%)"), "{text}");
        assert!(text.contains("FAILING: the axis is unreachable"), "{text}");
        assert!(text.contains("warning: expires in 10 days"), "{text}");
        assert!(any_failing(&facts));
    }

    #[test]
    fn the_enrolment_is_one_line_by_hand_and_its_dates_once_enrolled() {
        assert_eq!(
            provisioning_lines(&json!({"standing": "manual"})),
            ["provisioning: configured by hand (not enrolled)"]
        );
        assert!(
            provisioning_lines(&Value::Null).is_empty(),
            "an older daemon"
        );
        let enrolled = json!({
            "standing": "in_grace", "agency_code": "000.01.20.H41", "bundle_serial": 4,
            "bundle_expires_at": "2026-11-20T00:00:00Z", "grace_ends_at": "2026-11-27T00:00:00Z",
            "certificate_not_after": "2027-01-01T00:00:00Z", "renew_from": "2026-12-01T00:00:00Z",
            "last_bundle_check_at": "2026-11-22T07:00:00Z", "last_error": "cannot reach the axis",
        });
        assert_eq!(
            provisioning_lines(&enrolled),
            [
                "provisioning: in grace as 000.01.20.H41",
                "configuration bundle #4: valid until 2026-11-20T00:00:00Z; grace until 2026-11-27T00:00:00Z; last checked 2026-11-22T07:00:00Z",
                "link certificate: expires 2027-01-01T00:00:00Z; renewed from 2026-12-01T00:00:00Z; last renewal —",
                "provisioning error: cannot reach the axis",
            ]
        );
    }

    #[test]
    fn the_system_slots_are_one_line_on_an_appliance() {
        assert_eq!(update_line(&Value::Null), None);
        let slots = crate::system::update_slots::parse(
            include_str!("../../tests/fixtures/rauc/status-rolled-back.json"),
            "0.1.0",
        )
        .expect("parse");
        let json = serde_json::to_value(slots).expect("json");
        assert_eq!(
            update_line(&json).as_deref(),
            Some("system: slot A runs 0.1.0; slot B has 0.2.0 (failed to come up); next boot A")
        );
    }

    #[test]
    fn a_box_not_provisioned_says_so_and_how_to_enrol() {
        let answer = json!({
            "error": {"code": "not_provisioned", "message": "this box is not provisioned"},
            "provisioning": {"standing": "not_provisioned",
                              "last_error": "the enrolment on disk is damaged: bundle.json"},
        });
        assert!(is_not_provisioned(&answer));
        assert!(!is_not_provisioned(&json!({"version": "1"})));
        let text = render_not_provisioned(&answer, "http://192.168.1.10:8080/");
        assert!(text.starts_with("docgate — NOT PROVISIONED: this box is not provisioned\n"));
        assert!(text.contains("provisioning: not provisioned\n"), "{text}");
        assert!(
            text.contains("provisioning error: the enrolment on disk is damaged"),
            "{text}"
        );
        assert!(
            text.contains("open http://192.168.1.10:8080/ on the office network"),
            "{text}"
        );
        assert!(
            text.contains("docgate enroll --axis URL --code CODE"),
            "{text}"
        );
    }

    #[test]
    fn the_seal_line_names_a_token_that_is_not_ready() {
        let seal = |state: &str| {
            json!({"configured": true, "token_label": "agency-seal", "problem": null,
                   "token": {"label": "agency-seal", "state": state}})
        };
        assert_eq!(
            seal_line(&seal("absent")),
            "agency seal (token 'agency-seal'): NOT READY — token absent"
        );
        assert_eq!(
            seal_line(&seal("pin_refused")),
            "agency seal (token 'agency-seal'): NOT READY — token pin refused"
        );
        assert_eq!(
            seal_line(&seal("ready")),
            "agency seal (token 'agency-seal'): ready"
        );
    }
}
