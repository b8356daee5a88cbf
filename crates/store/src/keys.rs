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
            "{}{batch}:{}",
            self.redeemed_prefix(campaign),
            role.as_str()
        )
    }

    /// What every redemption bitmap key of a campaign starts with; the rest is
    /// `{batch}:{role}`.
    pub fn redeemed_prefix(&self, campaign: &str) -> String {
        format!("{}:redeemed:", self.campaign(campaign))
    }

    /// The stored answer of a redemption, for retries.
    pub fn result(&self, campaign: &str, batch: u32, serial: u32, role: Role) -> String {
        format!(
            "{}{batch}:{serial}:{}",
            self.result_prefix(campaign),
            role.as_str()
        )
    }

    /// Who claimed a code of a laned campaign, in the code's lane (see `claim` in
    /// scan.rs); let go by settlement just before the stored answer.
    pub fn claim(&self, tag: &str, batch: u32, serial: u32, role: Role) -> String {
        format!(
            "{}:claim:{batch}:{serial}:{}",
            self.campaign(tag),
            role.as_str()
        )
    }

    /// What every stored answer's key starts with.
    pub fn result_prefix(&self, campaign: &str) -> String {
        format!("{}:result:", self.campaign(campaign))
    }

    /// A member's points, growth and scans in a campaign.
    pub fn member(&self, campaign: &str, member: &str) -> String {
        format!("{}{member}", self.member_prefix(campaign))
    }

    /// What every member key of a campaign starts with; the rest is the member id.
    pub fn member_prefix(&self, campaign: &str) -> String {
        format!("{}:member:", self.campaign(campaign))
    }

    /// Awards per prize, all time.
    pub fn awarded(&self, campaign: &str) -> String {
        format!("{}:awarded", self.campaign(campaign))
    }

    /// Held by the one process moving a laned campaign's stock between its bank
    /// (lane 0's awards hash) and its lanes, so two never move the same change.
    pub fn allot_lease(&self, campaign: &str) -> String {
        format!("{}:allot-lease", self.campaign(campaign))
    }

    /// Awards per prize on a campaign day.
    pub fn awarded_on(&self, campaign: &str, day: &str) -> String {
        format!("{}:awarded:{day}", self.campaign(campaign))
    }

    /// Scans, diversions and scans per region.
    pub fn stats(&self, campaign: &str) -> String {
        format!("{}:stats", self.campaign(campaign))
    }

    /// A month's scan leaderboard, campaign-wide or for one region.
    pub fn board(&self, campaign: &str, period: &str, region: Option<&str>) -> String {
        match region {
            Some(region) => format!("{}:board:{period}:region:{region}", self.campaign(campaign)),
            None => format!("{}:board:{period}", self.campaign(campaign)),
        }
    }

    /// The settlement stream.
    pub fn events(&self, campaign: &str) -> String {
        format!("{}:events", self.campaign(campaign))
    }

    /// Every key of a campaign, for `SCAN ... MATCH` in tools and tests.
    pub fn campaign_pattern(&self, campaign: &str) -> String {
        format!("{}:*", glob_escape(&self.campaign(campaign)))
    }

    /// Every key starting with `prefix` (one of the `*_prefix` keys), for `SCAN ... MATCH`.
    pub fn pattern(prefix: &str) -> String {
        format!("{}*", glob_escape(prefix))
    }
}

/// Escapes what `MATCH` would read as a wildcard, so a prefix or campaign id with `*`,
/// `?` or `[` matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_start_with_their_prefixes() {
        let keys = Keys::new("yima");
        let member = keys.member("c1", "alice");
        assert_eq!(member, "yima:{c1}:member:alice");
        assert_eq!(
            member.strip_prefix(&keys.member_prefix("c1")),
            Some("alice")
        );
        let bits = keys.redeemed("c1", 7, Role::Dealer);
        assert_eq!(
            bits.strip_prefix(&keys.redeemed_prefix("c1")),
            Some("7:dealer")
        );
    }

    #[test]
    fn patterns_escape_wildcards() {
        let keys = Keys::new("t*[1]");
        assert_eq!(keys.campaign_pattern("c?"), r"t\*\[1\]:{c\?}:*");
        assert_eq!(
            Keys::pattern(&keys.member_prefix("c")),
            r"t\*\[1\]:{c}:member:*"
        );
    }
}
