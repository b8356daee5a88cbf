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
            (Notice::UnknownCampaign, &words.unknown_campaign),
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

fn centre(flash: Option<Flash>) -> CentrePage<'static> {
    CentrePage {
        campaign: "腻子扫码赢好礼",
        member: "王师傅",
        architecture: Some("小工"),
        standing: standing(),
        rank: Some(3),
        sign_in: Some(5),
        flash,
        offers: vec![
            Offer {
                id: "towel",
                name: "毛巾",
                price: Some(90),
                min_level: 1,
                affordable: true,
            },
            Offer {
                id: "kettle",
                name: "电水壶",
                price: Some(900),
                min_level: 1,
                affordable: false,
            },
            Offer {
                id: "drill",
                name: "电钻",
                price: None,
                min_level: 4,
                affordable: false,
            },
        ],
        prizes: vec![
            PrizeLine {
                name: "保温杯",
                parcel: Parcel::Unclaimed("/me/claim?source=award%3As1".into()),
            },
            PrizeLine {
                name: "电钻",
                parcel: Parcel::Shipped {
                    carrier: "顺丰",
                    tracking: "SF1234567890",
                },
            },
            PrizeLine {
                name: "毛巾",
                parcel: Parcel::Expired,
            },
        ],
        path: "/me",
    }
}

#[test]
fn the_centre_lists_each_physical_prize_where_it_is() {
    for lang in [Lang::Zh, Lang::En] {
        let words = lang.strings();
        let html = centre_page(lang, &centre(None));
        assert!(html.contains(words.my_prizes));
        assert!(
            html.contains("href=\"/me/claim?source=award%3As1\"")
                && html.contains(words.claim_button)
        );
        assert!(html.contains("data-tracking>SF1234567890<") && html.contains("顺丰"));
        assert!(html.contains(words.expired));
    }
    let claim = ClaimPage {
        campaign: "c",
        name: "保温杯",
        source: "award:s1",
        refused: None,
        path: "/me/claim",
    };
    let html = claim_page(Lang::Zh, &claim);
    for id in ["name", "phone", "region", "address"] {
        assert!(
            html.contains(&format!("<label for=\"{id}\">")),
            "{id} has a label"
        );
        assert!(html.contains(&format!("id=\"{id}\"")));
    }
    assert!(html.contains("name=\"source\" value=\"award:s1\""));
    let refused = ClaimPage {
        refused: Some(["王", "123", "上海", "路"]),
        ..claim
    };
    let html = claim_page(Lang::En, &refused);
    assert!(html.contains(EN.claim_invalid) && html.contains("value=\"123\""));
}

#[test]
fn the_centre_shows_standing_rank_sign_in_and_each_offer_as_the_member_may_buy_it() {
    for lang in [Lang::Zh, Lang::En] {
        let words = lang.strings();
        let html = centre_page(lang, &centre(None));
        assert!(html.contains(&format!("lang=\"{}\"", words.html_lang)));
        assert!(
            html.contains(words.centre_title) && html.contains("王师傅") && html.contains("小工")
        );
        assert!(html.contains("data-rank>3<") && html.contains("data-points>130<"));
        assert!(html.contains(&fill(words.sign_in_button, 5)));
        assert!(
            html.contains("href=\"/me/mall/towel\""),
            "affordable: a link"
        );
        assert!(
            !html.contains("href=\"/me/mall/kettle\""),
            "too dear: no link"
        );
        assert!(html.contains(words.insufficient_points));
        assert!(
            !html.contains("href=\"/me/mall/drill\"") && html.contains(&fill(words.from_level, 4))
        );
        for kind in ["scans", "awards", "ledger"] {
            assert!(html.contains(&format!("href=\"/me/history?kind={kind}\"")));
        }
    }
    let mut unranked = centre(None);
    unranked.rank = None;
    unranked.sign_in = None;
    let html = centre_page(Lang::En, &unranked);
    assert!(html.contains(EN.unranked) && !html.contains("/me/sign-in"));
}

#[test]
fn each_flash_says_what_the_last_action_did() {
    for (done, points, expected) in [
        ("signed_in", Some(5), fill(ZH.signed_in, 5)),
        ("already_signed_in", None, ZH.already_signed_in.to_string()),
        ("campaign_closed", None, ZH.sign_in_closed.to_string()),
        ("redeemed", Some(90), fill(ZH.redeemed, 90)),
        (
            "insufficient_points",
            None,
            ZH.insufficient_points.to_string(),
        ),
        ("level_too_low", None, ZH.level_too_low.to_string()),
        ("out_of_stock", None, ZH.out_of_stock.to_string()),
        ("claimed", None, ZH.claim_done.to_string()),
        ("already_claimed", None, ZH.claim_again.to_string()),
        ("claim_expired", None, ZH.claim_expired.to_string()),
    ] {
        let flash = Flash::from_query(done, points).expect(done);
        let html = centre_page(Lang::Zh, &centre(Some(flash)));
        assert!(html.contains(&expected), "{done}");
    }
    assert_eq!(Flash::from_query("<script>", None), None);
}

#[test]
fn the_confirm_and_history_pages_say_what_they_do() {
    let html = confirm_page(
        Lang::Zh,
        &ConfirmPage {
            campaign: "c",
            name: "毛巾",
            price: 90,
            points: 130,
            action: "/me/mall/towel",
            request_id: "r1",
            path: "/me/mall/towel",
        },
    );
    assert!(html.contains(&fill(ZH.balance_after, 40)));
    assert!(html.contains("action=\"/me/mall/towel\"") && html.contains("value=\"r1\""));
    let page = HistoryPage {
        campaign: "c",
        kind: HistoryKind::Ledger,
        lines: vec![HistoryLine {
            when: "2026-06-01 12:00".into(),
            what: reason(&EN, "mall").into(),
            points: Some(-90),
        }],
        more: Some("/me/history?kind=ledger&cursor=1.x".into()),
        path: "/me/history?kind=ledger",
    };
    let html = history_page(Lang::En, &page);
    assert!(html.contains(EN.history_ledger) && html.contains("gift") && html.contains("-90"));
    assert!(html.contains("href=\"/me/history?kind=ledger&amp;cursor=1.x\""));
    let empty = HistoryPage {
        lines: Vec::new(),
        more: None,
        ..page
    };
    assert!(history_page(Lang::Zh, &empty).contains(ZH.history_empty));
    for kind in [HistoryKind::Scans, HistoryKind::Awards, HistoryKind::Ledger] {
        assert_eq!(HistoryKind::from_query(kind.code()), Some(kind));
    }
    assert_eq!(payout(&ZH, "delivered"), ZH.payout_delivered);
    assert_eq!(payout(&ZH, "pending"), ZH.payout_pending);
}

#[test]
fn the_registration_pages_speak_each_language() {
    for lang in [Lang::Zh, Lang::En] {
        let words = lang.strings();
        let page = JoinPage {
            architecture: "经销商",
            invite: "eyJ.x.y",
            refused: None,
            path: "/join",
        };
        let html = join_page(lang, &page);
        assert!(
            html.contains(&fill(words.join.body, "经销商")) && html.contains("value=\"eyJ.x.y\"")
        );
        for id in ["nickname", "phone", "region", "birthday"] {
            assert!(html.contains(&format!("<label for=\"{id}\">")), "{id}");
        }
        let refused = JoinPage {
            refused: Some(["", "12", "x", ""]),
            ..page
        };
        assert!(join_page(lang, &refused).contains(words.join_invalid));
        for (outcome, title) in [
            (Joined::Registered("经销商"), words.joined.title),
            (Joined::InviteInvalid, words.invite_invalid.title),
            (Joined::InviteExpired, words.invite_expired.title),
            (Joined::Elsewhere, words.registered_elsewhere.title),
        ] {
            assert!(
                joined_page(lang, outcome, "/join").contains(title),
                "{outcome:?}"
            );
        }
    }
}
