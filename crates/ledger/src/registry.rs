//! The brand-wide member registry (`member_registry`, `member_blocks`,
//! `member_changes`): registration, ops' search, tags and blocks. Every change is a row
//! of `member_changes` written in the same transaction, and a notification gateways
//! follow.

use crate::{Ledger, LedgerError};

/// What a member registers with: checked by the caller (`yima_identity::profile`).
#[derive(Debug, Clone)]
pub struct NewMember<'a> {
    /// The member id (the token's `sub`).
    pub member: &'a str,
    /// From the invite.
    pub architecture: &'a str,
    /// From the invite.
    pub channel: &'a str,
    /// From the invite.
    pub tags: &'a [String],
    /// Display name.
    pub nickname: Option<&'a str>,
    /// Region code.
    pub region: Option<&'a str>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<&'a str>,
    /// Keyed digest of the normalised phone.
    pub phone_digest: Option<[u8; 32]>,
    /// `138****5678`.
    pub phone_masked: Option<&'a str>,
}

/// A registered member as ops and the member read them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Profile {
    /// Member id.
    pub member: String,
    /// Architecture id.
    pub architecture: String,
    /// Where the invite was handed out.
    pub channel: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    /// The masked phone.
    pub phone: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// When they registered, ms since the epoch.
    pub registered_at_ms: i64,
    /// Why they are blocked, if they are.
    pub blocked: Option<String>,
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// A new member.
    Created(Profile),
    /// Already registered in the same architecture: nothing changed (a retry).
    Existing(Profile),
    /// Already registered in another architecture: nothing changed.
    Elsewhere(Profile),
}

/// A page of a member search.
#[derive(Debug, Clone)]
pub struct MemberPage {
    /// In member order.
    pub items: Vec<Profile>,
    /// The member the next page starts after; `None` on the last page.
    pub next: Option<String>,
}

/// Which members a search is for; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Architecture id.
    pub architecture: Option<String>,
    /// A tag the member has.
    pub tag: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Only blocked (`true`) or only unblocked (`false`) members.
    pub blocked: Option<bool>,
    /// The keyed digest of a phone number (the number itself is not stored).
    pub phone_digest: Option<[u8; 32]>,
}

/// How the gateway must treat a member's scans, for the few members that differ from
/// an unregistered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Member id.
    pub member: String,
    /// The architecture, if registered in one the caller asked about.
    pub architecture: Option<String>,
    /// Blocked: no scan is drawn.
    pub blocked: bool,
}

const PROFILE: &str = "SELECT r.member, r.architecture, r.channel, r.nickname, r.region,
        to_char(r.birthday, 'YYYY-MM-DD') AS birthday, r.phone_masked AS phone,
        ARRAY(SELECT unnest(r.tags) ORDER BY 1) AS tags,
        round(extract(epoch FROM r.registered_at) * 1000)::bigint AS registered_at_ms,
        b.reason AS blocked
   FROM member_registry r LEFT JOIN member_blocks b ON b.member = r.member";

impl Ledger {
    /// Registers a member once: a second registration changes nothing and says
    /// whether it named the same architecture.
    pub async fn register(&self, new: &NewMember<'_>) -> Result<Registered, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let mut tags = new.tags.to_vec();
        tags.sort();
        tags.dedup();
        let inserted = sqlx::query(
            "INSERT INTO member_registry (member, architecture, channel, nickname, region,
                                          birthday, phone_digest, phone_masked, tags)
             VALUES ($1, $2, $3, $4, $5, $6::date, $7, $8, $9)
             ON CONFLICT (member) DO NOTHING",
        )
        .bind(new.member)
        .bind(new.architecture)
        .bind(new.channel)
        .bind(new.nickname)
        .bind(new.region)
        .bind(new.birthday)
        .bind(new.phone_digest.map(Vec::from))
        .bind(new.phone_masked)
        .bind(&tags)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            record(&mut tx, new.member, "registered", new.architecture).await?;
        }
        let profile: Profile = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PROFILE} WHERE r.member = $1"
        )))
        .bind(new.member)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if inserted {
            Registered::Created(profile)
        } else if profile.architecture == new.architecture {
            Registered::Existing(profile)
        } else {
            Registered::Elsewhere(profile)
        })
    }

    /// A registered member's profile.
    pub async fn profile(&self, member: &str) -> Result<Option<Profile>, LedgerError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PROFILE} WHERE r.member = $1"
        )))
        .bind(member)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Registered members matching `filter`, in member order, a page of `limit` after
    /// `after` (keyset: the next page starts after the last member of this one).
    pub async fn search_members(
        &self,
        filter: &MemberFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<MemberPage, LedgerError> {
        let sql = format!(
            "{PROFILE}
              WHERE ($1::text IS NULL OR r.architecture = $1)
                AND ($2::text IS NULL OR r.tags @> ARRAY[$2::text])
                AND ($3::text IS NULL OR r.region = $3)
                AND ($4::text IS NULL OR r.channel = $4)
                AND ($5::boolean IS NULL OR (b.member IS NOT NULL) = $5)
                AND ($6::text IS NULL OR r.member > $6)
                AND ($8::bytea IS NULL OR r.phone_digest = $8)
              ORDER BY r.member
              LIMIT $7"
        );
        // One row more than the page says whether another follows.
        let mut items: Vec<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.architecture.as_deref())
            .bind(filter.tag.as_deref())
            .bind(filter.region.as_deref())
            .bind(filter.channel.as_deref())
            .bind(filter.blocked)
            .bind(after)
            .bind(limit.saturating_add(1))
            .bind(filter.phone_digest.map(Vec::from))
            .fetch_all(&self.pool)
            .await?;
        let keep = usize::try_from(limit).unwrap_or(0);
        let next = (items.len() > keep).then(|| {
            items.truncate(keep);
            items.last().map(|p| p.member.clone())
        });
        Ok(MemberPage {
            items,
            next: next.flatten(),
        })
    }

    /// Adds and removes tags; the member's tags after, or `None` if not registered.
    pub async fn retag_member(
        &self,
        member: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Option<Vec<String>>, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let tags: Option<Vec<String>> = sqlx::query_scalar(
            "UPDATE member_registry
                SET tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || $2::text[]) AS t
                                  WHERE t <> ALL ($3::text[]) ORDER BY 1)
              WHERE member = $1
             RETURNING tags",
        )
        .bind(member)
        .bind(add)
        .bind(remove)
        .fetch_optional(&mut *tx)
        .await?;
        if tags.is_some() {
            let detail = format!("+{} -{}", add.join(","), remove.join(","));
            record(&mut tx, member, "tags", &detail).await?;
        }
        tx.commit().await?;
        Ok(tags)
    }

    /// Blocks a member (registered or not); `false` if already blocked.
    pub async fn block_member(&self, member: &str, reason: &str) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let blocked = sqlx::query(
            "INSERT INTO member_blocks (member, reason) VALUES ($1, $2)
             ON CONFLICT (member) DO NOTHING",
        )
        .bind(member)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if blocked {
            record(&mut tx, member, "blocked", reason).await?;
        }
        tx.commit().await?;
        Ok(blocked)
    }

    /// Lifts a block; `false` if there was none.
    pub async fn unblock_member(&self, member: &str) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let lifted = sqlx::query("DELETE FROM member_blocks WHERE member = $1")
            .bind(member)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if lifted {
            record(&mut tx, member, "unblocked", "").await?;
        }
        tx.commit().await?;
        Ok(lifted)
    }

    /// Every member registered in one of `architectures`, and every blocked member:
    /// the members whose scans a gateway treats differently.
    pub async fn standings(&self, architectures: &[String]) -> Result<Vec<Standing>, LedgerError> {
        let rows: Vec<(String, Option<String>, bool)> = sqlx::query_as(
            "SELECT coalesce(r.member, b.member), r.architecture, b.member IS NOT NULL
               FROM (SELECT member, architecture FROM member_registry
                      WHERE architecture = ANY ($1)) r
               FULL JOIN member_blocks b ON b.member = r.member",
        )
        .bind(architectures)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(member, architecture, blocked)| Standing {
                member,
                architecture,
                blocked,
            })
            .collect())
    }

    /// One member's standing, as [`Ledger::standings`] would list it (or not).
    pub async fn standing(
        &self,
        member: &str,
        architectures: &[String],
    ) -> Result<Standing, LedgerError> {
        let (architecture, blocked): (Option<String>, bool) = sqlx::query_as(
            "SELECT (SELECT architecture FROM member_registry
                      WHERE member = $1 AND architecture = ANY ($2)),
                    EXISTS (SELECT 1 FROM member_blocks WHERE member = $1)",
        )
        .bind(member)
        .bind(architectures)
        .fetch_one(&self.pool)
        .await?;
        Ok(Standing {
            member: member.to_string(),
            architecture,
            blocked,
        })
    }
}

async fn record(
    tx: &mut sqlx::PgConnection,
    member: &str,
    change: &str,
    detail: &str,
) -> Result<(), LedgerError> {
    sqlx::query("INSERT INTO member_changes (member, change, detail) VALUES ($1, $2, $3)")
        .bind(member)
        .bind(change)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}
