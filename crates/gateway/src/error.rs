//! Every error the API returns, mapped to a status and a stable code in one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use yima_campaign::Problem;

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
    #[error("{0}")]
    NotFound(&'static str),
    /// The request is sound but the state forbids it (`out_of_stock`,
    /// `insufficient_points`, ...); nothing was written.
    #[error("{0}")]
    Conflict(&'static str),
    /// Missing or wrong admin token.
    #[error("unauthorized")]
    Unauthorized,
    /// Body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// A scan rate limit: nothing was read or written; try again after the wait.
    #[error("rate limited ({})", scope.as_str())]
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
    /// A dependency (Redis, Postgres) failed; details go to the log, not the client.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    /// The stable code clients see, also the `status` label of the scan metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidCode => "invalid_code",
            Self::NotFound(code) | Self::Conflict(code) => code,
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidCampaign(_) => "invalid_campaign",
            Self::RefusedChange(_) => "refused_change",
            Self::Unavailable(_) => "unavailable",
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
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidCampaign(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RefusedChange(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/json");
        match self {
            Self::InvalidCode => response.body(INVALID_CODE_BODY),
            Self::BadRequest(detail) => response
                .body(serde_json::json!({"error": "bad_request", "detail": detail}).to_string()),
            Self::NotFound(code) | Self::Conflict(code) => {
                response.body(serde_json::json!({"error": code}).to_string())
            }
            Self::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
                response.body(r#"{"error":"unauthorized"}"#)
            }
            Self::PayloadTooLarge => response.body(r#"{"error":"payload_too_large"}"#),
            Self::RateLimited {
                scope,
                retry_after_seconds,
            } => {
                response.insert_header(("Retry-After", retry_after_seconds.to_string()));
                response.body(
                    serde_json::json!({
                        "error": "rate_limited",
                        "scope": scope.as_str(),
                        "retry_after_seconds": retry_after_seconds,
                    })
                    .to_string(),
                )
            }
            Self::InvalidCampaign(problems) | Self::RefusedChange(problems) => {
                let problems: Vec<_> = problems
                    .iter()
                    .map(|p| serde_json::json!({"path": p.path, "message": p.message}))
                    .collect();
                response.body(
                    serde_json::json!({"error": self.code(), "problems": problems}).to_string(),
                )
            }
            Self::Unavailable(reason) => {
                tracing::error!(%reason, "dependency unavailable");
                response.body(r#"{"error":"unavailable"}"#)
            }
        }
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
