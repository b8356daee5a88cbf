//! The settlement event: the one thing that passes from the gateway to the worker.
//!
//! Written by `scan.lua` as a stream entry of flat fields; read by the settlement
//! worker and by `yima audit`. The `v` field versions the layout: a reader refuses a
//! version it does not know rather than guessing.

use std::collections::HashMap;

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
    /// Campaign day, `YYYY-MM-DD` in the campaign's zone.
    pub day: String,
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

impl ScanEvent {
    /// Reads a stream entry's fields.
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, MalformedEvent> {
        let get = |name: &str| {
            fields
                .get(name)
                .cloned()
                .ok_or_else(|| MalformedEvent(format!("missing `{name}`")))
        };
        fn parse<T: std::str::FromStr>(name: &str, text: String) -> Result<T, MalformedEvent> {
            text.parse()
                .map_err(|_| MalformedEvent(format!("bad `{name}`: {text}")))
        }
        let version: u32 = parse("v", get("v")?)?;
        if version != EVENT_VERSION {
            return Err(MalformedEvent(format!("unknown version {version}")));
        }
        let role = get("role")?;
        let role =
            Role::from_name(&role).ok_or_else(|| MalformedEvent(format!("bad `role`: {role}")))?;
        Ok(Self {
            scan_id: get("scan_id")?,
            campaign: get("campaign")?,
            revision: parse("revision", get("revision")?)?,
            batch: parse("batch", get("batch")?)?,
            serial: parse("serial", get("serial")?)?,
            role,
            member: get("member")?,
            day: get("day")?,
            at_ms: parse("at_ms", get("at_ms")?)?,
            level: parse("level", get("level")?)?,
            draw: parse("draw", get("draw")?)?,
            drawn: get("drawn")?,
            prize: get("prize")?,
            kind: get("kind")?,
            value: parse("value", get("value")?)?,
            points: parse("points", get("points")?)?,
            growth: parse("growth", get("growth")?)?,
            region: fields.get("region").cloned(),
            batch_region: fields.get("batch_region").cloned(),
            request_id: fields.get("request_id").cloned(),
        })
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
