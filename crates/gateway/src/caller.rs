//! Who a request comes from, and which routes each caller may use.
//!
//! Three credentials, all `Authorization: Bearer …`: a member token (a JWT from the
//! brand's login, [`MemberTokens`]) acts for its own member only; the service key
//! (`YIMA_SERVICE_TOKEN`, the brand's own back end) acts for any member it names; the
//! admin token runs the admin routes. A missing or invalid credential is 401; a valid
//! one used where it may not act is 403. Everything is checked in process: a forged
//! token costs a signature check and never reaches Redis or Postgres.

use actix_web::{HttpRequest, web};
use yima_identity::MemberTokens;

use crate::token::BearerToken;
use crate::{ApiError, Gateway};

/// The credentials a gateway accepts. Each is optional; one that is not configured
/// admits nobody.
#[derive(Debug, Default)]
pub struct Credentials {
    /// Member tokens (JWT), from `YIMA_MEMBERS_JWT_SECRET` / `YIMA_MEMBERS_JWKS_FILE`.
    pub members: Option<MemberTokens>,
    /// `YIMA_SERVICE_TOKEN`.
    pub service: Option<BearerToken>,
    /// `YIMA_ADMIN_TOKEN`.
    pub admin: Option<BearerToken>,
}

/// The verified sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A member, by the `sub` of a verified token.
    Member(String),
    /// The brand's back end: may act for any member it names.
    Service,
    /// Ops.
    Admin,
}

impl Credentials {
    /// Who sent `authorization`, or 401.
    pub(crate) fn caller(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return Err(ApiError::Unauthorized);
        };
        // A JWT goes straight to its verifier: the service and admin tokens never look
        // like one (the configuration refuses that), so theirs are not hashed for it.
        if !looks_like_jwt(token) {
            if self.service.as_ref().is_some_and(|key| key.admits(token)) {
                return Ok(Caller::Service);
            }
            if self.admin.as_ref().is_some_and(|key| key.admits(token)) {
                return Ok(Caller::Admin);
            }
            return Err(ApiError::Unauthorized);
        }
        let members = self.members.as_ref().ok_or(ApiError::Unauthorized)?;
        match members.verify(token) {
            Ok(member) => Ok(Caller::Member(member)),
            Err(reason) => {
                tracing::debug!(%reason, "member token refused");
                Err(ApiError::Unauthorized)
            }
        }
    }

    /// Who sent `request`, or 401.
    pub(crate) fn caller_of(&self, request: &HttpRequest) -> Result<Caller, ApiError> {
        self.caller(
            request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok()),
        )
    }
}

/// A JWT's shape: a base64url JSON header (`{"` encodes to `eyJ`) and three parts.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// What a door's extractor answers: the caller as `admit` takes them, 403 for a valid
/// credential it does not take, 401 for none.
fn door<T>(
    request: &HttpRequest,
    admit: impl FnOnce(Caller) -> Option<T>,
) -> std::future::Ready<Result<T, ApiError>> {
    let caller = request
        .app_data::<web::Data<Gateway>>()
        .ok_or(ApiError::Unauthorized)
        .and_then(|gateway| gateway.credentials.caller_of(request));
    std::future::ready(caller.and_then(|caller| admit(caller).ok_or(ApiError::Forbidden)))
}

/// A member acting for themself: the `/v1/me` routes. The service key and the admin
/// token name no member here, so they are refused (403).
pub(crate) struct Member(pub String);

impl actix_web::FromRequest for Member {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        door(request, |caller| match caller {
            Caller::Member(member) => Some(Self(member)),
            Caller::Service | Caller::Admin => None,
        })
    }
}

/// The brand's back end or ops, acting for the member a path names:
/// `/v1/members/{member}/…`. A member token is refused (403) even for its own member:
/// members use `/v1/me`.
pub(crate) struct Backend;

impl actix_web::FromRequest for Backend {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        door(request, |caller| match caller {
            Caller::Service | Caller::Admin => Some(Self),
            Caller::Member(_) => None,
        })
    }
}

/// Proof that a request carries the admin token. Every admin route takes one as its
/// first argument, so a request without the token is refused (401) before its path,
/// query or body is read.
pub(crate) struct Admin;

impl actix_web::FromRequest for Admin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        door(request, |caller| match caller {
            Caller::Admin => Some(Self),
            Caller::Member(_) | Caller::Service => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use yima_identity::TokenKeys;

    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-thirty-two-bytes!";

    fn credentials() -> Credentials {
        Credentials {
            members: Some(
                MemberTokens::new(TokenKeys {
                    hs256_secret: Some(SECRET),
                    ..TokenKeys::default()
                })
                .expect("keys"),
            ),
            service: Some(BearerToken::new("service-key").expect("token")),
            admin: Some(BearerToken::new("admin-key").expect("token")),
        }
    }

    #[test]
    fn each_credential_is_told_apart() {
        let credentials = credentials();
        let token = credentials
            .members
            .as_ref()
            .expect("members")
            .issue("wang", 60)
            .expect("token");
        let bearer = |token: &str| format!("Bearer {token}");
        assert_eq!(
            credentials.caller(Some(&bearer(&token))).ok(),
            Some(Caller::Member("wang".into()))
        );
        assert_eq!(
            credentials.caller(Some(&bearer("service-key"))).ok(),
            Some(Caller::Service)
        );
        assert_eq!(
            credentials.caller(Some(&bearer("admin-key"))).ok(),
            Some(Caller::Admin)
        );
        for refused in [
            None,
            Some(String::new()),
            Some(token.clone()),
            Some(bearer("service-key ")),
            Some(bearer("nobody")),
            Some(bearer(&token.replace('.', ""))),
        ] {
            assert!(
                matches!(
                    credentials.caller(refused.as_deref()),
                    Err(ApiError::Unauthorized)
                ),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn without_configured_credentials_nobody_passes() {
        let none = Credentials::default();
        for header in ["Bearer service-key", "Bearer admin-key", "Bearer a.b.c"] {
            assert!(matches!(
                none.caller(Some(header)),
                Err(ApiError::Unauthorized)
            ));
        }
    }
}
