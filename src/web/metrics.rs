//! `GET /metrics`: the status facts in the Prometheus text format, for provincial IT's
//! monitoring of many boxes. Counts, states, ages, expiry times and latencies only — no
//! document content, no secret — so it is served without a token like `/healthz`. Every
//! scrape builds a fresh registry from the facts and the store's totals: nothing to keep
//! in step. The one exception is `docgate_sign_seconds`, a histogram the sealer feeds as
//! it signs (kept in the link state's `SealWatch`); the scrape registers that same
//! histogram.
//!
//! The metrics (all prefixed `docgate_`):
//!
//! - `waiting_to_send`, `oldest_unsent_age_seconds`, `sent_unconfirmed`,
//!   `failed_outgoing`, `quarantined_incoming`, `awaiting_clerk`, `overdue`,
//!   `outbox_depth`: the queues;
//! - `link_configured`, `link_up`, `seal_waiting`: the link and the seal;
//! - `disk_used_bytes`, `disk_quota_bytes`, `uptime_seconds`;
//! - `certificate_expiry_seconds{role}`: `link`, `link-ca`, `agency` (the seal
//!   certificate, from its key file or read from the token once it is logged in);
//! - `health_check{component}`: 0 ok, 1 warning, 2 failing, per component (`store`,
//!   `config`, `link`, `token`, `certificate`, `disk`, `clock`, `tsa`, and `directory`
//!   while the agency directory is stale);
//! - `build_info{version, organ_id}`;
//! - `documents{direction, state}`; counters `packets_sent_total{kind}`,
//!   `packets_refused_total{kind}`, `deliveries_received_total{outcome}`;
//! - `sign_seconds`: a histogram of signatures with the agency key (document seals and
//!   evidence batches, on the token or with the key file), buckets from 10 ms to 5 s.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::facts::{self, Severity, StatusFacts};
use super::AppState;
use crate::store::{Direction, DocumentState, ExchangeTotals};

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Vec<(String, String)>;

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let facts = facts::gather(&state).await;
    let store = state.store.clone();
    let read =
        tokio::task::spawn_blocking(move || (store.count_documents(), store.exchange_totals()))
            .await;
    let (documents, totals) = match read {
        Ok((Ok(documents), Ok(totals))) => (documents, totals),
        _ => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "# the store did not answer; see /healthz\n",
            )
                .into_response()
        }
    };
    let mut registry = Registry::with_prefix("docgate");
    register_facts(&mut registry, &facts);
    register_documents(&mut registry, &documents);
    register_totals(&mut registry, &totals);
    registry.register(
        "sign_seconds",
        "Seconds each signature with the agency key took (document seals and evidence batches; token or key file)",
        state.link.seal_watch().sign_seconds(),
    );
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "# encoding failed\n").into_response();
    }
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

fn labelled(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn register_facts(registry: &mut Registry, facts: &StatusFacts) {
    let queues = &facts.queues;
    gauge(
        registry,
        "waiting_to_send",
        "Outgoing documents not yet confirmed by the axis",
        as_i64(queues.waiting_to_send),
    );
    gauge(
        registry,
        "oldest_unsent_age_seconds",
        "Age of the oldest outgoing document not yet confirmed by the axis (0 when none)",
        facts.oldest_waiting_secs.unwrap_or(0),
    );
    gauge(
        registry,
        "sent_unconfirmed",
        "Packets handed to the axis and not yet confirmed",
        as_i64(queues.sent_unconfirmed),
    );
    gauge(
        registry,
        "failed_outgoing",
        "Outgoing documents refused for good (quarantined)",
        as_i64(queues.failed_outgoing),
    );
    gauge(
        registry,
        "quarantined_incoming",
        "Incoming packets kept in quarantine",
        as_i64(queues.quarantined_incoming),
    );
    gauge(
        registry,
        "awaiting_clerk",
        "Incoming documents the clerk has not accepted or refused",
        as_i64(queues.awaiting_clerk),
    );
    gauge(
        registry,
        "overdue",
        "Incoming documents past their due date and still open",
        as_i64(queues.overdue),
    );
    gauge(
        registry,
        "outbox_depth",
        "Packets waiting in the outbox",
        as_i64(facts.link.outbox_depth),
    );
    gauge(
        registry,
        "link_configured",
        "1 when an axis is configured",
        i64::from(facts.link.configured),
    );
    gauge(
        registry,
        "link_up",
        "1 when the last request to the axis succeeded",
        i64::from(facts.link.connected),
    );
    gauge(
        registry,
        "seal_waiting",
        "1 when outgoing documents wait for the agency seal (token absent, PIN refused, ...)",
        i64::from(facts.seal.problem.is_some()),
    );
    gauge(
        registry,
        "disk_used_bytes",
        "Bytes used by the state directory",
        as_i64(facts.disk.used_bytes),
    );
    gauge(
        registry,
        "disk_quota_bytes",
        "limits.disk_quota_bytes",
        as_i64(facts.disk.quota_bytes),
    );
    gauge(
        registry,
        "uptime_seconds",
        "Seconds since the daemon started",
        facts.uptime_secs,
    );
    let expiry = Family::<Labels, Gauge<i64>>::default();
    for certificate in &facts.certificates {
        if let Some(seconds) = certificate.seconds_left {
            expiry
                .get_or_create(&labelled(&[("role", certificate.role)]))
                .set(seconds);
        }
    }
    registry.register(
        "certificate_expiry_seconds",
        "Seconds until the certificate expires (negative once expired), by role: link, link-ca, agency",
        expiry,
    );
    let checks = Family::<Labels, Gauge<i64>>::default();
    for check in &facts.checks {
        let value = match check.severity {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Failing => 2,
        };
        let current = checks.get_or_create(&labelled(&[("component", check.component)]));
        current.set(current.get().max(value));
    }
    registry.register(
        "health_check",
        "Health by component: 0 ok, 1 warning, 2 failing (/healthz answers 503)",
        checks,
    );
    let info = Family::<Labels, Gauge<i64>>::default();
    info.get_or_create(&labelled(&[
        ("version", facts.version),
        ("organ_id", &facts.agency.organ_id),
    ]))
    .set(1);
    registry.register(
        "build_info",
        "The running version and the agency code",
        info,
    );
}

fn register_documents(registry: &mut Registry, documents: &[(Direction, DocumentState, u64)]) {
    let family = Family::<Labels, Gauge<i64>>::default();
    // Every (direction, state), zeros included, so a graph never has gaps.
    for direction in [Direction::Outgoing, Direction::Incoming] {
        for state in DocumentState::ALL {
            let count = documents
                .iter()
                .find(|(d, s, _)| *d == direction && *s == state)
                .map_or(0, |(_, _, count)| *count);
            family
                .get_or_create(&labelled(&[
                    ("direction", direction.as_str()),
                    ("state", state.as_str()),
                ]))
                .set(as_i64(count));
        }
    }
    registry.register("documents", "Documents by direction and state", family);
}

fn register_totals(registry: &mut Registry, totals: &ExchangeTotals) {
    for (name, help, label, values) in [
        (
            "packets_sent",
            "Packets the axis confirmed, by kind",
            "kind",
            &totals.sent,
        ),
        (
            "packets_refused",
            "Packets the axis refused for good, by kind",
            "kind",
            &totals.refused,
        ),
        (
            "deliveries_received",
            "Incoming deliveries committed, by outcome",
            "outcome",
            &totals.received,
        ),
    ] {
        let family = Family::<Labels, Counter>::default();
        for (value_label, count) in values {
            family
                .get_or_create(&labelled(&[(label, value_label)]))
                .inc_by(*count);
        }
        registry.register(name, help, family);
    }
}
