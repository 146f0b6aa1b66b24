//! The LAN side of the gateway: the local API (`/api/v1/...`), the status page, the clerk
//! pages (`/clerk/...`), `/healthz` and `/metrics`. Speaks HTTP, JSON and HTML and nothing
//! else: it turns requests into `workflow` calls and their results into answers. Never opens the database or a blob file itself; never decides what a
//! document must contain.

mod business;
pub mod clerk;
mod document_list;
mod documents;
pub mod enrol_page;
mod error;
pub mod facts;
pub(crate) mod headers;
mod listeners;
mod metrics;
pub mod openapi;
mod registers;
mod server;
mod status_page;
pub mod status_text;
pub mod upload;

pub use business::{json_body, RecallRequest};
pub use document_list::{parse_list_query, ListQuery};
pub use error::ApiError;
pub use server::{router, serve, AppState};
