//! The Redis key schema, in one place.
//!
//! Every key is `{prefix}:{{campaign}}:...`: the prefix keeps deployments and tests
//! apart, the braces make the campaign a hash tag so one script call never spans
//! cluster slots.

use yima_campaign::Role;

/// Builds every key yima writes.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`YIMA_KEY_PREFIX`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    fn campaign(&self, campaign: &str) -> String {
        format!("{}:{{{campaign}}}", self.prefix)
    }

    /// Bitmap of redeemed serials of a batch in a role.
    pub fn redeemed(&self, campaign: &str, batch: u32, role: Role) -> String {
        format!(
            "{}:redeemed:{batch}:{}",
            self.campaign(campaign),
            role.as_str()
        )
    }

    /// The stored answer of a redemption, for retries.
    pub fn result(&self, campaign: &str, batch: u32, serial: u32, role: Role) -> String {
        format!(
            "{}:result:{batch}:{serial}:{}",
            self.campaign(campaign),
            role.as_str()
        )
    }

    /// A member's points, growth and scans in a campaign.
    pub fn member(&self, campaign: &str, member: &str) -> String {
        format!("{}:member:{member}", self.campaign(campaign))
    }

    /// A member's scans on a campaign day in a role.
    pub fn daily(&self, campaign: &str, day: &str, role: Role, member: &str) -> String {
        format!(
            "{}:daily:{day}:{}:{member}",
            self.campaign(campaign),
            role.as_str()
        )
    }

    /// Awards per prize, all time.
    pub fn awarded(&self, campaign: &str) -> String {
        format!("{}:awarded", self.campaign(campaign))
    }

    /// Awards per prize on a campaign day.
    pub fn awarded_on(&self, campaign: &str, day: &str) -> String {
        format!("{}:awarded:{day}", self.campaign(campaign))
    }

    /// Scans and wins.
    pub fn stats(&self, campaign: &str) -> String {
        format!("{}:stats", self.campaign(campaign))
    }

    /// The settlement stream.
    pub fn events(&self, campaign: &str) -> String {
        format!("{}:events", self.campaign(campaign))
    }

    /// Every key of a campaign, for `SCAN ... MATCH` in tools and tests.
    pub fn campaign_pattern(&self, campaign: &str) -> String {
        format!("{}:*", self.campaign(campaign))
    }
}
