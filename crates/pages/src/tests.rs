use super::*;

const CUP: Prize<'static> = Prize {
    name: "保温杯",
    kind: PrizeKind::Item,
    value: 5900,
};

fn standing() -> Standing<'static> {
    Standing {
        points_awarded: 10,
        points: 130,
        level: 2,
        level_name: Some("journeyman"),
        growth: 250,
        level_floor: 100,
        next_level: Some(500),
    }
}

fn page(outcome: Outcome<'static>) -> ScanPage<'static> {
    ScanPage {
        campaign: "腻子扫码赢好礼",
        outcome,
        standing: standing(),
        scan_id: "16LJLAnrDjqSnTO5xBOuqE",
        path: "/s/7ZnQs1cOe26ZoqbSXBTwL",
    }
}

/// Picks one message out of a language's words.
type Pick = fn(&Strings) -> &Message;

/// Every outcome with the message each language must show for it.
fn outcomes() -> Vec<(Outcome<'static>, Pick)> {
    vec![
        (Outcome::Won(CUP), |w| &w.won),
        (
            Outcome::Rebate(Prize {
                name: "2 CNY stocking rebate",
                kind: PrizeKind::Cash,
                value: 200,
            }),
            |w| &w.rebate,
        ),
        (Outcome::NoPrize, |w| &w.no_prize),
        (Outcome::AlreadyRedeemed, |w| &w.already_redeemed),
        (Outcome::DailyLimit, |w| &w.daily_limit),
        (Outcome::CampaignClosed, |w| &w.campaign_closed),
        (Outcome::BatchVoid, |w| &w.batch_void),
        (Outcome::WrongRegion, |w| &w.wrong_region),
        (Outcome::Blocked, |w| &w.blocked),
    ]
}

#[test]
fn every_outcome_speaks_each_language_with_its_lang_attribute() {
    for lang in [Lang::Zh, Lang::En] {
        let words = lang.strings();
        for (outcome, message) in outcomes() {
            let name = outcome_name(&outcome);
            let html = scan_page(lang, &page(outcome));
            assert!(html.starts_with("<!DOCTYPE html><html lang=\""), "{html}");
            assert!(html.contains(&format!("lang=\"{}\"", words.html_lang)));
            assert!(html.contains(message(words).title), "{lang:?} {name}");
            assert!(html.contains(&format!("data-outcome=\"{name}\"")));
            assert!(html.contains(&fill(words.level, 2)), "{lang:?} {name}");
            // The other language offers itself, in its own words.
            let other = lang.other();
            assert!(html.contains(&format!(
                "href=\"/s/7ZnQs1cOe26ZoqbSXBTwL?lang={}\"",
                other.code()
            )));
            assert!(html.contains(other.strings().name));
            assert!(html.len() < 100 * 1024, "{} bytes", html.len());
        }
    }
}

#[test]
fn a_prize_shows_its_worth_and_what_happens_next() {
    let html = scan_page(Lang::Zh, &page(Outcome::Won(CUP)));
    assert!(html.contains("保温杯") && html.contains("价值 ¥59.00"));
    assert!(html.contains(ZH.next_item));
    let cash = Prize {
        name: "红包",
        kind: PrizeKind::Cash,
        value: 888,
    };
    let html = scan_page(Lang::En, &page(Outcome::Won(cash)));
    assert!(html.contains("Worth ¥8.88") && html.contains(EN.next_cash));
    let points = Prize {
        name: "Bonus",
        kind: PrizeKind::Points,
        value: 50,
    };
    let html = scan_page(Lang::En, &page(Outcome::Won(points)));
    assert!(html.contains("50 points") && html.contains(EN.next_points));
    let rebate = Prize {
        name: "Rebate",
        kind: PrizeKind::Cash,
        value: 200,
    };
    let html = scan_page(Lang::En, &page(Outcome::Rebate(rebate)));
    assert!(html.contains(EN.next_rebate_cash) && !html.contains(EN.next_cash));
    let html = scan_page(Lang::En, &page(Outcome::NoPrize));
    assert!(
        !html.contains("class=\"gift\""),
        "no reveal without a prize"
    );
}

#[test]
fn every_value_is_escaped() {
    let sneaky = Prize {
        name: "<script>alert(1)</script>",
        kind: PrizeKind::Item,
        value: 1,
    };
    let mut scan = page(Outcome::Won(sneaky));
    scan.campaign = "\"><img src=x onerror=alert(1)>";
    scan.path = "/s/x\"><script>";
    let html = scan_page(Lang::En, &scan);
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("/s/x\"><script>"));
}

#[test]
fn the_level_bar_measures_this_levels_span() {
    let html = scan_page(Lang::En, &page(Outcome::NoPrize));
    // 250 growth between 100 and 500: 37 % of the way, 250 to go.
    assert!(html.contains("aria-valuenow=\"37\""), "{html}");
    assert!(html.contains("width:37%"));
    assert!(html.contains("250 growth to the next level"));
    let mut top = page(Outcome::NoPrize);
    top.standing.next_level = None;
    let html = scan_page(Lang::Zh, &top);
    assert!(html.contains("aria-valuenow=\"100\"") && html.contains(ZH.top_level));
    let mut past = page(Outcome::NoPrize);
    past.standing.growth = 9_999;
    assert!(scan_page(Lang::En, &past).contains("aria-valuenow=\"100\""));
}

#[test]
fn notices_speak_each_language_and_say_how_long_to_wait() {
    for lang in [Lang::Zh, Lang::En] {
        let words = lang.strings();
        for (notice, message) in [
            (Notice::InvalidCode, &words.invalid_code),
            (Notice::RateLimited(7), &words.rate_limited),
            (Notice::Unavailable, &words.unavailable),
            (Notice::LoginUnavailable, &words.login_unavailable),
            (Notice::LoginExpired, &words.login_expired),
        ] {
            let html = notice_page(lang, notice, "/s/abc");
            assert!(html.contains(message.title), "{lang:?} {notice:?}");
            assert!(html.contains(&format!("lang=\"{}\"", words.html_lang)));
        }
        assert!(notice_page(lang, Notice::RateLimited(7), "/s/abc").contains('7'));
    }
}

#[test]
fn the_login_offers_what_is_configured_with_a_label_on_its_field() {
    let both = LoginPage {
        brand_login: Some("https://login.example.com/?state=s"),
        dev_login: Some("/login/dev"),
        state: "s1",
        refused: None,
        path: "/login",
    };
    let html = login_page(Lang::Zh, &both);
    assert!(html.contains("href=\"https://login.example.com/?state=s\""));
    assert!(html.contains("action=\"/login/dev\""));
    assert!(html.contains("name=\"state\" value=\"s1\""));
    assert!(html.contains("<label for=\"member\">") && html.contains("id=\"member\""));
    let brand_only = LoginPage {
        dev_login: None,
        ..both.clone()
    };
    assert!(!login_page(Lang::En, &brand_only).contains("<form"));
    let refused = LoginPage {
        refused: Some("bad id!"),
        ..both
    };
    let html = login_page(Lang::En, &refused);
    assert!(html.contains(EN.dev_bad_member) && html.contains("value=\"bad id!\""));
}

#[test]
fn languages_are_named_by_their_codes() {
    assert_eq!(Lang::from_code("en"), Some(Lang::En));
    assert_eq!(Lang::from_code("zh"), Some(Lang::Zh));
    assert_eq!(Lang::from_code("zh-CN"), Some(Lang::Zh));
    assert_eq!(Lang::from_code("fr"), None);
    assert_eq!(Lang::default(), Lang::Zh);
    for lang in [Lang::Zh, Lang::En] {
        assert_eq!(Lang::from_code(lang.code()), Some(lang));
        assert_eq!(lang.other().other(), lang);
    }
    assert_eq!(yuan(0), "0.00");
    assert_eq!(yuan(5), "0.05");
    assert_eq!(yuan(299_900), "2999.00");
}
