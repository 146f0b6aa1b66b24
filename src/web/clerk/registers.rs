//! `GET /clerk/registers`: the registers (sổ văn bản đi / đến) for a logged-in clerk — a
//! year picker, and each register year as the printable page, CSV (for Excel) or JSON,
//! byte for byte what the local API and `docgate register export` give.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use maud::html;
use serde::Deserialize;

use super::layout::{self, Frame, Nav};
use super::session::ClerkSession;
use crate::web::AppState;

/// Query of the registers page.
#[derive(Debug, Deserialize)]
pub struct YearQuery {
    year: Option<String>,
}

/// `GET /clerk/registers[?year=YYYY]`.
pub async fn index(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Query(query): Query<YearQuery>,
) -> Response {
    let this_year = state
        .intake
        .clock
        .now()
        .to_offset(time::macros::offset!(+7))
        .year();
    let year = query
        .year
        .as_deref()
        .and_then(|year| year.parse::<i32>().ok())
        .filter(|year| (2000..=this_year + 1).contains(year))
        .unwrap_or(this_year);
    let registers = [
        ("in", None, "Sổ văn bản đến"),
        ("out", Some("general"), "Sổ văn bản đi"),
        ("out", Some("secret"), "Sổ văn bản đi (mật)"),
    ];
    let content = html! {
        h2 { "Sổ văn bản năm " (year) }
        form method="get" action="/clerk/registers" #year-form {
            label for="year" { "Năm" }
            input type="number" id="year" name="year" value=(year) min="2000" max=(this_year + 1);
            p { button.secondary type="submit" { "Xem năm này" } }
        }
        ul.documents {
            @for (register, series, title) in registers {
                @let base = match series {
                    Some(series) => format!("/clerk/registers/{register}?year={year}&series={series}"),
                    None => format!("/clerk/registers/{register}?year={year}"),
                };
                li.register data-register=(register) data-series=(series.unwrap_or("")) {
                    strong { (title) }
                    div {
                        a.view href={ (base) "&format=html" } { "Xem và in" } " · "
                        a.csv href={ (base) "&format=csv" } { "Tải CSV (Excel)" } " · "
                        a.json href={ (base) "&format=json" } { "Tải JSON" }
                    }
                }
            }
        }
    };
    let frame = Frame {
        title: "Sổ văn bản",
        organ_name: &state.organ_name,
        session: Some(&session),
        current: Nav::Registers,
    };
    layout::page(frame, content)
}

/// `GET /clerk/registers/{out|in}?year=&series=&format=`: the API's export.
pub async fn export(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(register): Path<String>,
    query: Result<Query<crate::web::registers::ShowQuery>, QueryRejection>,
) -> Response {
    let organ_name = state.organ_name.clone();
    match crate::web::registers::show(State(state), Path(register), query).await {
        Ok(mut response) => {
            // The printable page carries its stylesheet inline; it runs nothing.
            response.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                ),
            );
            response
        }
        Err(error) => layout::error_page(&organ_name, Some(&session), &error, "/clerk/registers"),
    }
}
