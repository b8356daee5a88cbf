//! Re-deriving a recorded draw from the draw secret: what a regulator or the brand's
//! auditor runs against any single scan.

use crate::{Campaign, DrawSecret, Role};

/// A draw as recorded (in the settlement event, later in Postgres).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDraw {
    /// The scan id.
    pub scan_id: String,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// Who scanned.
    pub role: Role,
    /// Level (1-based) whose odds applied.
    pub level: u32,
    /// The recorded draw number.
    pub draw: u32,
    /// The prize the number drew ("" for none).
    pub drawn: String,
    /// The prize awarded ("" for none).
    pub prize: String,
    /// The campaign day of the scan: its boosts applied to the odds.
    pub day: jiff::civil::Date,
    /// The architecture whose rules applied (`None`: the campaign's own).
    pub architecture: Option<String>,
    /// The SKU of the code's batch: it decides a rebate.
    pub sku: String,
}

/// The re-derived draw, when everything matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedDraw {
    /// The draw number recomputed from the secret.
    pub draw: u32,
    /// The prize the number wins at the recorded level, if any.
    pub drawn: Option<String>,
    /// Whether the awarded prize differs from the drawn one because of stock, a daily
    /// cap or pacing (then it is the out-of-stock prize or nothing).
    pub substituted: bool,
    /// Whether the prize was the SKU's rebate, paid without a draw.
    pub rebate: bool,
}

/// Checks a recorded draw against the campaign revision in force (with the boosts of
/// the scan's day) and the secret.
/// Returns every mismatch found.
pub fn audit(
    campaign: &Campaign,
    secret: &DrawSecret,
    record: &RecordedDraw,
) -> Result<AuditedDraw, Vec<String>> {
    let mut mismatches = Vec::new();
    let scan_id = secret.scan_id(record.batch, record.serial, record.role);
    if scan_id != record.scan_id {
        mismatches.push(format!(
            "scan id {} is not the one batch {} serial {} ({}) derives: {scan_id}",
            record.scan_id,
            record.batch,
            record.serial,
            record.role.as_str()
        ));
    }
    let draw = secret.draw_number(&record.scan_id);
    if draw != record.draw {
        mismatches.push(format!(
            "recorded draw {} but the secret gives {draw}",
            record.draw
        ));
    }
    let rules = campaign.rules_of(record.architecture.as_deref());
    if let Some(name) = record.architecture.as_deref()
        && campaign.rules_name(rules) != Some(name)
    {
        mismatches.push(format!(
            "architecture `{name}` has no rules in this revision of the campaign"
        ));
    }
    let levels = campaign.levels_in(rules).len();
    let level = record.level as usize;
    if level == 0 || level > levels {
        mismatches.push(format!(
            "level {} does not exist (1 to {levels})",
            record.level
        ));
    }
    let rebate = campaign.rebate_in(rules, &record.sku);
    let drawn = rebate
        .or_else(|| {
            campaign
                .boosted_odds_table(rules, campaign.multipliers_on(record.day))
                .pick(level.saturating_sub(1), draw)
        })
        .map(|index| campaign.file.prizes[index].id.clone());
    if drawn.as_deref().unwrap_or("") != record.drawn {
        mismatches.push(format!(
            "draw {draw} at level {} wins `{}`, but `{}` was recorded",
            record.level,
            drawn.as_deref().unwrap_or("no_prize"),
            if record.drawn.is_empty() {
                "no_prize"
            } else {
                &record.drawn
            },
        ));
    }
    let substituted = record.prize != record.drawn;
    if substituted {
        let fallback = campaign
            .file
            .out_of_stock
            .as_deref()
            .filter(|f| *f != "no_prize")
            .unwrap_or("");
        if record.prize != fallback && !record.prize.is_empty() {
            mismatches.push(format!(
                "awarded `{}` instead of `{}`, but only the out-of-stock prize `{}` or nothing may replace a draw",
                record.prize, record.drawn, if fallback.is_empty() { "no_prize" } else { fallback }
            ));
        }
    }
    if mismatches.is_empty() {
        Ok(AuditedDraw {
            draw,
            drawn,
            substituted,
            rebate: rebate.is_some(),
        })
    } else {
        Err(mismatches)
    }
}
