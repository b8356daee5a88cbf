//! The settlement event: the one thing that passes from the gateway to the worker.
//!
//! Written by `scan.lua` as a stream entry with one field, `event`: since version 3 the
//! JSON object the gateway knew before the script ran, a newline, and what the script
//! decided as values joined by spaces (the level, the drawn prize, the awarded prize's
//! kind and value, then the answer of answer.rs); read by the settlement worker and by
//! `yima audit`. Its `v` versions the layout: a reader refuses a version it does not
//! know rather than guessing. Version 2 entries (the script completed the JSON object)
//! are still read.
//!
//! One field rather than one per value: the worker decodes every entry, and a reply of
//! twenty-one field/value pairs per entry cost it more CPU than all its other work.
//! Entries of version 1 (one stream field per value, written up to 0.3) are still
//! read, so a worker can be upgraded before the gateways that feed it.

use std::borrow::Cow;

use yima_campaign::{RecordedDraw, Role};

use crate::answer::Answer;

/// The layout version written by this build.
pub const EVENT_VERSION: u32 = 3;

/// The stream field that holds the event of version 2 and later.
pub const EVENT_FIELD: &str = "event";

/// One redemption, as appended to the campaign's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEvent {
    /// The idempotency key of the scan and its award, end to end.
    pub scan_id: String,
    /// Campaign id.
    pub campaign: String,
    /// Campaign revision whose odds and stock applied.
    pub revision: i32,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// Who scanned.
    pub role: Role,
    /// Member id.
    pub member: String,
    /// Campaign day in the campaign's zone (`YYYY-MM-DD` on the stream).
    pub day: jiff::civil::Date,
    /// Gateway clock, milliseconds since the epoch.
    pub at_ms: i64,
    /// Member level (1-based) the draw used.
    pub level: u32,
    /// The draw number.
    pub draw: u32,
    /// The prize the number drew, before stock and caps ("" for none).
    pub drawn: String,
    /// The prize awarded ("" for none).
    pub prize: String,
    /// The awarded prize's kind (`item`, `cash`, `points`; "" for none).
    pub kind: String,
    /// The awarded prize's value: fen for items and cash, points for points.
    pub value: i64,
    /// Points credited (per-scan points plus a points prize).
    pub points: i64,
    /// Growth credited.
    pub growth: i64,
    /// Scanner's region, if sent.
    pub region: Option<String>,
    /// Batch's region, if registered.
    pub batch_region: Option<String>,
    /// Client request id, if sent.
    pub request_id: Option<String>,
    /// The architecture whose rules applied (`None`: the campaign's own).
    pub architecture: Option<String>,
    /// The answer the member got, as answer.rs writes it (`None` before version 3):
    /// settlement keeps it, so a retry after the grace window is answered the same.
    pub answer: Option<String>,
    /// The leaderboard month and the milliseconds into it, for settlement to count the
    /// scan on its boards (`None` before version 3: the script counted it).
    pub board: Option<(String, u32)>,
}

/// The entry lacks a field or has one this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scan event: {0}")]
pub struct MalformedEvent(pub String);

/// The fields a version 1 entry carries; the last three may be absent.
const FIELDS: [&str; 21] = [
    "v",
    "scan_id",
    "campaign",
    "revision",
    "batch",
    "serial",
    "role",
    "member",
    "day",
    "at_ms",
    "level",
    "draw",
    "drawn",
    "prize",
    "kind",
    "value",
    "points",
    "growth",
    "region",
    "batch_region",
    "request_id",
];

impl ScanEvent {
    /// Reads a stream entry's (field, value) pairs; unknown fields are ignored.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, MalformedEvent> {
        let mut fields = Fields([None; FIELDS.len()]);
        for (name, value) in pairs {
            if name == EVENT_FIELD {
                return Self::from_json(value);
            }
            if let Some(slot) = Fields::slot(name) {
                fields.0[slot] = Some(value);
            }
        }
        let version: u32 = fields.parsed("v")?;
        if version != 1 {
            return Err(MalformedEvent(format!("unknown version {version}")));
        }
        let role = fields.text("role")?;
        let role =
            Role::from_name(role).ok_or_else(|| MalformedEvent(format!("bad `role`: {role}")))?;
        Ok(Self {
            scan_id: fields.text("scan_id")?.to_string(),
            campaign: fields.text("campaign")?.to_string(),
            revision: fields.parsed("revision")?,
            batch: fields.parsed("batch")?,
            serial: fields.parsed("serial")?,
            role,
            member: fields.text("member")?.to_string(),
            day: fields.parsed("day")?,
            at_ms: fields.parsed("at_ms")?,
            level: fields.parsed("level")?,
            draw: fields.parsed("draw")?,
            drawn: fields.text("drawn")?.to_string(),
            prize: fields.text("prize")?.to_string(),
            kind: fields.text("kind")?.to_string(),
            value: fields.parsed("value")?,
            points: fields.parsed("points")?,
            growth: fields.parsed("growth")?,
            region: fields.optional("region").map(str::to_string),
            batch_region: fields.optional("batch_region").map(str::to_string),
            request_id: fields.optional("request_id").map(str::to_string),
            architecture: None,
            answer: None,
            board: None,
        })
    }

    /// Reads the `event` field of a version 2 or 3 entry.
    fn from_json(field: &str) -> Result<Self, MalformedEvent> {
        let (json, tail) = match field.split_once('\n') {
            Some((json, tail)) => (json, Some(tail)),
            None => (field, None),
        };
        let wire: Wire<'_> =
            serde_json::from_str(json).map_err(|e| MalformedEvent(e.to_string()))?;
        let outcome = match (wire.v, tail) {
            (3, Some(tail)) => Outcome::of_tail(tail)?,
            (2, None) => Outcome::of_v2(&wire)?,
            (v, _) => return Err(MalformedEvent(format!("unknown version {v}"))),
        };
        let role = Role::from_name(&wire.role)
            .ok_or_else(|| MalformedEvent(format!("bad `role`: {}", wire.role)))?;
        let day = wire
            .day
            .parse()
            .map_err(|_| MalformedEvent(format!("bad `day`: {}", wire.day)))?;
        Ok(Self {
            scan_id: wire.scan_id.into_owned(),
            campaign: wire.campaign.into_owned(),
            revision: wire.revision,
            batch: wire.batch,
            serial: wire.serial,
            role,
            member: wire.member.into_owned(),
            day,
            at_ms: wire.at_ms,
            level: outcome.level,
            draw: wire.draw,
            drawn: outcome.drawn,
            prize: outcome.prize,
            kind: outcome.kind,
            value: outcome.value,
            points: outcome.points,
            growth: wire.growth,
            region: wire.region.map(Cow::into_owned),
            batch_region: wire.batch_region.map(Cow::into_owned),
            request_id: wire.request_id.map(Cow::into_owned),
            architecture: wire.architecture.map(Cow::into_owned),
            answer: outcome.answer,
            board: wire.period.map(Cow::into_owned).zip(wire.ms_into_month),
        })
    }
}

/// What the script decided, from either layout.
struct Outcome {
    level: u32,
    drawn: String,
    prize: String,
    kind: String,
    value: i64,
    points: i64,
    answer: Option<String>,
}

impl Outcome {
    /// `level drawn kind value` and the answer (`status prize points_awarded points
    /// level`), space-separated.
    fn of_tail(tail: &str) -> Result<Self, MalformedEvent> {
        let bad = |what: &str| MalformedEvent(format!("bad {what} in `{tail}`"));
        let mut parts = tail.splitn(5, ' ');
        let mut next = |what: &str| parts.next().ok_or_else(|| bad(what));
        let level = next("level")?.parse().map_err(|_| bad("level"))?;
        let drawn = next("drawn")?;
        let kind = next("kind")?;
        let value = next("value")?.parse().map_err(|_| bad("value"))?;
        let answer_text = next("answer")?;
        let answer = Answer::parse(answer_text).map_err(|_| bad("answer"))?;
        Ok(Self {
            level,
            drawn: drawn.to_string(),
            prize: answer.prize.unwrap_or_default(),
            kind: kind.to_string(),
            value,
            points: answer.points_awarded,
            answer: Some(answer_text.to_string()),
        })
    }

    fn of_v2(wire: &Wire<'_>) -> Result<Self, MalformedEvent> {
        fn need<T: Copy>(value: Option<T>, name: &str) -> Result<T, MalformedEvent> {
            value.ok_or_else(|| MalformedEvent(format!("missing field `{name}`")))
        }
        let text = |value: &Option<Cow<'_, str>>, name: &str| {
            value
                .as_deref()
                .map(str::to_string)
                .ok_or_else(|| MalformedEvent(format!("missing field `{name}`")))
        };
        Ok(Self {
            level: need(wire.level, "level")?,
            drawn: text(&wire.drawn, "drawn")?,
            prize: text(&wire.prize, "prize")?,
            kind: text(&wire.kind, "kind")?,
            value: need(wire.value, "value")?,
            points: need(wire.points, "points")?,
            answer: None,
        })
    }
}

/// An event's JSON object: version 3's whole (what the gateway knew), version 2's with
/// what the script added (`level` to `points`). Strings borrow from the reply unless
/// escaped.
#[derive(serde::Deserialize)]
struct Wire<'a> {
    v: u32,
    #[serde(borrow)]
    scan_id: Cow<'a, str>,
    #[serde(borrow)]
    campaign: Cow<'a, str>,
    revision: i32,
    batch: u32,
    serial: u32,
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    member: Cow<'a, str>,
    #[serde(borrow)]
    day: Cow<'a, str>,
    at_ms: i64,
    level: Option<u32>,
    draw: u32,
    #[serde(borrow)]
    drawn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    prize: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    value: Option<i64>,
    points: Option<i64>,
    growth: i64,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    batch_region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    architecture: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    period: Option<Cow<'a, str>>,
    #[serde(default)]
    ms_into_month: Option<u32>,
}

/// What the gateway knows of an event before the script decides the rest: serialized
/// into the members the script completes the `event` object with.
#[derive(Debug, serde::Serialize)]
pub(crate) struct EventContext<'a> {
    /// Always [`EVENT_VERSION`].
    pub v: u32,
    /// The idempotency key.
    pub scan_id: &'a str,
    /// Campaign id.
    pub campaign: &'a str,
    /// Campaign revision in force.
    pub revision: i32,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// `consumer` or `dealer`.
    pub role: &'a str,
    /// Member id.
    pub member: &'a str,
    /// Campaign day, `YYYY-MM-DD`.
    pub day: &'a str,
    /// Gateway clock, ms since the epoch.
    pub at_ms: i64,
    /// The draw number.
    pub draw: u32,
    /// Growth credited.
    pub growth: i64,
    /// The architecture whose rules applied; absent for the campaign's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<&'a str>,
    /// Scanner's region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    /// Batch's region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_region: Option<&'a str>,
    /// Client request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    /// The leaderboard month in the campaign's zone, `YYYY-MM`.
    pub period: &'a str,
    /// Milliseconds into it.
    pub ms_into_month: u32,
}

/// An entry's values by field, borrowed from the reply: the worker reads thousands a
/// second, so nothing is copied that the event does not keep.
struct Fields<'a>([Option<&'a str>; FIELDS.len()]);

impl<'a> Fields<'a> {
    fn slot(name: &str) -> Option<usize> {
        FIELDS.iter().position(|field| *field == name)
    }

    fn optional(&self, name: &str) -> Option<&'a str> {
        Self::slot(name).and_then(|slot| self.0[slot])
    }

    fn text(&self, name: &str) -> Result<&'a str, MalformedEvent> {
        self.optional(name)
            .ok_or_else(|| MalformedEvent(format!("missing `{name}`")))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, MalformedEvent> {
        let text = self.text(name)?;
        text.parse()
            .map_err(|_| MalformedEvent(format!("bad `{name}`: {text}")))
    }
}

impl ScanEvent {
    /// The draw this event records, for `yima audit` to re-derive; `sku` is the SKU
    /// of the code's batch.
    pub fn recorded_draw(&self, sku: &str) -> RecordedDraw {
        RecordedDraw {
            scan_id: self.scan_id.clone(),
            batch: self.batch,
            serial: self.serial,
            role: self.role,
            level: self.level,
            draw: self.draw,
            drawn: self.drawn.clone(),
            prize: self.prize.clone(),
            day: self.day,
            architecture: self.architecture.clone(),
            sku: sku.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: [(&str, &str); 19] = [
        ("v", "1"),
        ("scan_id", "s1"),
        ("campaign", "spring"),
        ("revision", "2"),
        ("batch", "7"),
        ("serial", "42"),
        ("role", "dealer"),
        ("member", "wang"),
        ("day", "2026-06-01"),
        ("at_ms", "1780286400000"),
        ("level", "1"),
        ("draw", "9"),
        ("drawn", "cup"),
        ("prize", "cup"),
        ("kind", "item"),
        ("value", "5900"),
        ("points", "10"),
        ("growth", "5"),
        ("region", "GD"),
    ];

    fn with(changes: &[(&'static str, Option<&'static str>)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = ENTRY.to_vec();
        for (name, value) in changes {
            pairs.retain(|(n, _)| n != name);
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        pairs
    }

    fn error(changes: &[(&'static str, Option<&'static str>)]) -> String {
        ScanEvent::from_pairs(with(changes))
            .expect_err("malformed")
            .to_string()
    }

    #[test]
    fn a_full_entry_reads_every_field_and_ignores_unknown_ones() {
        let event = ScanEvent::from_pairs(with(&[("extra", Some("x"))])).expect("event");
        assert_eq!(event.scan_id, "s1");
        assert_eq!((event.batch, event.serial), (7, 42));
        assert_eq!(event.role, Role::Dealer);
        assert_eq!(event.day, jiff::civil::date(2026, 6, 1));
        assert_eq!(event.at_ms, 1_780_286_400_000);
        assert_eq!((event.points, event.growth, event.value), (10, 5, 5900));
        assert_eq!(event.region.as_deref(), Some("GD"));
        assert_eq!(event.batch_region, None);
        assert_eq!(event.request_id, None);
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for (name, _) in ENTRY.iter().filter(|(name, _)| *name != "region") {
            assert_eq!(
                error(&[(name, None)]),
                format!("malformed scan event: missing `{name}`")
            );
        }
    }

    #[test]
    fn unreadable_values_are_named() {
        assert_eq!(
            error(&[("serial", Some("-1"))]),
            "malformed scan event: bad `serial`: -1"
        );
        assert_eq!(
            error(&[("day", Some("2026-13-01"))]),
            "malformed scan event: bad `day`: 2026-13-01"
        );
        assert_eq!(
            error(&[("role", Some("boss"))]),
            "malformed scan event: bad `role`: boss"
        );
        assert_eq!(
            error(&[("v", Some("3"))]),
            "malformed scan event: unknown version 3"
        );
    }

    fn context(v: u32) -> EventContext<'static> {
        EventContext {
            v,
            scan_id: "s1",
            campaign: "spring",
            revision: 2,
            batch: 7,
            serial: 42,
            role: "dealer",
            member: "wang",
            day: "2026-06-01",
            at_ms: 1_780_286_400_000,
            draw: 9,
            growth: 5,
            architecture: Some("dealer"),
            region: Some("GD"),
            batch_region: None,
            request_id: Some(r#"req "1" \ 2"#),
            period: "2026-06",
            ms_into_month: 43_200_000,
        }
    }

    /// A version 2 entry as `scan.lua` wrote it: the gateway's members, then the
    /// script's.
    fn json_entry(changes: &[(&str, Option<serde_json::Value>)]) -> String {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::to_value(context(2)).expect("encodes"))
                .expect("an object");
        // Version 2 knew no board month: the script counted the boards.
        object.remove("period");
        object.remove("ms_into_month");
        let script = r#"{"status":"won","level":1,"drawn":"cup","prize":"cup","kind":"item","value":5900,"points":10}"#;
        let script: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(script).expect("the script's JSON parses");
        object.extend(script);
        for (name, value) in changes {
            match value {
                Some(value) => object.insert((*name).to_string(), value.clone()),
                None => object.remove(*name),
            };
        }
        serde_json::Value::Object(object).to_string()
    }

    /// A version 3 entry as `scan.lua` writes it.
    fn entry_of(tail: &str) -> String {
        let json = serde_json::to_string(&context(EVENT_VERSION)).expect("encodes");
        format!("{json}\n{tail}")
    }

    #[test]
    fn a_version_3_entry_reads_the_same_event_and_keeps_its_answer() {
        let v3 = entry_of("1 cup item 5900 won cup 10 110 1");
        let event = ScanEvent::from_pairs([(EVENT_FIELD, v3.as_str())]).expect("event");
        let v2 = json_entry(&[]);
        let older = ScanEvent::from_pairs([(EVENT_FIELD, v2.as_str())]).expect("event");
        assert_eq!(event.answer.as_deref(), Some("won cup 10 110 1"));
        assert_eq!(
            event,
            ScanEvent {
                answer: Some("won cup 10 110 1".into()),
                board: Some(("2026-06".into(), 43_200_000)),
                ..older
            }
        );
        let none = entry_of("2  item 0 no_prize  10 20 2");
        let event = ScanEvent::from_pairs([(EVENT_FIELD, none.as_str())]).expect("event");
        assert_eq!(
            (event.level, event.drawn.as_str(), event.prize.as_str()),
            (2, "", "")
        );
        for tail in [
            "",
            "1 cup item",
            "x cup item 5900 won cup 10 110 1",
            "1 cup item lots won cup 10 110 1",
            "1 cup item 5900 won cup 10 110",
        ] {
            let entry = entry_of(tail);
            let error = ScanEvent::from_pairs([(EVENT_FIELD, entry.as_str())])
                .expect_err("malformed")
                .to_string();
            assert!(
                error.starts_with("malformed scan event: bad "),
                "{tail}: {error}"
            );
        }
        let without_tail = serde_json::to_string(&context(3)).expect("encodes");
        assert_eq!(
            ScanEvent::from_pairs([(EVENT_FIELD, without_tail.as_str())])
                .expect_err("no tail")
                .to_string(),
            "malformed scan event: unknown version 3"
        );
    }

    fn json_error(changes: &[(&str, Option<serde_json::Value>)]) -> String {
        ScanEvent::from_pairs([(EVENT_FIELD, json_entry(changes).as_str())])
            .expect_err("malformed")
            .to_string()
    }

    #[test]
    fn a_version_2_entry_reads_every_field_and_unescapes_strings() {
        let json = json_entry(&[]);
        let event = ScanEvent::from_pairs([(EVENT_FIELD, json.as_str())]).expect("event");
        let version_1 = ScanEvent::from_pairs(with(&[])).expect("event");
        assert_eq!(
            event,
            ScanEvent {
                request_id: Some(r#"req "1" \ 2"#.into()),
                architecture: Some("dealer".into()),
                ..version_1
            },
            "both layouts carry the same event (version 1 knew no architectures)"
        );
    }

    #[test]
    fn a_version_2_entry_names_what_is_missing_or_unreadable() {
        for name in [
            "v", "scan_id", "serial", "member", "day", "level", "points", "kind",
        ] {
            let error = json_error(&[(name, None)]);
            assert!(
                error.starts_with(&format!("malformed scan event: missing field `{name}`")),
                "{error}"
            );
        }
        for name in ["region", "batch_region", "request_id", "architecture"] {
            assert!(ScanEvent::from_json(&json_entry(&[(name, None)])).is_ok());
        }
        assert_eq!(
            json_error(&[("v", Some(1.into()))]),
            "malformed scan event: unknown version 1"
        );
        assert_eq!(
            json_error(&[("role", Some("boss".into()))]),
            "malformed scan event: bad `role`: boss"
        );
        assert_eq!(
            json_error(&[("day", Some("2026-02-30".into()))]),
            "malformed scan event: bad `day`: 2026-02-30"
        );
        assert!(json_error(&[("serial", Some((-1).into()))]).contains("invalid value"));
        assert!(
            ScanEvent::from_pairs([(EVENT_FIELD, "{\"v\":2,")])
                .expect_err("truncated")
                .to_string()
                .starts_with("malformed scan event: EOF while parsing")
        );
    }
}
