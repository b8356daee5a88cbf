//! The pages a tradesman, dealer or shopper sees on a cheap phone in WeChat's browser:
//! what a printed code's URL opens, and the login in front of it.
//!
//! Rendered on the server from plain values (maud escapes every value), one small
//! stylesheet inline and no script: a page is a few kilobytes, shows its answer
//! without JavaScript and needs nothing from a CDN. This crate does no IO; the gateway
//! runs the scan and hands the answer here.

mod centre;
mod strings;

use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use centre::{
    CentrePage, ClaimPage, ConfirmPage, Flash, HistoryKind, HistoryLine, HistoryPage, JoinPage,
    Joined, Offer, Parcel, PrizeLine, centre_page, claim_page, confirm_page, history_page,
    join_page, joined_page, payout, reason,
};
pub use strings::{EN, Lang, Message, Strings, ZH, fill};

/// What a prize is paid in, as the page words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrizeKind {
    /// A physical gift, worth `value` fen.
    Item,
    /// A red packet of `value` fen.
    Cash,
    /// `value` bonus points.
    Points,
}

/// A prize as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prize<'a> {
    /// Its display name, as the campaign file gives it.
    pub name: &'a str,
    /// Item, cash or points.
    pub kind: PrizeKind,
    /// Fen for items and cash, points for points.
    pub value: u64,
}

/// How a scan ended, for a member who is logged in and scanned a genuine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A prize was drawn.
    Won(Prize<'a>),
    /// The SKU's fixed rebate was paid (a dealer's scan).
    Rebate(Prize<'a>),
    /// Nothing drawn; points credited.
    NoPrize,
    /// Someone else redeemed the code.
    AlreadyRedeemed,
    /// The member's scans today are used up.
    DailyLimit,
    /// The campaign is not open.
    CampaignClosed,
    /// The code's batch was voided.
    BatchVoid,
    /// Scanned outside the batch's region.
    WrongRegion,
    /// The member is blocked.
    Blocked,
}

/// The member's standing after the scan, for the points and the level bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing<'a> {
    /// Points this scan credited.
    pub points_awarded: i64,
    /// The balance now.
    pub points: i64,
    /// Level, 1-based.
    pub level: usize,
    /// Its name in the campaign file.
    pub level_name: Option<&'a str>,
    /// Growth so far.
    pub growth: i64,
    /// Growth where this level starts.
    pub level_floor: u64,
    /// Growth where the next level starts; `None` at the top.
    pub next_level: Option<u64>,
}

/// One scan's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage<'a> {
    /// The campaign's name, as the page's header.
    pub campaign: &'a str,
    /// How it ended.
    pub outcome: Outcome<'a>,
    /// The member's points and level.
    pub standing: Standing<'a>,
    /// The scan id, for support.
    pub scan_id: &'a str,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// Why a page cannot show a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Forged, tampered or unknown code: the same page for each.
    InvalidCode,
    /// Too fast; wait this many seconds.
    RateLimited(u64),
    /// Redis or Postgres failed.
    Unavailable,
    /// The page's link names no campaign of the brand.
    UnknownCampaign,
    /// No login is configured.
    LoginUnavailable,
    /// The login's state did not match: expired, or not started here.
    LoginExpired,
}

/// The login page: the brand's login button, or the demo's member id form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPage<'a> {
    /// Where the brand's login starts, if the brand has one.
    pub brand_login: Option<&'a str>,
    /// The demo's form posts here with `member` and `state`, if the dev login is on.
    pub dev_login: Option<&'a str>,
    /// The login's state, echoed by the form.
    pub state: &'a str,
    /// The member id the form was sent with, and why it was refused.
    pub refused: Option<&'a str>,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The stylesheet: phone first (360–414 px), system fonts, WCAG AA contrast (body text
/// 16:1, the red on white 5.9:1), 48 px tap targets; the reveal honours reduced motion.
const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1a1a1a;background:#f4f1ec}
header{display:flex;justify-content:space-between;align-items:center;padding:12px 16px;background:#b3122a;color:#fff}
header h1{margin:0;font-size:17px;font-weight:600}
header a{color:#fff;min-height:48px;min-width:48px;display:inline-flex;align-items:center;justify-content:center;text-decoration:underline}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:12px;padding:20px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card h2{margin:0 0 8px;font-size:22px}
.card p{margin:0 0 8px}
.prize{text-align:center}
.prize .name{font-size:24px;font-weight:700;color:#b3122a;margin:8px 0}
.gift{width:96px;height:96px;margin:8px auto;border-radius:16px;background:#b3122a;position:relative;animation:open .9s ease-out both}
.gift:after{content:"";position:absolute;left:42px;top:0;width:12px;height:96px;background:#f2c14e}
.reveal{animation:show .6s .8s ease-out both}
@keyframes open{0%{transform:scale(.4) rotate(-12deg)}60%{transform:scale(1.15) rotate(6deg)}100%{transform:scale(1) rotate(0)}}
@keyframes show{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}
@media (prefers-reduced-motion:reduce){.gift,.reveal{animation:none}}
.figures{display:flex;gap:12px}
.figures div{flex:1;background:#f4f1ec;border-radius:8px;padding:8px;text-align:center}
.figures b{display:block;font-size:22px}
.bar{height:12px;background:#e3ddd3;border-radius:6px;overflow:hidden;margin:8px 0}
.bar span{display:block;height:100%;background:#b3122a}
.muted{color:#595959;font-size:14px}
label{display:block;font-weight:600;margin:8px 0 4px}
input{width:100%;min-height:48px;font-size:16px;padding:8px 12px;border:2px solid #767676;border-radius:8px}
button,.button{display:block;width:100%;min-height:48px;margin-top:12px;font-size:17px;font-weight:600;border:0;border-radius:8px;background:#b3122a;color:#fff;text-align:center;line-height:48px;text-decoration:none}
.button.secondary{background:#fff;color:#b3122a;border:2px solid #b3122a;line-height:44px}
ul.offers,ul.history{list-style:none;margin:0;padding:0}
ul.offers li,ul.history li{padding:10px 0;border-top:1px solid #e3ddd3}
.offer{display:flex;align-items:center;justify-content:space-between;gap:12px}
.offer .what{flex:1}
.offer .what span{display:block}
.offer .name{font-weight:600}
.offer .button{width:auto;padding:0 24px;margin:0}
.error{color:#a40e22;font-weight:600}
footer{text-align:center;padding:16px;color:#595959;font-size:13px}
"#;

/// The frame every page shares: `lang`, viewport, the header with the language switch.
pub(crate) fn layout(
    lang: Lang,
    title: &str,
    header: &str,
    path: &str,
    content: &Markup,
) -> String {
    let words = lang.strings();
    let other = lang.other();
    let switch = switch_url(path, other);
    html! {
        (DOCTYPE)
        html lang=(words.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                // No favicon request: nothing on a page fetches anything. The referrer
                // stays on this site (a scan URL is not sent elsewhere), and so forms
                // carry their origin.
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (header) }
                    a href=(switch) hreflang=(other.strings().html_lang) lang=(other.strings().html_lang)
                        aria-label=(words.switch_label) { (other.strings().name) }
                }
                main { (content) }
                footer { (words.footer) }
            }
        }
    }
    .into_string()
}

/// `path` with `lang` set to `lang` and any other query dropped.
fn switch_url(path: &str, lang: Lang) -> String {
    let bare = path.split_once('?').map_or(path, |(bare, _)| bare);
    format!("{bare}?lang={}", lang.code())
}

/// Fen as yuan with two decimals: 200 → `2.00`.
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn worth(words: &Strings, prize: &Prize<'_>) -> String {
    match prize.kind {
        PrizeKind::Points => fill(words.points_prize, prize.value),
        PrizeKind::Item | PrizeKind::Cash => fill(words.worth, yuan(prize.value)),
    }
}

/// The page of a scan that reached the campaign.
pub fn scan_page(lang: Lang, page: &ScanPage<'_>) -> String {
    let words = lang.strings();
    let message = |message: &'static Message| (message, None::<&Prize<'_>>);
    let (message, prize) = match &page.outcome {
        Outcome::Won(prize) => (&words.won, Some(prize)),
        Outcome::Rebate(prize) => (&words.rebate, Some(prize)),
        Outcome::NoPrize => message(&words.no_prize),
        Outcome::AlreadyRedeemed => message(&words.already_redeemed),
        Outcome::DailyLimit => message(&words.daily_limit),
        Outcome::CampaignClosed => message(&words.campaign_closed),
        Outcome::BatchVoid => message(&words.batch_void),
        Outcome::WrongRegion => message(&words.wrong_region),
        Outcome::Blocked => message(&words.blocked),
    };
    let next = match (&page.outcome, prize.map(|p| p.kind)) {
        (Outcome::Won(_), Some(PrizeKind::Cash)) => Some(words.next_cash),
        (Outcome::Won(_), Some(PrizeKind::Item)) => Some(words.next_item),
        (_, Some(PrizeKind::Points)) => Some(words.next_points),
        (Outcome::Rebate(_), Some(_)) => Some(words.next_rebate_cash),
        _ => None,
    };
    let outcome_name = outcome_name(&page.outcome);
    let standing = &page.standing;
    let content = html! {
        section.card.prize data-outcome=(outcome_name) aria-live="polite" {
            @if let Some(prize) = prize {
                div.gift role="img" aria-label=(words.drawing) {}
                div.reveal {
                    h2 { (message.title) }
                    p.name { (prize.name) }
                    p { (worth(words, prize)) }
                    @if let Some(next) = next { p { (next) } }
                }
            } @else {
                h2 { (message.title) }
                p { (message.body) }
            }
        }
        section.card {
            div.figures {
                div { span.muted { (words.points_awarded) } b { "+" (standing.points_awarded) } }
                div { span.muted { (words.points_balance) } b { (standing.points) } }
            }
            (level_bar(words, standing))
        }
        a.button href="/me" { (words.centre_link) }
        p.muted { (words.reload_note) }
        p.muted { (words.scan_id) ": " code { (page.scan_id) } }
    };
    layout(lang, words.scan_title, page.campaign, page.path, &content)
}

/// The level, its name and how far to the next.
pub(crate) fn level_bar(words: &Strings, standing: &Standing<'_>) -> Markup {
    let growth = u64::try_from(standing.growth).unwrap_or(0);
    let (percent, note) = match standing.next_level {
        Some(next) if next > standing.level_floor => {
            let span = next - standing.level_floor;
            let done = growth.saturating_sub(standing.level_floor).min(span);
            (
                done * 100 / span,
                fill(words.to_next_level, next.saturating_sub(growth)),
            )
        }
        _ => (100, words.top_level.to_string()),
    };
    html! {
        p {
            b { (fill(words.level, standing.level)) }
            @if let Some(name) = standing.level_name { " · " (name) }
        }
        div.bar role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(percent) aria-label=(note) {
            span style={ "width:" (percent) "%" } {}
        }
        p.muted { (note) }
    }
}

/// A page that shows no scan: the code is not genuine, or the scan could not run.
pub fn notice_page(lang: Lang, notice: Notice, path: &str) -> String {
    let words = lang.strings();
    let (message, wait) = match notice {
        Notice::InvalidCode => (&words.invalid_code, None),
        Notice::RateLimited(seconds) => (&words.rate_limited, Some(seconds)),
        Notice::Unavailable => (&words.unavailable, None),
        Notice::UnknownCampaign => (&words.unknown_campaign, None),
        Notice::LoginUnavailable => (&words.login_unavailable, None),
        Notice::LoginExpired => (&words.login_expired, None),
    };
    let body = match wait {
        Some(seconds) => fill(message.body, seconds),
        None => message.body.to_string(),
    };
    let name = match notice {
        Notice::InvalidCode => "invalid_code",
        Notice::RateLimited(_) => "rate_limited",
        Notice::Unavailable => "unavailable",
        Notice::UnknownCampaign => "unknown_campaign",
        Notice::LoginUnavailable => "login_unavailable",
        Notice::LoginExpired => "login_expired",
    };
    let content = html! {
        section.card data-outcome=(name) role="alert" {
            h2 { (message.title) }
            p { (body) }
        }
    };
    layout(lang, message.title, words.scan_title, path, &content)
}

/// The login in front of a scan.
pub fn login_page(lang: Lang, page: &LoginPage<'_>) -> String {
    let words = lang.strings();
    let content = html! {
        section.card data-outcome="login" {
            h2 { (words.login.title) }
            p { (words.login.body) }
            @if let Some(brand) = page.brand_login {
                a.button href=(brand) { (words.login_button) }
            }
            @if let Some(action) = page.dev_login {
                form method="post" action=(action) {
                    input type="hidden" name="state" value=(page.state);
                    label for="member" { (words.dev_member_label) }
                    input id="member" name="member" required autocomplete="username"
                        autocapitalize="none" spellcheck="false" maxlength="64"
                        value=(page.refused.unwrap_or_default())
                        aria-describedby="member-note";
                    @if page.refused.is_some() {
                        p.error id="member-note" role="alert" { (words.dev_bad_member) }
                    } @else {
                        p.muted id="member-note" { (words.dev_note) }
                    }
                    button type="submit" { (words.login_button) }
                }
            }
        }
    };
    layout(
        lang,
        words.login.title,
        words.scan_title,
        page.path,
        &content,
    )
}

/// The outcome's name on the page (`data-outcome`), as the API names its status.
fn outcome_name(outcome: &Outcome<'_>) -> &'static str {
    match outcome {
        Outcome::Won(_) => "won",
        Outcome::Rebate(_) => "rebate",
        Outcome::NoPrize => "no_prize",
        Outcome::AlreadyRedeemed => "already_redeemed",
        Outcome::DailyLimit => "daily_limit",
        Outcome::CampaignClosed => "campaign_closed",
        Outcome::BatchVoid => "batch_void",
        Outcome::WrongRegion => "wrong_region",
        Outcome::Blocked => "blocked",
    }
}

#[cfg(test)]
mod tests;
