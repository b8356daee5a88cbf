//! `POST /v1/dev/login {"member"}` → `{"token"}`: a member token for any member id,
//! so the demo can log a member in without the brand's login. Served only when
//! `YIMA_MEMBERS_DEV_LOGIN=1` and the gateway listens on loopback (the binary refuses
//! to start otherwise); without it the path does not exist.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_campaign::request::check_member;

use crate::Gateway;
use crate::error::ApiError;
use crate::wire::DevToken;

/// A member id and braces.
pub(crate) const BODY_LIMIT: usize = 1024;

/// How long a dev token lasts: a demo afternoon.
const LIFETIME_SECONDS: u64 = 12 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevLogin {
    member: String,
}

/// The handler.
pub async fn login(
    gateway: web::Data<Gateway>,
    request: web::Json<DevLogin>,
) -> Result<HttpResponse, ApiError> {
    check_member(&request.member)?;
    let members =
        gateway.credentials.members.as_ref().ok_or_else(|| {
            ApiError::Unavailable("dev login needs YIMA_MEMBERS_JWT_SECRET".into())
        })?;
    // Tokens live in real time, whatever clock the campaigns run on.
    let token = members
        .issue(&request.member, LIFETIME_SECONDS)
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    Ok(HttpResponse::Ok().json(DevToken { token }))
}
