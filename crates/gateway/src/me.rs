//! `GET /v1/me`: the member a token names, their registration, and their standing in
//! every campaign the gateway serves.

use actix_web::{HttpResponse, web};

use crate::Gateway;
use crate::caller::Member;
use crate::error::ApiError;
use crate::reads::member_view;
use crate::registry::registration;
use crate::wire::{ErrorBody, Me, MemberCampaign};

/// The member's points, growth and level per campaign; a campaign the member has not
/// scanned in yet shows its first level and zeros (what the member centre shows).
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("member_token" = [])),
    responses((status = 200, description = "the member, per campaign", body = Me),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn me(member: Member, gateway: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let member = member.0;
    let mut campaigns = gateway.catalog.campaigns();
    campaigns.sort_by(|a, b| a.campaign.file.id.cmp(&b.campaign.file.id));
    let mut states = Vec::with_capacity(campaigns.len());
    for loaded in &campaigns {
        let tag = loaded.campaign.member_tag(&member);
        states.push(
            gateway
                .store
                .member(&tag, &member)
                .await?
                .unwrap_or_default(),
        );
    }
    let campaigns = campaigns
        .iter()
        .zip(&states)
        .map(|(loaded, state)| MemberCampaign {
            campaign: &loaded.campaign.file.id,
            name: &loaded.campaign.file.name,
            standing: member_view(&gateway, loaded, &member, state),
        })
        .collect();
    let profile = gateway.ledger.profile(&member).await?;
    Ok(HttpResponse::Ok().json(Me {
        member: &member,
        registration: profile.as_ref().map(|p| registration(&gateway, p)),
        campaigns,
    }))
}
