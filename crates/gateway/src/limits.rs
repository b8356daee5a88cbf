//! Scan rate limits, per member and per client address.
//!
//! A member id and an address are cheap to make up, a Redis script call is not: a bot
//! replaying a stolen sheet of codes under one member, or hammering guesses from one
//! host, is turned away here before it reaches Redis. The limits are kept in this
//! process (GCRA, `governor`): with K gateways behind a round-robin balancer a client
//! can get up to K times the configured rate, so set the per-process rate to the
//! intended rate divided by K, or balance by client address.
//!
//! The client address is the TCP peer, unless the peer is a configured proxy: then it
//! is the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Every
//! entry left of that was written by the client and proves nothing.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub use ipnet::IpNet;

use crate::error::ApiError;

/// One limit: a sustained rate and the burst allowed on top of it. A zero rate turns
/// the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Scans per minute, sustained; people scan in minutes, not seconds.
    pub per_minute: u32,
    /// Scans allowed at once after a quiet spell (at least one).
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Self = Self {
        per_minute: 0,
        burst: 0,
    };

    fn quota(self) -> Option<Quota> {
        let per_minute = NonZeroU32::new(self.per_minute)?;
        let burst = NonZeroU32::new(self.burst.max(1))?;
        Some(Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// Which limit a refused scan hit, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The member scanned too fast.
    Member,
    /// The client address scanned too fast.
    Ip,
}

/// The limits of one gateway process; [`Limits::off`] for none.
pub struct Limits {
    member: Option<DefaultKeyedRateLimiter<u64>>,
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
    /// Members are keyed by a 64-bit hash (no allocation per scan); the key is random
    /// per process so no one can pick two ids that share a budget.
    hasher: std::collections::hash_map::RandomState,
}

impl Limits {
    /// Limits per member and per address; `trusted_proxies` are the networks whose
    /// `X-Forwarded-For` is believed.
    pub fn new(member: Rate, ip: Rate, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            member: member.quota().map(DefaultKeyedRateLimiter::keyed),
            ip: ip.quota().map(DefaultKeyedRateLimiter::keyed),
            trusted_proxies,
            hasher: Default::default(),
        }
    }

    /// No limits, no trusted proxies.
    pub fn off() -> Self {
        Self::new(Rate::OFF, Rate::OFF, Vec::new())
    }

    /// Counts one scan from `ip`; refused with how long to wait. An IPv6 client is
    /// its /64: one subscriber line or phone gets a whole /64 and picks any address
    /// in it, so keying by /128 would give it 2^64 budgets.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.ip {
            Some(limiter) => limiter.check_key(&budget_key(ip)).map_err(|not_until| {
                refuse(
                    Scope::Ip,
                    not_until.wait_time_from(DefaultClock::default().now()),
                )
            }),
            None => Ok(()),
        }
    }

    /// Counts one scan by `member`; refused with how long to wait.
    pub(crate) fn check_member(&self, member: &str) -> Result<(), ApiError> {
        match &self.member {
            Some(limiter) => {
                limiter
                    .check_key(&self.hasher.hash_one(member))
                    .map_err(|not_until| {
                        refuse(
                            Scope::Member,
                            not_until.wait_time_from(DefaultClock::default().now()),
                        )
                    })
            }
            None => Ok(()),
        }
    }

    /// Whether an address limit is set (the address is worked out only then).
    pub(crate) fn limits_ip(&self) -> bool {
        self.ip.is_some()
    }

    /// The client's address (see the module comment) from the TCP peer and the
    /// `X-Forwarded-For` header lines in the order received. IPv4-mapped IPv6
    /// addresses come back as IPv4, so one client has one budget.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for
            .iter()
            .rev()
            .flat_map(|value| value.rsplit(','))
        {
            // A trusted proxy writes what it saw; anything that is not an address was
            // written further left, by someone we don't trust: stop at the last hop.
            let Some(address) = forwarded_address(entry) else {
                return client;
            };
            client = address;
            if !self.trusted(address) {
                return address;
            }
        }
        client
    }

    fn trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// Forgets clients that have their whole burst back, so the tables hold only the
    /// recently active: call it every minute or so.
    pub fn sweep(&self) {
        if let Some(limiter) = &self.member {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Sweeps every `period`, forever (spawn it next to the gateway).
    pub async fn sweep_every(self: Arc<Self>, period: Duration) {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            self.sweep();
        }
    }
}

/// The budget an address draws on: itself for IPv4, its /64 for IPv6.
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as some
/// proxies write it (`198.51.100.1:4711`, `[2001:db8::1]:443`), which is the same
/// client whatever its port.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .ok_or(())
                .and_then(|inner| inner.parse::<IpAddr>().map_err(|_| ()))
        })
        .ok()
        .map(|address| address.to_canonical())
}

fn refuse(scope: Scope, wait: Duration) -> ApiError {
    ApiError::RateLimited {
        scope,
        retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn behind(proxies: &[&str]) -> Limits {
        let nets = proxies
            .iter()
            .map(|p| p.parse().expect("test network"))
            .collect();
        Limits::new(Rate::OFF, Rate::OFF, nets)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let limits = behind(&["10.0.0.0/8"]);
        assert_eq!(
            limits.client_ip(ip("203.0.113.9"), &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            behind(&[]).client_ip(ip("10.0.0.1"), &["198.51.100.1"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_names_the_client_it_saw() {
        let limits = behind(&["10.0.0.0/8"]);
        assert_eq!(
            limits.client_ip(ip("10.1.2.3"), &["198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Without a header the proxy itself is all we know.
        assert_eq!(limits.client_ip(ip("10.1.2.3"), &[]), ip("10.1.2.3"));
    }

    #[test]
    fn entries_a_client_wrote_are_ignored() {
        let limits = behind(&["10.0.0.0/8"]);
        // The client sent "1.2.3.4"; the proxy appended the address it saw.
        assert_eq!(
            limits.client_ip(ip("10.1.2.3"), &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // The same over two header lines.
        assert_eq!(
            limits.client_ip(ip("10.1.2.3"), &["1.2.3.4", "198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Garbage left of the proxy's entry changes nothing.
        assert_eq!(
            limits.client_ip(ip("10.1.2.3"), &["nonsense, 198.51.100.1"]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked() {
        let limits = behind(&["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(
            limits.client_ip(ip("10.0.0.1"), &["1.2.3.4, 198.51.100.7, 192.168.1.1"]),
            ip("198.51.100.7")
        );
        // Only proxies all the way: the left-most one is the best guess.
        assert_eq!(
            limits.client_ip(ip("10.0.0.1"), &["192.168.1.1, 10.9.9.9"]),
            ip("192.168.1.1")
        );
        // An unparsable entry right after the proxies: the last proxy is the client.
        assert_eq!(
            limits.client_ip(ip("10.0.0.1"), &["198.51.100.7, junk, 10.9.9.9"]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn ipv6_and_mapped_ipv4_peers_are_matched() {
        let limits = behind(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(
            limits.client_ip(ip("::ffff:10.0.0.1"), &["2001:db8::1"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            limits.client_ip(ip("fd00::5"), &["2001:db8::1"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            limits.client_ip(ip("2001:db8::2"), &["198.51.100.1"]),
            ip("2001:db8::2")
        );
        // A mapped client is the same client as its IPv4 self.
        assert_eq!(
            limits.client_ip(ip("::ffff:198.51.100.1"), &[]),
            ip("198.51.100.1")
        );
        assert_eq!(
            limits.client_ip(ip("10.0.0.1"), &["::ffff:198.51.100.1"]),
            ip("198.51.100.1")
        );
    }

    /// Finding 15.12: ports made every client share the proxy's budget.
    #[test]
    fn forwarded_entries_with_ports_name_their_client() {
        let limits = behind(&["10.0.0.0/8"]);
        for (header, client) in [
            ("198.51.100.1:4711", "198.51.100.1"),
            ("1.2.3.4, 198.51.100.1:4711", "198.51.100.1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("198.51.100.1:4711, 10.0.0.9:80", "198.51.100.1"),
        ] {
            assert_eq!(
                limits.client_ip(ip("10.1.2.3"), &[header]),
                ip(client),
                "{header}"
            );
        }
    }

    /// Finding 15.12: an IPv6 client is its /64, whichever address in it it uses.
    #[test]
    fn an_ipv6_client_is_limited_per_slash_64() {
        let limits = Limits::new(
            Rate::OFF,
            Rate {
                per_minute: 1,
                burst: 2,
            },
            Vec::new(),
        );
        assert!(limits.check_ip(ip("2001:db8:1:2::1")).is_ok());
        assert!(limits.check_ip(ip("2001:db8:1:2:ffff::9")).is_ok());
        assert!(limits.check_ip(ip("2001:db8:1:2:abcd:1:2:3")).is_err());
        // The next /64 is another subscriber.
        assert!(limits.check_ip(ip("2001:db8:1:3::1")).is_ok());
        // IPv4 is per address.
        assert!(limits.check_ip(ip("198.51.100.1")).is_ok());
        assert!(limits.check_ip(ip("198.51.100.2")).is_ok());
    }

    #[test]
    fn a_member_gets_its_burst_then_a_wait() {
        let limits = Limits::new(
            Rate {
                per_minute: 1,
                burst: 3,
            },
            Rate::OFF,
            Vec::new(),
        );
        for _ in 0..3 {
            assert!(limits.check_member("alice").is_ok());
        }
        match limits.check_member("alice") {
            Err(ApiError::RateLimited {
                scope: Scope::Member,
                retry_after_seconds,
            }) => assert!((1..=60).contains(&retry_after_seconds)),
            other => panic!("expected a member limit, got {other:?}"),
        }
        // Another member, and any address, are not affected.
        assert!(limits.check_member("bob").is_ok());
        assert!(limits.check_ip(ip("198.51.100.1")).is_ok());
    }

    #[test]
    fn an_address_gets_its_burst_then_a_wait() {
        let limits = Limits::new(
            Rate::OFF,
            Rate {
                per_minute: 1,
                burst: 2,
            },
            Vec::new(),
        );
        assert!(limits.check_ip(ip("198.51.100.1")).is_ok());
        assert!(limits.check_ip(ip("198.51.100.1")).is_ok());
        assert!(matches!(
            limits.check_ip(ip("198.51.100.1")),
            Err(ApiError::RateLimited {
                scope: Scope::Ip,
                ..
            })
        ));
        assert!(limits.check_ip(ip("198.51.100.2")).is_ok());
        for _ in 0..100 {
            assert!(limits.check_member("carol").is_ok());
        }
    }

    #[test]
    fn a_zero_rate_is_no_limit_and_a_zero_burst_is_one() {
        let limits = Limits::off();
        for _ in 0..1000 {
            assert!(limits.check_member("alice").is_ok());
            assert!(limits.check_ip(ip("198.51.100.1")).is_ok());
        }
        let one = Limits::new(
            Rate {
                per_minute: 1,
                burst: 0,
            },
            Rate::OFF,
            Vec::new(),
        );
        assert!(one.check_member("alice").is_ok());
        assert!(one.check_member("alice").is_err());
    }

    #[test]
    fn sweeping_keeps_those_still_waiting() {
        let limits = Limits::new(
            Rate {
                per_minute: 1,
                burst: 1,
            },
            Rate::OFF,
            Vec::new(),
        );
        assert!(limits.check_member("alice").is_ok());
        limits.sweep();
        assert!(limits.check_member("alice").is_err());
    }
}
