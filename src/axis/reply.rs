//! The axis's answers as HTTP responses: `AxisAnswer` JSON with the status code the
//! contract gives each case (200 for hub refusals, 401/15 for authentication, 413/10 for an
//! oversized body, 500/99 for the axis's own failures). Decides nothing about when to use
//! which; never reads a request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::routing::Refusal;
use crate::vdxp::{AxisAnswer, HubErrorCode};

/// One answer with its HTTP status. The answer is boxed so that `Result<_, Reply>` stays
/// small on every handler's happy path.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub answer: Box<AxisAnswer>,
}

impl Reply {
    /// 200 with `answer`.
    pub(crate) fn ok(answer: AxisAnswer) -> Reply {
        Reply {
            status: StatusCode::OK,
            answer: Box::new(answer),
        }
    }

    /// A hub refusal: HTTP 200, `status` FAIL, the code and the description.
    pub(crate) fn refuse(code: HubErrorCode, message: impl Into<String>) -> Reply {
        Reply::ok(AxisAnswer::fail(code, message))
    }

    /// 401 with code 15.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Reply {
        Reply {
            status: StatusCode::UNAUTHORIZED,
            answer: Box::new(AxisAnswer::fail(HubErrorCode::BadCredentials, message)),
        }
    }

    /// 413 with code 10.
    pub(crate) fn too_large(limit: u64) -> Reply {
        Reply {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            answer: Box::new(AxisAnswer::fail(
                HubErrorCode::InvalidFile,
                format!("the packet is larger than this axis accepts ({limit} bytes)"),
            )),
        }
    }

    /// 500 with code 99; the cause is logged, the caller is told to retry.
    pub(crate) fn internal(cause: &dyn std::fmt::Display) -> Reply {
        tracing::error!(error = %cause, error_kind = "internal", "axis request failed");
        Reply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            answer: Box::new(AxisAnswer::fail(
                HubErrorCode::Internal,
                "the axis failed to handle the request; nothing was stored, retry later",
            )),
        }
    }
}

impl From<Refusal> for Reply {
    fn from(refusal: Refusal) -> Reply {
        Reply::refuse(refusal.code, refusal.message)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, Json(*self.answer)).into_response()
    }
}
