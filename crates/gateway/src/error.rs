//! Every error the API returns, mapped to a status and a stable code in one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use yima_campaign::Problem;

use crate::wire::{ErrorBody, ErrorCode, ProblemBody};

/// An API failure with a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; `detail` says how.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Forged, tampered, malformed or unregistered code. One body for all of them.
    #[error("invalid code")]
    InvalidCode,
    /// A named thing does not exist (`unknown_member`, `unknown_campaign`, ...).
    #[error("{}", .0.as_str())]
    NotFound(ErrorCode),
    /// The request is sound but the state forbids it (`out_of_stock`,
    /// `insufficient_points`, ...); nothing was written.
    #[error("{}", .0.as_str())]
    Conflict(ErrorCode),
    /// Missing or invalid credential.
    #[error("unauthorized")]
    Unauthorized,
    /// A valid credential that may not act here.
    #[error("forbidden")]
    Forbidden,
    /// Gone for good (`invite_expired`).
    #[error("{}", .0.as_str())]
    Gone(ErrorCode),
    /// Well-formed but unusable (`invalid_invite`).
    #[error("{}", .0.as_str())]
    Unprocessable(ErrorCode),
    /// Body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// A scan rate limit: nothing was read or written; try again after the wait.
    #[error("rate limited ({scope:?})")]
    RateLimited {
        /// Which limit.
        scope: crate::limits::Scope,
        /// Whole seconds until one more scan is allowed (`Retry-After`).
        retry_after_seconds: u64,
    },
    /// A campaign file failed validation.
    #[error("invalid campaign")]
    InvalidCampaign(Vec<Problem>),
    /// A valid campaign file that the stored campaign does not accept as an edit.
    #[error("refused change")]
    RefusedChange(Vec<Problem>),
    /// An upload of shipments failed validation: every problem, by line; nothing written.
    #[error("invalid shipments")]
    InvalidShipments(Vec<Problem>),
    /// Valid shipments that the claims' states refuse: every one, by line; nothing written.
    #[error("shipments refused")]
    RefusedShipments(Vec<Problem>),
    /// A dependency (Redis, Postgres) failed; details go to the log, not the client.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    /// The stable code clients see.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::InvalidCode => ErrorCode::InvalidCode,
            Self::NotFound(code)
            | Self::Conflict(code)
            | Self::Gone(code)
            | Self::Unprocessable(code) => *code,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::InvalidCampaign(_) => ErrorCode::InvalidCampaign,
            Self::RefusedChange(_) => ErrorCode::RefusedChange,
            Self::InvalidShipments(_) => ErrorCode::InvalidShipments,
            Self::RefusedShipments(_) => ErrorCode::ClaimConflict,
            Self::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}

/// The exact bytes of every invalid-code answer, so no variation can tell a forger
/// which check failed.
pub const INVALID_CODE_BODY: &str = r#"{"error":"invalid_code"}"#;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidCode | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidCampaign(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RefusedChange(_) | Self::RefusedShipments(_) => StatusCode::CONFLICT,
            Self::InvalidShipments(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::InvalidCode = self {
            return response
                .content_type("application/json")
                .body(INVALID_CODE_BODY);
        }
        let mut body = ErrorBody::of(self.code());
        match self {
            Self::BadRequest(detail) => body.detail = Some(detail),
            Self::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            Self::RateLimited {
                scope,
                retry_after_seconds,
            } => {
                response.insert_header(("Retry-After", retry_after_seconds.to_string()));
                body.scope = Some(*scope);
                body.retry_after_seconds = Some(*retry_after_seconds);
            }
            Self::InvalidCampaign(problems)
            | Self::RefusedChange(problems)
            | Self::InvalidShipments(problems)
            | Self::RefusedShipments(problems) => {
                body.problems = Some(
                    problems
                        .iter()
                        .map(|p| ProblemBody {
                            path: &p.path,
                            message: &p.message,
                        })
                        .collect(),
                );
            }
            Self::Unavailable(reason) => tracing::error!(%reason, "dependency unavailable"),
            Self::InvalidCode
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Gone(_)
            | Self::Unprocessable(_)
            | Self::Forbidden
            | Self::PayloadTooLarge => {}
        }
        response.json(body)
    }
}

impl From<yima_campaign::request::BadRequest> for ApiError {
    fn from(error: yima_campaign::request::BadRequest) -> Self {
        Self::BadRequest(error.0)
    }
}

impl From<yima_store::StoreError> for ApiError {
    fn from(error: yima_store::StoreError) -> Self {
        Self::Unavailable(format!(
            "redis: {error}: {:?}",
            std::error::Error::source(&error)
        ))
    }
}

impl From<yima_ledger::LedgerError> for ApiError {
    fn from(error: yima_ledger::LedgerError) -> Self {
        Self::Unavailable(format!(
            "postgres: {error}: {:?}",
            std::error::Error::source(&error)
        ))
    }
}
