//! The settlement event: the one thing that passes from the gateway to the worker.
//!
//! Written by `scan.lua` as a stream entry of flat fields; read by the settlement
//! worker and by `yima audit`. The `v` field versions the layout: a reader refuses a
//! version it does not know rather than guessing.

use yima_campaign::{RecordedDraw, Role};

/// The layout version written by this build.
pub const EVENT_VERSION: u32 = 1;

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
}

/// The entry lacks a field or has one this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scan event: {0}")]
pub struct MalformedEvent(pub String);

/// The fields an entry of this version carries; the last three may be absent.
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
            if let Some(slot) = Fields::slot(name) {
                fields.0[slot] = Some(value);
            }
        }
        let version: u32 = fields.parsed("v")?;
        if version != EVENT_VERSION {
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
        })
    }
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
    /// The draw this event records, for `yima audit` to re-derive.
    pub fn recorded_draw(&self) -> RecordedDraw {
        RecordedDraw {
            scan_id: self.scan_id.clone(),
            batch: self.batch,
            serial: self.serial,
            role: self.role,
            level: self.level,
            draw: self.draw,
            drawn: self.drawn.clone(),
            prize: self.prize.clone(),
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
            error(&[("v", Some("2"))]),
            "malformed scan event: unknown version 2"
        );
    }
}
