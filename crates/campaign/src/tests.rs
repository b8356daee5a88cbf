use super::*;
use jiff::Timestamp;

const DEMO: &str = include_str!("../../../config/demo-campaign.toml");

fn problems(text: &str) -> Vec<String> {
    match Campaign::from_toml(text) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// The demo file with `from` replaced by `to`, so each case changes one thing.
fn demo_with(from: &str, to: &str) -> String {
    assert!(DEMO.contains(from), "demo file lacks {from:?}");
    DEMO.replacen(from, to, 1)
}

#[test]
fn the_demo_campaign_is_valid() {
    let campaign = Campaign::from_toml(DEMO).expect("demo campaign is valid");
    assert_eq!(campaign.file.levels.len(), 4);
    assert_eq!(campaign.timezone.iana_name(), Some("Asia/Shanghai"));
    assert!(campaign.starts_at < campaign.ends_at);
    let json: serde_json::Value =
        serde_json::from_str(&campaign.definition_json()).expect("definition is JSON");
    assert_eq!(json["prizes"][0]["odds"][3], 25);
}

#[test]
fn each_kind_of_error_is_named_at_its_path() {
    let cases = [
        (
            demo_with("id = \"putty-demo\"", "id = \"Putty Demo\""),
            "id: ",
        ),
        (
            demo_with("name = \"Putty scan & win (demo)\"", "name = \" \""),
            "name: ",
        ),
        (
            demo_with("2026-01-01T00:00:00+08:00", "2026-01-01 midnight"),
            "starts_at: ",
        ),
        (
            demo_with("2027-12-31T23:59:59+08:00", "2025-12-31T23:59:59+08:00"),
            "ends_at: must be after",
        ),
        (demo_with("Asia/Shanghai", "Mars/Olympus"), "timezone: "),
        (
            demo_with("daily_scan_limit = 30", "daily_scan_limit = 0"),
            "daily_scan_limit: ",
        ),
        (
            demo_with("min_growth = 0", "min_growth = 5"),
            "levels[0].min_growth: ",
        ),
        (
            demo_with("min_growth = 500", "min_growth = 100"),
            "levels[2].min_growth: ",
        ),
        (
            demo_with("name = \"master\"", "name = \"apprentice\""),
            "levels[2].name: ",
        ),
        (
            demo_with("value = 299900", "value = 5000001"),
            "prizes[0].value: ",
        ),
        (
            demo_with("daily_cap = 5", "daily_cap = 500"),
            "prizes[0].daily_cap: ",
        ),
        (
            demo_with("odds = [5, 8, 12, 25]", "odds = [5, 8, 12]"),
            "prizes[0].odds: needs one entry per level",
        ),
        (
            demo_with("odds = [5, 8, 12, 25]", "odds = [5, 8, 1000001, 25]"),
            "prizes[0].odds[2]: ",
        ),
        (
            demo_with(
                "odds = [100000, 120000, 150000, 200000]",
                "odds = [100000, 120000, 150000, 990000]",
            ),
            "levels[3]: odds of all prizes",
        ),
        (
            demo_with("id = \"bonus-50\"", "id = \"phone\""),
            "prizes[2].id: `phone` is used twice",
        ),
        (
            demo_with("kind = \"item\"", "kind = \"voucher\""),
            "unknown variant `voucher`",
        ),
        (demo_with("stock = 100\n", "stock = -1\n"), "invalid value"),
        (
            demo_with(
                "points_per_scan = 10",
                "points_per_scan = 10\npoint_per_scan = 1",
            ),
            "unknown field `point_per_scan`",
        ),
    ];
    for (text, expected) in cases {
        let found = problems(&text);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "expected {expected:?} in {found:#?}"
        );
    }
}

#[test]
fn a_value_of_exactly_the_legal_cap_is_accepted_and_points_are_not_capped() {
    assert!(problems(&demo_with("value = 299900", "value = 5000000")).is_empty());
    assert!(problems(&demo_with("value = 50\n", "value = 90000000\n")).is_empty());
}

#[test]
fn every_problem_is_listed_at_once() {
    let text = DEMO
        .replacen("daily_scan_limit = 30", "daily_scan_limit = 0", 1)
        .replacen("Asia/Shanghai", "Nowhere/City", 1)
        .replacen("value = 299900", "value = 9999999", 1)
        .replacen("min_growth = 2000", "min_growth = 10", 1);
    let found = problems(&text);
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn level_counts_outside_one_to_six_are_refused() {
    let no_levels = "id = \"a\"\nname = \"a\"\nstarts_at = \"2026-01-01T00:00:00Z\"\nends_at = \"2026-02-01T00:00:00Z\"\ntimezone = \"UTC\"\npoints_per_scan = 1\ngrowth_per_scan = 1\ndaily_scan_limit = 1\nlevels = []\n";
    assert!(
        problems(no_levels)
            .iter()
            .any(|p| p.starts_with("levels: needs 1 to 6"))
    );
    let seven: String = (0..7)
        .map(|i| format!("[[levels]]\nname = \"l{i}\"\nmin_growth = {}\n", i * 10))
        .collect();
    let text = no_levels.replace("levels = []\n", &seven);
    assert!(
        problems(&text)
            .iter()
            .any(|p| p.starts_with("levels: needs 1 to 6"))
    );
}

#[test]
fn garbage_is_a_problem_not_a_panic() {
    for text in ["", "=", "id = ", "\u{0}", "[[levels]]\nname = 3"] {
        assert!(!problems(text).is_empty(), "{text:?}");
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

#[test]
fn linear_pacing_releases_stock_in_proportion_to_elapsed_time() {
    let text = demo_with("daily_cap = 5\n", "pacing = \"linear\"\n")
        .replace("2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00Z")
        .replace("2027-12-31T23:59:59+08:00", "2026-01-05T00:00:00Z");
    let campaign = Campaign::from_toml(&text).expect("valid");
    let phone = &campaign.file.prizes[0];
    assert_eq!(phone.pacing, Some(Pacing::Linear));
    let cases = [
        ("2025-12-31T00:00:00Z", 0),
        ("2026-01-01T00:00:00Z", 0),
        ("2026-01-01T00:00:01Z", 1),
        ("2026-01-02T00:00:00Z", 25),
        ("2026-01-03T00:00:00Z", 50),
        ("2026-01-04T23:59:59Z", 100),
        ("2026-02-01T00:00:00Z", 100),
    ];
    for (now, expected) in cases {
        assert_eq!(campaign.available_stock(phone, at(now)), expected, "{now}");
    }
    // unpaced prizes are all available from the start
    assert_eq!(
        campaign.available_stock(&campaign.file.prizes[1], at("2026-01-01T00:00:00Z")),
        20000
    );
}

#[test]
fn days_and_windows_follow_the_campaign_time_zone() {
    let campaign = Campaign::from_toml(DEMO).expect("valid");
    // 16:30 UTC is already the next day in Shanghai (UTC+8).
    assert_eq!(
        campaign.day(at("2026-11-23T16:30:00Z")).to_string(),
        "2026-11-24"
    );
    assert_eq!(
        campaign.day(at("2026-11-23T15:59:59Z")).to_string(),
        "2026-11-23"
    );
    assert!(!campaign.is_open(at("2025-12-31T15:59:59Z")));
    assert!(campaign.is_open(at("2025-12-31T16:00:00Z")));
    assert!(
        !campaign.is_open(at("2027-12-31T15:59:59Z")),
        "ends_at is exclusive"
    );
}

#[test]
fn leaderboard_months_follow_the_campaign_time_zone() {
    let campaign = Campaign::from_toml(DEMO).expect("valid");
    // 16:30 UTC on June 30 is 00:30 on July 1 in Shanghai.
    let month = campaign.month(at("2026-06-30T16:30:00Z"));
    assert_eq!(month.period, "2026-07");
    assert_eq!(month.starts_at, at("2026-06-30T16:00:00Z"));
    assert_eq!(month.ends_at, at("2026-07-31T16:00:00Z"));
    assert_eq!(
        campaign.ms_into_month(at("2026-06-30T16:30:00Z")),
        30 * 60 * 1000
    );
    assert_eq!(campaign.month(at("2026-06-30T15:59:59Z")).period, "2026-06");
    assert_eq!(campaign.period("2026-07"), Some(month));
    for bad in ["2026-13", "2026-7", "26-07", "2026/07", "", "2026-00"] {
        assert_eq!(campaign.period(bad), None, "{bad}");
    }
}

#[test]
fn downgrade_boundaries_are_period_starts_after_the_first_day() {
    let with = |policy: &str| {
        Campaign::from_toml(&format!("{DEMO}\n[level_downgrade]\n{policy}\n")).expect("valid")
    };
    let dates = |campaign: &Campaign, until: &str| -> Vec<String> {
        campaign
            .downgrade_boundaries(at(until))
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let monthly = with("period = \"month\"\nkeep_percent = 50");
    // The demo starts 2026-01-01 in Shanghai; 16:30 UTC on June 30 is July 1 there.
    assert_eq!(
        dates(&monthly, "2026-06-30T16:30:00Z"),
        [
            "2026-02-01",
            "2026-03-01",
            "2026-04-01",
            "2026-05-01",
            "2026-06-01",
            "2026-07-01"
        ]
    );
    assert_eq!(dates(&monthly, "2026-06-30T15:59:59Z").len(), 5);
    let quarterly = with("period = \"quarter\"\nkeep_percent = 0");
    assert_eq!(
        dates(&quarterly, "2026-07-15T00:00:00Z"),
        ["2026-04-01", "2026-07-01"]
    );
    let yearly = with("period = \"year\"\nkeep_percent = 10");
    assert!(dates(&yearly, "2026-12-31T00:00:00Z").is_empty());
    assert_eq!(
        dates(&yearly, "2030-01-01T00:00:00Z"),
        ["2027-01-01"],
        "not past the end"
    );
    assert!(
        Campaign::from_toml(DEMO)
            .expect("valid")
            .downgrade_boundaries(at("2027-06-01T00:00:00Z"))
            .is_empty()
    );
    let problems = Campaign::from_toml(&format!(
        "{DEMO}\n[level_downgrade]\nperiod = \"month\"\nkeep_percent = 100\n"
    ))
    .expect_err("invalid");
    assert_eq!(problems[0].path, "level_downgrade.keep_percent");
}

#[test]
fn levels_are_reached_at_their_min_growth() {
    let campaign = Campaign::from_toml(DEMO).expect("valid");
    let levels: Vec<usize> = [0, 99, 100, 499, 500, 1999, 2000, u64::MAX]
        .iter()
        .map(|&g| campaign.level_in(0, g))
        .collect();
    assert_eq!(levels, [0, 0, 1, 1, 2, 2, 3, 3]);
}

#[test]
fn out_of_stock_must_name_a_prize() {
    assert!(
        problems(&demo_with(
            "daily_scan_limit = 30",
            "daily_scan_limit = 30\nout_of_stock = \"bonus-50\""
        ))
        .is_empty()
    );
    assert!(
        problems(&demo_with(
            "daily_scan_limit = 30",
            "daily_scan_limit = 30\nout_of_stock = \"no_prize\""
        ))
        .is_empty()
    );
    let found = problems(&demo_with(
        "daily_scan_limit = 30",
        "daily_scan_limit = 30\nout_of_stock = \"mug\"",
    ));
    assert!(
        found.iter().any(|p| p.starts_with("out_of_stock: `mug`")),
        "{found:?}"
    );
}

#[test]
fn hourly_pacing_follows_the_local_hour_profile() {
    // Two days in Shanghai; only 12:00-24:00 local releases stock.
    let weights = format!(
        "[{}]",
        [[0u32; 12], [1u32; 12]]
            .concat()
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let text = demo_with(
        "daily_cap = 5\n",
        &format!("pacing = \"hourly\"\nhourly_weights = {weights}\n"),
    )
    .replace("2026-01-01T00:00:00+08:00", "2026-03-01T00:00:00+08:00")
    .replace("2027-12-31T23:59:59+08:00", "2026-03-03T00:00:00+08:00");
    let campaign = Campaign::from_toml(&text).expect("valid");
    let phone = &campaign.file.prizes[0];
    let cases = [
        ("2026-03-01T11:59:59+08:00", 0),
        ("2026-03-01T12:00:00+08:00", 0),
        ("2026-03-01T18:00:00+08:00", 25),
        ("2026-03-02T06:00:00+08:00", 50),
        ("2026-03-02T12:00:00+08:00", 50),
        ("2026-03-02T18:00:00+08:00", 75),
        ("2026-03-03T00:00:00+08:00", 100),
    ];
    for (now, expected) in cases {
        assert_eq!(campaign.available_stock(phone, at(now)), expected, "{now}");
    }
}

#[test]
fn hourly_weights_are_checked() {
    let hourly = |weights: &str| {
        demo_with(
            "daily_cap = 5\n",
            &format!("pacing = \"hourly\"\n{weights}"),
        )
    };
    assert!(
        problems(&hourly(""))
            .iter()
            .any(|p| p.starts_with("prizes[0].hourly_weights: pacing"))
    );
    assert!(
        problems(&hourly("hourly_weights = [1, 2]\n"))
            .iter()
            .any(|p| p.contains("got 2"))
    );
    let zeros = format!("hourly_weights = [{}]\n", vec!["0"; 24].join(","));
    assert!(
        problems(&hourly(&zeros))
            .iter()
            .any(|p| p.contains("not all zero"))
    );
    let stray = demo_with(
        "daily_cap = 5\n",
        &format!("hourly_weights = [{}]\n", vec!["1"; 24].join(",")),
    );
    assert!(
        problems(&stray)
            .iter()
            .any(|p| p.contains("only applies with pacing"))
    );
}

/// Finding 15.9 (the bound): Lua writes numbers with 14 digits, so a points prize of
/// 10^14 would be stored as `1e+14`. Values the script adds up are bounded.
#[test]
fn values_the_scan_script_adds_up_are_bounded() {
    let cases = [
        (
            demo_with("points_per_scan = 10", "points_per_scan = 1000000001"),
            "points_per_scan: 1000000001 exceeds 1000000000",
        ),
        (
            demo_with("growth_per_scan = 10", "growth_per_scan = 4000000000"),
            "growth_per_scan: 4000000000 exceeds 1000000000",
        ),
        (
            demo_with("value = 50\n", "value = 100000000000000\n"),
            "prizes[2].value: 100000000000000 points exceeds 1000000000",
        ),
        (
            demo_with("stock = 1000000\n", "stock = 1000000000001\n"),
            "prizes[2].stock: 1000000000001 exceeds 1000000000000",
        ),
        (
            demo_with("min_growth = 2000", "min_growth = 1000000000001"),
            "levels[3].min_growth: 1000000000001 exceeds 1000000000000",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(problems(&text), [expected]);
    }
    // At the bounds, valid.
    assert!(
        problems(&demo_with(
            "points_per_scan = 10",
            "points_per_scan = 1000000000"
        ))
        .is_empty()
    );
    assert!(problems(&demo_with("value = 50\n", "value = 1000000000\n")).is_empty());
}

#[test]
fn every_problem_is_listed_whatever_the_mix_of_type_and_rule_errors() {
    let extra_levels: String = (5..=7)
        .map(|n| {
            format!(
                "[[levels]]\nname = \"level-{n}\"\nmin_growth = {}\n\n",
                n * 1000
            )
        })
        .collect();
    let text = DEMO
        .replacen("stock = 100\n", "stock = -1\n", 1)
        .replacen("2026-01-01T00:00:00+08:00", "2026-13-01T00:00:00+08:00", 1)
        .replacen("\"Asia/Shanghai\"", "\"Mars/Olympus\"", 1)
        .replacen("value = 299900", "value = 5000001", 1)
        .replacen("kind = \"cash\"", "kind = \"voucher\"", 1)
        .replacen("daily_scan_limit", "daily_scan_limt", 1)
        .replacen("[[prizes]]", &format!("{extra_levels}[[prizes]]"), 1);
    let found = problems(&text);
    for path in [
        "prizes[0].stock: invalid value: integer `-1`",
        "prizes[1].kind: unknown variant `voucher`",
        "daily_scan_limt: unknown field",
        "daily_scan_limit: is required",
        "starts_at: ",
        "timezone: ",
        "levels: ",
        "prizes[0].value: ",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(path)),
            "{path:?} missing from {found:#?}"
        );
    }
    assert!(
        !found
            .iter()
            .any(|p| p.starts_with("daily_scan_limit: ") && !p.contains("required")),
        "no rule problem about a placeholder: {found:#?}"
    );
    // A file that is not TOML at all is one problem: where the syntax breaks.
    assert_eq!(problems("id = \"x\n").len(), 1);
}
