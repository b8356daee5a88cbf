//! The member registry over HTTP: a member registers with a signed invite
//! (`POST /v1/me/register`); ops make invites and search, tag, block and export
//! members (`/v1/admin/invites`, `/v1/admin/members…`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_campaign::Role;
use yima_campaign::request::{check_member, check_region};
use yima_identity::profile::{
    check_birthday, check_label, check_nickname, mask_phone, normalize_phone,
};
use yima_identity::{InviteRefused, Invites};
use yima_ledger::{MemberFilter, NewMember, Profile, Registered};

use crate::Gateway;
use crate::caller::{Admin, Member};
use crate::error::ApiError;
use crate::wire::{
    Blocked, ErrorBody, ErrorCode, InviteMade, Page, Registration, RegistrationResult, Retagged,
};

/// A brand's member architecture: who may join it (holders of its invites) and the
/// scan role its members take.
#[derive(Debug, Clone)]
pub struct Architecture {
    /// Stable id (`dealer`).
    pub id: String,
    /// Display name (`经销商`).
    pub name: String,
    /// The role of every scan its members make.
    pub role: Role,
}

/// Why an invite was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// No invite secret is configured.
    #[error("no invite secret: set YIMA_MEMBERS_INVITE_SECRET")]
    NoSecret,
    /// An unknown architecture, a bad channel, tag or time.
    #[error("{0}")]
    Bad(String),
}

/// The registry's configuration.
#[derive(Debug, Default)]
pub struct Registry {
    /// The brand's architectures.
    pub architectures: Vec<Architecture>,
    /// Signs and checks invites; without it nobody can register.
    pub invites: Option<Invites>,
}

impl Registry {
    pub(crate) fn architecture(&self, id: &str) -> Option<&Architecture> {
        self.architectures.iter().find(|a| a.id == id)
    }

    /// A signed invite to `architecture` through `channel`, with `tags`, until
    /// `expires_at` (RFC 3339; never if `None`): for the admin route and `yima invite`.
    pub fn make_invite(
        &self,
        architecture: &str,
        channel: &str,
        tags: &[String],
        expires_at: Option<&str>,
    ) -> Result<String, InviteError> {
        let invites = self.invites.as_ref().ok_or(InviteError::NoSecret)?;
        if self.architecture(architecture).is_none() {
            return Err(InviteError::Bad(format!(
                "architecture must be one of: {}",
                self.architectures
                    .iter()
                    .map(|a| a.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let bad = |e: yima_identity::profile::BadProfile| InviteError::Bad(e.0);
        check_label(channel, "channel").map_err(bad)?;
        for tag in tags {
            check_label(tag, "a tag").map_err(bad)?;
        }
        let expires = expires_at
            .map(|text| {
                text.parse::<jiff::Timestamp>()
                    .ok()
                    .and_then(|at| u64::try_from(at.as_second()).ok())
                    .ok_or_else(|| InviteError::Bad("expires_at must be an RFC 3339 time".into()))
            })
            .transpose()?;
        invites
            .issue(architecture, channel, tags.to_vec(), expires)
            .map_err(|error| InviteError::Bad(format!("the invite cannot be signed: {error}")))
    }

    /// The architectures as the catalog holds them, in configured order.
    pub fn held_architectures(&self) -> Vec<crate::catalog::HeldArchitecture> {
        self.architectures
            .iter()
            .map(|a| crate::catalog::HeldArchitecture {
                id: a.id.clone(),
                dealer: a.role == Role::Dealer,
            })
            .collect()
    }

    fn invites(&self) -> Result<&Invites, ApiError> {
        self.invites
            .as_ref()
            .ok_or(ApiError::NotFound(ErrorCode::NoRegistration))
    }
}

/// A registration or member read: the profile with its architecture's name.
pub(crate) fn registration<'a>(gateway: &'a Gateway, profile: &'a Profile) -> Registration<'a> {
    Registration {
        member: &profile.member,
        architecture: &profile.architecture,
        architecture_name: gateway
            .registry
            .architecture(&profile.architecture)
            .map(|a| a.name.as_str()),
        channel: &profile.channel,
        nickname: profile.nickname.as_deref(),
        region: profile.region.as_deref(),
        birthday: profile.birthday.as_deref(),
        phone: profile.phone.as_deref(),
        tags: &profile.tags,
        registered_at_ms: profile.registered_at_ms,
        blocked: profile.blocked.is_some(),
    }
}

/// Body of `POST /v1/me/register`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    /// The signed invite from the architecture's registration link.
    #[schema(max_length = 2048)]
    invite: String,
    /// Display name, 1 to 32 characters, none a control character.
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,32}$")]
    nickname: Option<String>,
    /// Region code.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    region: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    birthday: Option<String>,
    /// A mainland mobile number; stored as a keyed digest and a mask only.
    #[serde(default)]
    #[schema(max_length = 32)]
    phone: Option<String>,
}

/// Bodies of the registry routes: an invite and a profile, or a few tags.
pub(crate) const BODY_LIMIT: usize = 8 * 1024;

/// Registers the token's member in the invite's architecture, once.
#[utoipa::path(post, path = "/v1/me/register", tag = "me", security(("member_token" = [])),
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses((status = 200, description = "registered (or already, in the same architecture: nothing changed)", body = crate::wire::Registered),
        (status = 400, description = "bad_request (a profile field)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 404, description = "no_registration: this gateway takes no registrations", body = ErrorBody),
        (status = 409, description = "already_registered in another architecture", body = ErrorBody),
        (status = 410, description = "invite_expired", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 422, description = "invalid_invite: forged, tampered or for no architecture of this brand", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn register(
    member: Member,
    gateway: web::Data<Gateway>,
    request: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let (status, profile) = register_member(&gateway, &member.0, &request).await?;
    Ok(HttpResponse::Ok().json(crate::wire::Registered {
        status,
        registration: registration(&gateway, &profile),
    }))
}

impl RegisterRequest {
    /// A registration from the invite page's form (empty fields left out).
    pub(crate) fn from_form(
        invite: &str,
        nickname: &str,
        phone: &str,
        region: &str,
        birthday: &str,
    ) -> Self {
        let given = |field: &str| Some(field.trim().to_string()).filter(|f| !f.is_empty());
        Self {
            invite: invite.to_string(),
            nickname: given(nickname),
            region: given(region),
            birthday: given(birthday),
            phone: given(phone),
        }
    }
}

/// Registers `member`, whose credential the caller checked, with an invite: once.
pub(crate) async fn register_member(
    gateway: &Gateway,
    member: &str,
    request: &RegisterRequest,
) -> Result<(RegistrationResult, Profile), ApiError> {
    let invites = gateway.registry.invites()?;
    let invite = invites
        .verify(&request.invite)
        .map_err(|refused| match refused {
            InviteRefused::Expired => ApiError::Gone(ErrorCode::InviteExpired),
            InviteRefused::Invalid => ApiError::Unprocessable(ErrorCode::InvalidInvite),
        })?;
    if gateway
        .registry
        .architecture(&invite.architecture)
        .is_none()
    {
        return Err(ApiError::Unprocessable(ErrorCode::InvalidInvite));
    }
    let bad = |e: yima_identity::profile::BadProfile| ApiError::BadRequest(e.0);
    if let Some(nickname) = &request.nickname {
        check_nickname(nickname).map_err(bad)?;
    }
    if let Some(region) = &request.region {
        check_region(region)?;
    }
    if let Some(birthday) = &request.birthday {
        check_birthday(
            birthday,
            jiff::tz::TimeZone::UTC
                .to_datetime(gateway.clock.now())
                .date(),
        )
        .map_err(bad)?;
    }
    let phone = request
        .phone
        .as_deref()
        .map(normalize_phone)
        .transpose()
        .map_err(bad)?;
    let masked = phone.as_deref().map(mask_phone);
    let registered = gateway
        .ledger
        .register(&NewMember {
            member,
            architecture: &invite.architecture,
            channel: &invite.channel,
            tags: &invite.tags,
            nickname: request.nickname.as_deref(),
            region: request.region.as_deref(),
            birthday: request.birthday.as_deref(),
            phone_digest: phone.as_deref().map(|p| invites.phone_digest(p)),
            phone_masked: masked.as_deref(),
        })
        .await?;
    match registered {
        Registered::Created(profile) => Ok((RegistrationResult::Registered, profile)),
        Registered::Existing(profile) => Ok((RegistrationResult::AlreadyRegistered, profile)),
        Registered::Elsewhere(_) => Err(ApiError::Conflict(ErrorCode::AlreadyRegistered)),
    }
}

/// Body of `POST /v1/admin/invites`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteRequest {
    /// One of the brand's architectures.
    architecture: String,
    /// Where the link is handed out: 1 to 32 of a-z, 0-9, `_`, `-` or Chinese characters.
    #[schema(pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$")]
    channel: String,
    /// Tags a member joining through it gets.
    #[serde(default)]
    tags: Vec<String>,
    /// When it stops working (RFC 3339); never, if left out.
    #[serde(default)]
    expires_at: Option<String>,
}

/// Makes a registration invite: the signed part of an architecture's link.
#[utoipa::path(post, path = "/v1/admin/invites", tag = "admin", security(("admin_token" = [])),
    request_body(content = InviteRequest, content_type = "application/json"),
    responses((status = 201, description = "the invite", body = InviteMade),
        (status = 400, description = "bad_request (an unknown architecture, a bad channel, tag or time)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 404, description = "no_registration: no invite secret is configured", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody)))]
pub async fn create_invite(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    request: web::Json<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let invite = gateway
        .registry
        .make_invite(
            &request.architecture,
            &request.channel,
            &request.tags,
            request.expires_at.as_deref(),
        )
        .map_err(|error| match error {
            InviteError::NoSecret => ApiError::NotFound(ErrorCode::NoRegistration),
            InviteError::Bad(detail) => ApiError::BadRequest(detail),
        })?;
    Ok(HttpResponse::Created().json(InviteMade {
        invite,
        architecture: &request.architecture,
        channel: &request.channel,
        expires_at: request.expires_at.as_deref(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberQuery {
    architecture: Option<String>,
    tag: Option<String>,
    region: Option<String>,
    channel: Option<String>,
    blocked: Option<bool>,
    phone: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl MemberQuery {
    fn filter(&self, registry: &Registry) -> Result<MemberFilter, ApiError> {
        if let Some(cursor) = &self.cursor {
            check_member(cursor)?;
        }
        let bad = |e: yima_identity::profile::BadProfile| ApiError::BadRequest(e.0);
        for (value, what) in [
            (&self.architecture, "architecture"),
            (&self.tag, "tag"),
            (&self.channel, "channel"),
        ] {
            if let Some(value) = value {
                check_label(value, what).map_err(bad)?;
            }
        }
        if let Some(region) = &self.region {
            check_region(region)?;
        }
        let phone_digest = match &self.phone {
            Some(phone) => {
                let normalized = normalize_phone(phone).map_err(bad)?;
                Some(registry.invites()?.phone_digest(&normalized))
            }
            None => None,
        };
        Ok(MemberFilter {
            phone_digest,
            architecture: self.architecture.clone(),
            tag: self.tag.clone(),
            region: self.region.clone(),
            channel: self.channel.clone(),
            blocked: self.blocked,
        })
    }
}

/// Registered members by architecture, tag, region, channel or block, in member order.
#[utoipa::path(get, path = "/v1/admin/members", tag = "admin", security(("admin_token" = [])),
    params(("architecture" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"), ("tag" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"),
        ("region" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{1,32}$"), ("channel" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"),
        ("blocked" = Option<bool>, Query), ("phone" = Option<String>, Query, max_length = 32, description = "a mainland mobile number: matched by its digest"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9_.@-]{1,64}$", description = "`next_cursor` of the page before")),
    responses((status = 200, description = "a page of members", body = Page<Registration>),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn search(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let filter = query.filter(&gateway.registry)?;
    let page = gateway
        .ledger
        .search_members(&filter, query.cursor.as_deref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page
            .items
            .iter()
            .map(|p| registration(&gateway, p))
            .collect(),
        next_cursor: page.next,
    }))
}

/// The same members as CSV for a spreadsheet, every page of them, streamed.
#[utoipa::path(get, path = "/v1/admin/members.csv", tag = "admin", security(("admin_token" = [])),
    params(("architecture" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"), ("tag" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"),
        ("region" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{1,32}$"), ("channel" = Option<String>, Query, pattern = "^[a-z0-9_\\u4e00-\\u9fff-]{1,32}$"),
        ("blocked" = Option<bool>, Query), ("phone" = Option<String>, Query, max_length = 32, description = "a mainland mobile number: matched by its digest")),
    responses((status = 200, description = "member,architecture,channel,nickname,region,birthday,phone,tags,registered_at,blocked", content_type = "text/csv"),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody)))]
pub async fn export(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    const PAGE: i64 = 1000;
    let filter = query.filter(&gateway.registry)?;
    let gateway = gateway.into_inner();
    let header = Some(Ok::<_, ApiError>(web::Bytes::from_static(
        b"member,architecture,channel,nickname,region,birthday,phone,tags,registered_at,blocked\n",
    )));
    let pages = futures_util::stream::unfold(Some(None::<String>), move |after| {
        let (gateway, filter) = (gateway.clone(), filter.clone());
        async move {
            let after = after?;
            let page = match gateway
                .ledger
                .search_members(&filter, after.as_deref(), PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => return Some((Err(ApiError::from(error)), None)),
            };
            if page.items.is_empty() {
                return None;
            }
            let mut csv = String::new();
            for profile in &page.items {
                let at = crate::wire::utc_time(profile.registered_at_ms);
                let fields = [
                    profile.member.as_str(),
                    &profile.architecture,
                    &profile.channel,
                    profile.nickname.as_deref().unwrap_or(""),
                    profile.region.as_deref().unwrap_or(""),
                    profile.birthday.as_deref().unwrap_or(""),
                    profile.phone.as_deref().unwrap_or(""),
                    &profile.tags.join(" "),
                    &at,
                    if profile.blocked.is_some() {
                        "yes"
                    } else {
                        "no"
                    },
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                csv.push_str(&line.join(","));
                csv.push('\n');
            }
            // The state is `Some(after)` while a page remains (the first starts after
            // nobody); `None` once a page says it was the last.
            Some((Ok(web::Bytes::from(csv)), page.next.map(Some)))
        }
    });
    use futures_util::StreamExt as _;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"members.csv\"",
        ))
        .streaming(futures_util::stream::iter(header).chain(pages)))
}

/// A CSV field: quoted when it holds a comma, quote or line break, and never starting
/// with `=`, `+`, `-` or `@` unquoted (a spreadsheet would run it as a formula).
pub(crate) fn csv_field(field: &str) -> String {
    let formula = field.starts_with(['=', '+', '-', '@']);
    if formula || field.contains([',', '"', '\n', '\r']) {
        let prefix = if formula { "'" } else { "" };
        format!("\"{prefix}{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Body of `POST /v1/admin/members/{member}/tags`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetagRequest {
    /// Tags to add.
    #[serde(default)]
    add: Vec<String>,
    /// Tags to take off.
    #[serde(default)]
    remove: Vec<String>,
}

/// Tags and untags a registered member.
#[utoipa::path(post, path = "/v1/admin/members/{member}/tags", tag = "admin", security(("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$")),
    request_body(content = RetagRequest, content_type = "application/json"),
    responses((status = 200, description = "the member's tags now", body = Retagged),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 404, description = "unknown_member: not registered", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn retag(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    request: web::Json<RetagRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    check_member(&member)?;
    for tag in request.add.iter().chain(&request.remove) {
        check_label(tag, "a tag").map_err(|e| ApiError::BadRequest(e.0))?;
    }
    let tags = gateway
        .ledger
        .retag_member(&member, &request.add, &request.remove)
        .await?
        .ok_or(ApiError::NotFound(ErrorCode::UnknownMember))?;
    Ok(HttpResponse::Ok().json(Retagged {
        member: &member,
        tags,
    }))
}

/// Body of `POST /v1/admin/members/{member}/block`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlockRequest {
    /// Why, for the audit trail: 1 to 200 characters, none a control character.
    #[schema(
        pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]{0,199}$"
    )]
    reason: String,
}

/// Blocks a member, registered or not: their scans answer `blocked` before any draw.
#[utoipa::path(post, path = "/v1/admin/members/{member}/block", tag = "admin", security(("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$")),
    request_body(content = BlockRequest, content_type = "application/json"),
    responses((status = 200, description = "blocked (`changed` false: it already was)", body = Blocked),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn block(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    request: web::Json<BlockRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    check_member(&member)?;
    let reason = request.reason.as_str();
    let starts_blank = reason.chars().next().is_none_or(char::is_whitespace);
    if starts_blank || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "reason must be 1 to 200 characters, not starting with a space, none a control character"
                .into(),
        ));
    }
    let changed = gateway.ledger.block_member(&member, reason).await?;
    Ok(HttpResponse::Ok().json(Blocked {
        member: &member,
        blocked: true,
        changed,
    }))
}

/// Lifts a block.
#[utoipa::path(post, path = "/v1/admin/members/{member}/unblock", tag = "admin", security(("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$")),
    responses((status = 200, description = "not blocked (`changed` false: it was not)", body = Blocked),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn unblock(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    check_member(&member)?;
    let changed = gateway.ledger.unblock_member(&member).await?;
    Ok(HttpResponse::Ok().json(Blocked {
        member: &member,
        blocked: false,
        changed,
    }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("wang"), "wang");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(csv_field("@x"), "\"'@x\"");
    }
}
