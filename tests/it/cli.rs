//! The CLI contract for factories and operators: migrate, campaign apply, batch
//! create/void and gen, against a real Postgres.

use std::collections::HashSet;

use crate::support::*;

#[tokio::test]
async fn migrate_is_idempotent_and_apply_reports_what_changed() {
    let db = TestDb::new().await;
    run_ok(db.yima().arg("migrate"));
    run_ok(db.yima().arg("migrate"));
    let apply =
        |db: &TestDb, file: &str| stderr(&run_ok(db.yima().args(["campaign", "apply", file])));
    assert!(apply(&db, "config/demo-campaign.toml").contains("created"));
    assert!(apply(&db, "config/demo-campaign.toml").contains("unchanged"));

    let dir = temp_dir("apply");
    let renamed = dir.path().join("renamed.toml");
    std::fs::write(
        &renamed,
        read(&repo().join("config/demo-campaign.toml")).replace("(demo)", "(demo, renamed)"),
    )
    .expect("write campaign");
    assert!(apply(&db, renamed.to_str().expect("utf-8 path")).contains("revision 2"));
    let (name, revision): (String, i32) =
        sqlx::query_as("SELECT name, revision FROM campaigns WHERE id = 'putty-demo'")
            .fetch_one(&mut db.connect().await)
            .await
            .expect("campaign row");
    assert_eq!(
        (name.as_str(), revision),
        ("Putty scan & win (demo, renamed)", 2)
    );
}

#[tokio::test]
async fn an_invalid_campaign_file_lists_every_problem_and_changes_nothing() {
    let db = TestDb::new().await;
    run_ok(db.yima().arg("migrate"));
    let dir = temp_dir("invalid-campaign");
    let file = dir.path().join("bad.toml");
    let text = read(&repo().join("config/demo-campaign.toml"))
        .replace("Asia/Shanghai", "Asia/Atlantis")
        .replace("value = 299900", "value = 6000000")
        .replace("min_growth = 500", "min_growth = 50")
        .replace("odds = [5, 8, 12, 25]", "odds = [5, 8, 12]");
    std::fs::write(&file, text).expect("write campaign");
    let error = run_err(db.yima().args(["campaign", "apply"]).arg(&file));
    for expected in [
        "4 problem(s), nothing changed",
        "timezone: `Asia/Atlantis`",
        "prizes[0].value: 6000000 fen exceeds the legal cap",
        "levels[2].min_growth: must be greater",
        "prizes[0].odds: needs one entry per level (4), got 3",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
    let (campaigns,): (i64,) = sqlx::query_as("SELECT count(*) FROM campaigns")
        .fetch_one(&mut db.connect().await)
        .await
        .expect("count");
    assert_eq!(campaigns, 0);
    let missing = run_err(db.yima().args(["campaign", "apply", "no/such/file.toml"]));
    assert!(
        missing.contains("cannot read no/such/file.toml"),
        "{missing}"
    );
}

#[tokio::test]
async fn batch_create_prints_only_the_id_and_gen_writes_codes_that_verify() {
    let db = TestDb::with_demo_campaign().await;
    let first = db.create_batch(5_000);
    let second = db.create_batch(10);
    assert_eq!(second, first + 1);

    let txt = stdout(&run_ok(db.yima().args([
        "gen",
        "--batch",
        &first.to_string(),
    ])));
    let ring = key_ring();
    let codes: Vec<&str> = txt.lines().collect();
    assert_eq!(codes.len(), 5_000);
    for (serial, code) in codes.iter().enumerate() {
        let id = ring
            .verify(code)
            .unwrap_or_else(|_| panic!("{code} does not verify"));
        assert_eq!(
            (id.batch, id.serial, id.key_id),
            (first, u32::try_from(serial).expect("a serial"), 1)
        );
    }

    // Same key and batch -> same bytes, whatever the thread count.
    for threads in ["1", "3"] {
        let again =
            run_ok(
                db.yima()
                    .args(["gen", "--batch", &first.to_string(), "--threads", threads]),
            );
        assert_eq!(
            stdout(&again),
            txt,
            "--threads {threads} changed the output"
        );
    }

    let csv = stdout(&run_ok(
        db.yima()
            .env("YIMA_CODE_URL_PREFIX", "https://s.brand.cn/c/")
            .args(["gen", "--batch", &first.to_string(), "--format", "csv"]),
    ));
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("serial,code,url"));
    for (serial, (row, code)) in rows.zip(&codes).enumerate() {
        assert_eq!(row, format!("{serial},{code},https://s.brand.cn/c/{code}"));
    }

    let urls = stdout(&run_ok(db.yima().args([
        "gen",
        "--batch",
        &second.to_string(),
        "--format",
        "url",
    ])));
    assert_eq!(urls.lines().count(), 10);
    assert!(
        urls.lines()
            .all(|url| url.starts_with("https://yima.example/s/")),
        "{urls}"
    );
}

#[tokio::test]
async fn gen_splits_into_numbered_files_and_never_overwrites_without_force() {
    let db = TestDb::with_demo_campaign().await;
    let batch = db.create_batch(25_000).to_string();
    let dir = temp_dir("split");
    let whole = dir.path().join("whole.csv");
    run_ok(
        db.yima()
            .args(["gen", "--batch", &batch, "--format", "csv", "--out"])
            .arg(&whole),
    );

    let parts = dir.path().join("part.csv");
    run_ok(
        db.yima()
            .args([
                "gen", "--batch", &batch, "--format", "csv", "--split", "10000", "--out",
            ])
            .arg(&parts),
    );
    let names = ["part-001.csv", "part-002.csv", "part-003.csv"];
    let mut joined = String::from("serial,code,url\n");
    for (name, rows) in names.iter().zip([10_000, 10_000, 5_000]) {
        let text = read(&dir.path().join(name));
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("serial,code,url"),
            "{name} lacks its header"
        );
        assert_eq!(lines.clone().count(), rows, "{name}");
        for line in lines {
            joined.push_str(line);
            joined.push('\n');
        }
    }
    assert_eq!(
        joined,
        read(&whole),
        "split files differ from the whole file"
    );
    assert!(!dir.path().join("part-004.csv").exists());

    let refused = run_err(
        db.yima()
            .args(["gen", "--batch", &batch, "--out"])
            .arg(&whole),
    );
    assert!(
        refused.contains("already exists; pass --force"),
        "{refused}"
    );
    assert!(
        read(&whole).starts_with("serial,code,url"),
        "the refused run touched the file"
    );
    run_ok(
        db.yima()
            .args(["gen", "--batch", &batch, "--force", "--out"])
            .arg(&whole),
    );
    assert_eq!(read(&whole).lines().count(), 25_000);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let needs_out = run_err(db.yima().args(["gen", "--batch", &batch, "--split", "10"]));
    assert!(needs_out.contains("--out"), "{needs_out}");
}

#[tokio::test]
async fn a_million_codes_of_one_batch_are_distinct() {
    let db = TestDb::with_demo_campaign().await;
    let batch = db.create_batch(1_000_000).to_string();
    let out = run_ok(db.yima().args(["gen", "--batch", &batch]));
    let mut seen = HashSet::with_capacity(1_000_000);
    for line in out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
    {
        assert_eq!(line.len(), yima_code::CODE_LEN);
        assert!(
            seen.insert(line),
            "duplicate {}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(seen.len(), 1_000_000);
}

#[tokio::test]
async fn bad_batch_requests_get_clear_errors_and_write_nothing() {
    let db = TestDb::with_demo_campaign().await;
    let create = |extra: &[&str]| {
        let mut command = db.yima();
        command
            .args(["batch", "create", "--sku", "PUTTY-20KG"])
            .args(extra);
        command
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["--campaign", "no-such", "--count", "5"],
            "unknown campaign `no-such`",
        ),
        (
            &["--campaign", "putty-demo", "--count", "0"],
            "0 is not in 1..=1000000000",
        ),
        (
            &["--campaign", "putty-demo", "--count", "1000000001"],
            "is not in 1..=1000000000",
        ),
        (&["--campaign", "putty-demo", "--count", "-3"], "--count"),
        (
            &[
                "--campaign",
                "putty-demo",
                "--count",
                "5",
                "--region",
                "上海 east",
            ],
            "region `上海 east`",
        ),
    ];
    for (args, expected) in cases {
        let error = run_err(&mut create(args));
        assert!(
            error.contains(expected),
            "{args:?}: expected {expected:?} in {error}"
        );
    }
    let no_keys = run_err(
        create(&["--campaign", "putty-demo", "--count", "5"]).env_remove("YIMA_CODE_KEYS_FILE"),
    );
    assert!(
        no_keys.contains("no code keys: set YIMA_CODE_KEYS"),
        "{no_keys}"
    );
    let bad_url = run_err(
        create(&["--campaign", "putty-demo", "--count", "5"])
            .env("YIMA_POSTGRES_URL", "mysql://x/y"),
    );
    assert!(bad_url.contains("invalid Postgres URL"), "{bad_url}");
    let refused = run_err(
        create(&["--campaign", "putty-demo", "--count", "5"])
            .env("YIMA_POSTGRES_URL", "postgres://postgres@127.0.0.1:1/x"),
    );
    assert!(
        refused.contains("cannot connect to Postgres at 127.0.0.1:1/x"),
        "{refused}"
    );

    let (batches,): (i64,) = sqlx::query_as("SELECT count(*) FROM batches")
        .fetch_one(&mut db.connect().await)
        .await
        .expect("count");
    assert_eq!(batches, 0, "a refused request wrote a batch");

    assert!(run_err(db.yima().args(["gen", "--batch", "4242"])).contains("unknown batch 4242"));
    assert!(run_err(db.yima().args(["batch", "void", "4242"])).contains("unknown batch 4242"));
}

#[tokio::test]
async fn voiding_a_batch_is_recorded_once() {
    let db = TestDb::with_demo_campaign().await;
    let batch = db.create_batch(3);
    run_ok(db.yima().args(["batch", "void", &batch.to_string()]));
    let first: (String, String) =
        sqlx::query_as("SELECT status, voided_at::text FROM batches WHERE id = $1")
            .bind(i64::from(batch))
            .fetch_one(&mut db.connect().await)
            .await
            .expect("batch row");
    run_ok(db.yima().args(["batch", "void", &batch.to_string()]));
    let second: (String, String) =
        sqlx::query_as("SELECT status, voided_at::text FROM batches WHERE id = $1")
            .bind(i64::from(batch))
            .fetch_one(&mut db.connect().await)
            .await
            .expect("batch row");
    assert_eq!(first.0, "void");
    assert_eq!(first, second, "voiding again moved the timestamp");
}

#[tokio::test]
async fn gen_refuses_a_batch_whose_key_left_the_ring() {
    let db = TestDb::with_demo_campaign().await;
    let batch = db.create_batch(3).to_string();
    let other_key = "7:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let error = run_err(
        db.yima()
            .env("YIMA_CODE_KEYS", other_key)
            .args(["gen", "--batch", &batch]),
    );
    assert!(
        error.contains("signed with code key 1, which is not among the configured keys [7]"),
        "{error}"
    );
    assert!(
        !error.contains("00112233"),
        "the error shows a secret: {error}"
    );
}

#[tokio::test]
async fn configuration_errors_name_the_setting() {
    let db = TestDb::new().await;
    let typo = run_err(db.yima().env("YIMA_POSTGRES_URI", "x").arg("migrate"));
    assert!(typo.contains("POSTGRES.URI"), "{typo}");
    let missing = run_err(db.yima().args(["--config", "no/such.toml", "migrate"]));
    assert!(
        missing.contains("config file no/such.toml does not exist"),
        "{missing}"
    );

    let dir = temp_dir("config");
    let file = dir.path().join("yima.toml");
    std::fs::write(
        &file,
        "[redis]\nurl = \"redis://127.0.0.1:1\"\nkey_prefx = \"x\"\n",
    )
    .expect("write");
    let unknown = run_err(db.yima().arg("--config").arg(&file).arg("migrate"));
    assert!(unknown.contains("key_prefx"), "{unknown}");
    std::fs::write(&file, "[http\n").expect("write");
    let syntax = run_err(db.yima().arg("--config").arg(&file).arg("migrate"));
    assert!(syntax.contains("TOML parse error"), "{syntax}");

    // Trusted proxies: a network or an address, as a list or comma-separated.
    let proxy = run_err(
        db.yima()
            .env("YIMA_LIMITS_TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.300")
            .arg("migrate"),
    );
    assert!(
        proxy.contains("\"10.0.0.300\" is not a network")
            && proxy.contains("LIMITS.TRUSTED_PROXIES"),
        "{proxy}"
    );
    run_ok(
        db.yima()
            .env(
                "YIMA_LIMITS_TRUSTED_PROXIES",
                "10.0.0.0/8, 192.0.2.7,fd00::/8",
            )
            .arg("migrate"),
    );
    std::fs::write(
        &file,
        "[limits]\nmember_per_minute = 20\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
    )
    .expect("write");
    run_ok(db.yima().arg("--config").arg(&file).arg("migrate"));
    std::fs::write(&file, "[limits]\nmember_per_minute = -1\n").expect("write");
    let negative = run_err(db.yima().arg("--config").arg(&file).arg("migrate"));
    assert!(negative.contains("member_per_minute"), "{negative}");

    // A digits-only token or prefix is still a string.
    run_ok(
        db.yima()
            .env("YIMA_ADMIN_TOKEN", "12345")
            .env("YIMA_KEY_PREFIX", "42")
            .arg("migrate"),
    );
}

/// Finding 15.3: `YIMA_ADMIN_TOKEN=` once opened every admin route to a request with
/// no header. Every empty secret is now a configuration error, for every command.
#[tokio::test]
async fn an_empty_secret_is_a_configuration_error() {
    let db = TestDb::new().await;
    for (variable, value) in [
        ("YIMA_ADMIN_TOKEN", ""),
        ("YIMA_ADMIN_TOKEN", "  "),
        ("YIMA_PAYOUTS_SECRET", ""),
        ("YIMA_PAYOUTS_WEBHOOK_URL", ""),
        ("YIMA_CODE_KEYS", ""),
    ] {
        let error = run_err(db.yima().env(variable, value).arg("migrate"));
        assert!(
            error.contains("is set but empty"),
            "{variable}={value:?}: {error}"
        );
    }
}

/// Finding 15.14, a script check: the demo stopped in psql's pager on a second run
/// and never said where the dashboard was.
#[test]
fn the_demo_never_pages_bounds_its_output_and_names_the_operator_urls() {
    let script = read(&repo().join("deploy/dev/demo.sh"));
    let calls: Vec<&str> = script
        .lines()
        .filter(|line| line.contains("/psql\""))
        .collect();
    assert!(!calls.is_empty(), "the demo runs psql through one function");
    assert!(
        calls.iter().all(|line| line.contains("-P pager=off")),
        "{calls:?}"
    );
    for query in script
        .lines()
        .filter(|line| line.contains("psql -c \"SELECT"))
    {
        let at = script.find(query).expect("line");
        let statement = &script[at..at + script[at..].find("\"\n").unwrap_or(query.len())];
        assert!(
            statement.contains("LIMIT"),
            "unbounded demo query: {statement}"
        );
    }
    for url in ["/dashboard", "$listen/metrics", "/openapi.json"] {
        assert!(script.contains(url), "the demo does not print {url}");
    }
}
