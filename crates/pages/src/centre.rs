//! The member centre (`/me`): points, level, this month's rank, the daily sign-in, the
//! points mall and the history, as a member reads them on a phone.

use maud::{Markup, html};

use crate::{Lang, Standing, Strings, fill, layout, level_bar};

/// What the last action did, shown once at the top (the action redirected here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    /// Signed in now, for this many points.
    SignedIn(i64),
    /// Signed in earlier today.
    AlreadySignedIn,
    /// The campaign is not open.
    SignInClosed,
    /// A gift bought for this many points.
    Redeemed(i64),
    /// Not enough points.
    InsufficientPoints,
    /// Below the gift's level.
    LevelTooLow,
    /// Sold out.
    OutOfStock,
    /// A prize claimed now.
    Claimed,
    /// Claimed before.
    AlreadyClaimed,
    /// Too late to claim.
    ClaimExpired,
}

impl Flash {
    /// The flash a `?done=` names.
    pub fn from_query(done: &str, points: Option<i64>) -> Option<Self> {
        Some(match done {
            "signed_in" => Self::SignedIn(points.unwrap_or(0)),
            "already_signed_in" => Self::AlreadySignedIn,
            "campaign_closed" => Self::SignInClosed,
            "redeemed" => Self::Redeemed(points.unwrap_or(0)),
            "insufficient_points" => Self::InsufficientPoints,
            "level_too_low" => Self::LevelTooLow,
            "out_of_stock" => Self::OutOfStock,
            "claimed" => Self::Claimed,
            "already_claimed" => Self::AlreadyClaimed,
            "claim_expired" => Self::ClaimExpired,
            _ => return None,
        })
    }

    fn words(self, words: &Strings) -> (String, bool) {
        match self {
            Self::SignedIn(points) => (fill(words.signed_in, points), true),
            Self::AlreadySignedIn => (words.already_signed_in.into(), true),
            Self::SignInClosed => (words.sign_in_closed.into(), false),
            Self::Redeemed(points) => (fill(words.redeemed, points), true),
            Self::InsufficientPoints => (words.insufficient_points.into(), false),
            Self::LevelTooLow => (words.level_too_low.into(), false),
            Self::OutOfStock => (words.out_of_stock.into(), false),
            Self::Claimed => (words.claim_done.into(), true),
            Self::AlreadyClaimed => (words.claim_again.into(), true),
            Self::ClaimExpired => (words.claim_expired.into(), false),
        }
    }
}

/// A gift as this member sees it: at their level's price, or locked below its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer<'a> {
    /// Its id, in the confirm link.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The price at the member's level; `None` while their level is too low.
    pub price: Option<u64>,
    /// The lowest level that may buy it.
    pub min_level: usize,
    /// Whether the member has the points.
    pub affordable: bool,
}

/// Where a physical prize is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parcel<'a> {
    /// Not claimed; the claim form's link.
    Unclaimed(String),
    /// Claimed, waiting to ship.
    Claimed,
    /// On its way.
    Shipped {
        /// The carrier.
        carrier: &'a str,
        /// The tracking number.
        tracking: &'a str,
    },
    /// Delivered.
    Delivered,
    /// The claim window passed.
    Expired,
}

/// A physical prize of the member's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrizeLine<'a> {
    /// Its name.
    pub name: &'a str,
    /// Where it is.
    pub parcel: Parcel<'a>,
}

/// The member centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentrePage<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// Who: the nickname if registered, else the member id.
    pub member: &'a str,
    /// The architecture's display name, if registered.
    pub architecture: Option<&'a str>,
    /// Points and level (`points_awarded` is not shown).
    pub standing: Standing<'a>,
    /// This month's rank, if on the board.
    pub rank: Option<u64>,
    /// Points the daily sign-in pays, if the campaign has one.
    pub sign_in: Option<u32>,
    /// What the last action did.
    pub flash: Option<Flash>,
    /// The mall.
    pub offers: Vec<Offer<'a>>,
    /// Physical prizes won or bought, newest first.
    pub prizes: Vec<PrizeLine<'a>>,
    /// This page's path (with its query), for the language switch and the forms.
    pub path: &'a str,
}

/// The member centre's page.
pub fn centre_page(lang: Lang, page: &CentrePage<'_>) -> String {
    let words = lang.strings();
    let content = html! {
        @if let Some(flash) = page.flash {
            @let (text, good) = flash.words(words);
            section.card.flash data-flash=(if good { "ok" } else { "refused" }) role="status" {
                p.(if good { "" } else { "error" }) { (text) }
            }
        }
        section.card data-outcome="centre" {
            h2 { (page.member) }
            @if let Some(architecture) = page.architecture { p.muted { (architecture) } }
            div.figures {
                div { span.muted { (words.points_balance) } b data-points { (page.standing.points) } }
                div {
                    span.muted { (words.rank_label) }
                    b data-rank { @if let Some(rank) = page.rank { (rank) } @else { "–" } }
                }
            }
            @if page.rank.is_none() { p.muted { (words.unranked) } }
            (level_bar(words, &page.standing))
        }
        @if !page.prizes.is_empty() {
            section.card {
                h2 { (words.my_prizes) }
                ul.offers {
                    @for prize in &page.prizes { li { (prize_line(words, prize)) } }
                }
            }
        }
        @if let Some(points) = page.sign_in {
            section.card {
                h2 { (words.sign_in_title) }
                form method="post" action="/me/sign-in" {
                    button type="submit" { (fill(words.sign_in_button, points)) }
                }
            }
        }
        @if !page.offers.is_empty() {
            section.card {
                h2 { (words.mall_title) }
                ul.offers {
                    @for offer in &page.offers { li { (offer_line(words, offer)) } }
                }
            }
        }
        nav.card aria-label=(words.centre_title) {
            a.button href="/me/history?kind=scans" { (words.history_scans) }
            a.button href="/me/history?kind=awards" { (words.history_awards) }
            a.button href="/me/history?kind=ledger" { (words.history_ledger) }
        }
    };
    layout(lang, words.centre_title, page.campaign, page.path, &content)
}

fn prize_line(words: &Strings, prize: &PrizeLine<'_>) -> Markup {
    html! {
        div.offer data-parcel=(match prize.parcel {
            Parcel::Unclaimed(_) => "unclaimed",
            Parcel::Claimed => "claimed",
            Parcel::Shipped { .. } => "shipped",
            Parcel::Delivered => "delivered",
            Parcel::Expired => "expired",
        }) {
            div.what {
                span.name { (prize.name) }
                @match &prize.parcel {
                    Parcel::Unclaimed(_) => span.muted { (words.unclaimed) },
                    Parcel::Claimed => span.muted { (words.claimed) },
                    Parcel::Shipped { carrier, tracking } => {
                        span.muted { (words.shipped) " · " (carrier) }
                        span { (words.tracking) " " b data-tracking { (tracking) } }
                    }
                    Parcel::Delivered => span.muted { (words.delivered) },
                    Parcel::Expired => span.muted { (words.expired) },
                }
            }
            @if let Parcel::Unclaimed(link) = &prize.parcel {
                a.button href=(link) { (words.claim_button) }
            }
        }
    }
}

/// The claim form: where the prize goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPage<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// The prize.
    pub name: &'a str,
    /// Which prize (`award:…` or `order:…`), posted back.
    pub source: &'a str,
    /// What the form was sent with, if it was refused.
    pub refused: Option<[&'a str; 4]>,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The claim form's page.
pub fn claim_page(lang: Lang, page: &ClaimPage<'_>) -> String {
    let words = lang.strings();
    let [name, phone, region, address] = page.refused.unwrap_or_default();
    let field = |id: &str, label: &str, value: &str, kind: &str, autocomplete: &str, most: u32| {
        html! {
            label for=(id) { (label) }
            input id=(id) name=(id) type=(kind) required value=(value) maxlength=(most)
                autocomplete=(autocomplete);
        }
    };
    let content = html! {
        section.card data-outcome="claim" {
            h2 { (words.claim_title) }
            p.name { (page.name) }
            @if page.refused.is_some() {
                p.error role="alert" { (words.claim_invalid) }
            } @else {
                p.muted { (words.claim_note) }
            }
            form method="post" action="/me/claim" {
                input type="hidden" name="source" value=(page.source);
                (field("name", words.field_name, name, "text", "name", 32))
                (field("phone", words.field_phone, phone, "tel", "tel", 20))
                (field("region", words.field_region, region, "text", "address-level1", 64))
                (field("address", words.field_address, address, "text", "street-address", 200))
                button type="submit" { (words.claim_submit) }
            }
            a.button.secondary href="/me" { (words.back) }
        }
    };
    layout(lang, words.claim_title, page.campaign, page.path, &content)
}

fn offer_line(words: &Strings, offer: &Offer<'_>) -> Markup {
    html! {
        div.offer {
            div.what {
                span.name { (offer.name) }
                @match offer.price {
                    Some(price) => {
                        span.muted { (fill(words.price, price)) }
                        @if !offer.affordable { span.muted { (words.insufficient_points) } }
                    }
                    None => span.muted { (fill(words.from_level, offer.min_level)) },
                }
            }
            @if let (Some(_), true) = (offer.price, offer.affordable) {
                a.button href={ "/me/mall/" (offer.id) } { (words.redeem_button) }
            }
        }
    }
}

/// The step before a purchase: what it costs and what is left after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmPage<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// The gift.
    pub name: &'a str,
    /// What it costs this member.
    pub price: u64,
    /// Their balance now.
    pub points: i64,
    /// Where the form posts.
    pub action: &'a str,
    /// The purchase's idempotency key: a second tap or a resent form buys once.
    pub request_id: &'a str,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The confirm page.
pub fn confirm_page(lang: Lang, page: &ConfirmPage<'_>) -> String {
    let words = lang.strings();
    let after = page
        .points
        .saturating_sub(i64::try_from(page.price).unwrap_or(i64::MAX));
    let content = html! {
        section.card data-outcome="confirm" {
            h2 { (words.confirm_title) }
            p.name { (page.name) }
            p { (fill(words.price, page.price)) }
            p.muted { (fill(words.balance_after, after)) }
            form method="post" action=(page.action) {
                input type="hidden" name="request_id" value=(page.request_id);
                button type="submit" { (words.confirm_button) }
            }
            a.button.secondary href="/me" { (words.back) }
        }
    };
    layout(
        lang,
        words.confirm_title,
        page.campaign,
        page.path,
        &content,
    )
}

/// Which history a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// Settled scans.
    Scans,
    /// Prizes won.
    Awards,
    /// The points ledger.
    Ledger,
}

impl HistoryKind {
    /// The kind `?kind=` names.
    pub fn from_query(kind: &str) -> Option<Self> {
        match kind {
            "scans" => Some(Self::Scans),
            "awards" => Some(Self::Awards),
            "ledger" => Some(Self::Ledger),
            _ => None,
        }
    }

    /// Its name in `?kind=`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Scans => "scans",
            Self::Awards => "awards",
            Self::Ledger => "ledger",
        }
    }

    fn title(self, words: &Strings) -> &'static str {
        match self {
            Self::Scans => words.history_scans,
            Self::Awards => words.history_awards,
            Self::Ledger => words.history_ledger,
        }
    }
}

/// One line of history, in the member's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    /// When, in the campaign's zone (`2026-06-01 12:00`).
    pub when: String,
    /// What: a prize's name, a reason.
    pub what: String,
    /// Points, signed, if any.
    pub points: Option<i64>,
}

/// The reason words of a ledger entry.
pub fn reason(words: &Strings, reason: &str) -> &'static str {
    match reason {
        "scan" => words.reason_scan,
        "sign_in" => words.reason_sign_in,
        "mall" => words.reason_purchase,
        _ => words.reason_other,
    }
}

/// A cash payout's state in words.
pub fn payout(words: &Strings, state: &str) -> &'static str {
    match state {
        "delivered" => words.payout_delivered,
        "failed" => words.payout_failed,
        _ => words.payout_pending,
    }
}

/// A page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// Which history.
    pub kind: HistoryKind,
    /// Newest first.
    pub lines: Vec<HistoryLine>,
    /// The next page's path, if there is one.
    pub more: Option<String>,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The history page.
pub fn history_page(lang: Lang, page: &HistoryPage<'_>) -> String {
    let words = lang.strings();
    let content = html! {
        section.card data-outcome="history" {
            h2 { (page.kind.title(words)) }
            @if page.lines.is_empty() {
                p.muted { (words.history_empty) }
            } @else {
                ul.history {
                    @for line in &page.lines {
                        li {
                            span.muted { (line.when) }
                            " " span { (line.what) }
                            @if let Some(points) = line.points {
                                " " b { @if points >= 0 { "+" } (points) }
                            }
                        }
                    }
                }
            }
            @if let Some(more) = &page.more { a.button href=(more) { (words.more) } }
            a.button.secondary href="/me" { (words.back) }
        }
    };
    layout(
        lang,
        page.kind.title(words),
        page.campaign,
        page.path,
        &content,
    )
}

/// The registration page of an architecture's invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinPage<'a> {
    /// The architecture's display name.
    pub architecture: &'a str,
    /// The invite, posted back.
    pub invite: &'a str,
    /// What the form was sent with (nickname, phone, region, birthday), if refused.
    pub refused: Option<[&'a str; 4]>,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The registration form.
pub fn join_page(lang: Lang, page: &JoinPage<'_>) -> String {
    let words = lang.strings();
    let [nickname, phone, region, birthday] = page.refused.unwrap_or_default();
    let content = html! {
        section.card data-outcome="join" {
            h2 { (words.join.title) }
            p { (fill(words.join.body, page.architecture)) }
            @if page.refused.is_some() { p.error role="alert" { (words.join_invalid) } }
            form method="post" action="/join" {
                input type="hidden" name="invite" value=(page.invite);
                label for="nickname" { (words.field_nickname) }
                input id="nickname" name="nickname" required maxlength="32" value=(nickname) autocomplete="nickname";
                label for="phone" { (words.field_phone) span.muted { (words.optional) } }
                input id="phone" name="phone" type="tel" maxlength="20" value=(phone) autocomplete="tel";
                label for="region" { (words.field_region_code) span.muted { (words.optional) } }
                input id="region" name="region" maxlength="32" value=(region) autocapitalize="characters";
                label for="birthday" { (words.field_birthday) span.muted { (words.optional) } }
                input id="birthday" name="birthday" type="date" value=(birthday) autocomplete="bday";
                button type="submit" { (words.join_submit) }
            }
        }
    };
    layout(
        lang,
        words.join.title,
        words.join.title,
        page.path,
        &content,
    )
}

/// The page after registering, or for an invite that cannot be used.
pub fn joined_page(lang: Lang, outcome: Joined<'_>, path: &str) -> String {
    let words = lang.strings();
    let (name, message, detail) = match outcome {
        Joined::Registered(architecture) => ("joined", &words.joined, Some(architecture)),
        Joined::InviteInvalid => ("invite_invalid", &words.invite_invalid, None),
        Joined::InviteExpired => ("invite_expired", &words.invite_expired, None),
        Joined::Elsewhere => ("registered_elsewhere", &words.registered_elsewhere, None),
    };
    let content = html! {
        section.card data-outcome=(name) {
            h2 { (message.title) }
            p { @match detail { Some(architecture) => (fill(message.body, architecture)), None => (message.body) } }
            a.button href="/me" { (words.centre_link) }
        }
    };
    layout(lang, message.title, words.join.title, path, &content)
}

/// How a registration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined<'a> {
    /// Registered (now or before) in this architecture.
    Registered(&'a str),
    /// Forged, tampered, or for no architecture of the brand.
    InviteInvalid,
    /// Past its expiry.
    InviteExpired,
    /// Registered in another architecture.
    Elsewhere,
}
