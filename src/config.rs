//! The one typed configuration: `config/yima.toml` (or `--config`), then `YIMA_*`
//! environment variables on top. Loaded once in `main` and handed down as plain values.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use yima_campaign::DrawKeyRing;
use yima_code::KeyRing;

/// Every setting, by section. Each key can be overridden by `YIMA_<SECTION>_<KEY>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The book of record.
    pub postgres: PostgresConfig,
    /// Hot counters and the settlement stream.
    pub redis: RedisConfig,
    /// The gateway's listener.
    pub http: HttpConfig,
    /// Admin routes.
    pub admin: AdminConfig,
    /// Member tokens: who a scan or a `/v1/me` request is for.
    pub members: MembersConfig,
    /// The brand's own back end.
    pub service: ServiceConfig,
    /// Code signing and printing.
    pub code: CodeConfig,
    /// The keys draw secrets are sealed under.
    pub draw: DrawConfig,
    /// Cash payouts through the payment webhook.
    pub payouts: PayoutsConfig,
    /// Scan rate limits.
    pub limits: LimitsConfig,
}

/// `[postgres]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// `YIMA_POSTGRES_URL`
    pub url: Secret,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/yima"),
        }
    }
}

/// `[redis]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `YIMA_REDIS_URL`; several comma-separated seeds mean Redis Cluster.
    pub url: Secret,
    /// `YIMA_KEY_PREFIX` (or `YIMA_REDIS_KEY_PREFIX`): prefix of every key written.
    #[serde(deserialize_with = "text")]
    pub key_prefix: String,
    /// `YIMA_REDIS_ANSWER_GRACE_SECONDS`: how long a settled scan's answer stays in
    /// Redis for retries; after it a retry is answered from Postgres, the same bytes.
    /// Redis holds about scans per second × (settlement lag + this) × 120 bytes.
    pub answer_grace_seconds: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379"),
            key_prefix: "yima".into(),
            answer_grace_seconds: yima_settle::DEFAULT_ANSWER_GRACE.as_secs(),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `YIMA_HTTP_LISTEN`
    #[serde(deserialize_with = "text")]
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// `YIMA_ADMIN_TOKEN`; without one, admin routes refuse every request.
    pub token: Option<Secret>,
}

/// `[members]`: member tokens, JWTs the brand's login issues, and the registry's
/// architectures and invites (see docs/members.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MembersConfig {
    /// `YIMA_MEMBERS_JWT_SECRET`: HS256 secret, at least 32 bytes.
    pub jwt_secret: Option<Secret>,
    /// `YIMA_MEMBERS_JWKS_FILE`: RS256/ES256 public keys, selected by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// `YIMA_MEMBERS_ISSUER`: when set, a token's `iss` must equal it.
    #[serde(deserialize_with = "optional_text")]
    pub issuer: Option<String>,
    /// `YIMA_MEMBERS_AUDIENCE`: when set, a token's `aud` must name it.
    #[serde(deserialize_with = "optional_text")]
    pub audience: Option<String>,
    /// `YIMA_MEMBERS_DEV_LOGIN=1`: serve `POST /v1/dev/login` (the demo). Refused
    /// unless the gateway listens on loopback.
    #[serde(deserialize_with = "flag")]
    pub dev_login: bool,
    /// `YIMA_MEMBERS_INVITE_SECRET`: HS256 secret registration invites are signed
    /// with (at least 32 bytes, not the token secret); also keys the phone digests.
    /// Without it nobody can register.
    pub invite_secret: Option<Secret>,
    /// `YIMA_MEMBERS_LOGIN_URL`: the brand's login (WeChat OAuth, phone + SMS), where
    /// the scan page sends a phone without a session; an `http(s)://` URL.
    #[serde(deserialize_with = "optional_text")]
    pub login_url: Option<String>,
    /// The brand's member architectures, each with the scan role its members take.
    pub architectures: Vec<ArchitectureConfig>,
}

/// One architecture of `[members]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchitectureConfig {
    /// Stable id, in invites and the registry (`dealer`).
    pub id: String,
    /// Display name (`经销商`).
    pub name: String,
    /// `consumer` or `dealer`: the role every scan of its members takes.
    pub role: yima_campaign::Role,
}

impl Default for MembersConfig {
    fn default() -> Self {
        let architecture = |id: &str, name: &str, role| ArchitectureConfig {
            id: id.into(),
            name: name.into(),
            role,
        };
        Self {
            jwt_secret: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            dev_login: false,
            invite_secret: None,
            login_url: None,
            architectures: vec![
                architecture("tradesman", "小工", yima_campaign::Role::Consumer),
                architecture("dealer", "经销商", yima_campaign::Role::Dealer),
                architecture("decorator", "装企", yima_campaign::Role::Consumer),
            ],
        }
    }
}

/// `[service]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// `YIMA_SERVICE_TOKEN`: bearer token of the brand's back end, which may act for
    /// any member it names; without one, `/v1/members/{member}/…` takes the admin
    /// token only.
    pub token: Option<Secret>,
}

/// `[code]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeConfig {
    /// `YIMA_CODE_KEYS`: `id:hex` pairs; the highest id signs new batches.
    pub keys: Option<Secret>,
    /// `YIMA_CODE_KEYS_FILE`: a file of `id:hex` lines, for keys kept outside the env.
    pub keys_file: Option<PathBuf>,
    /// `YIMA_CODE_URL_PREFIX`: what `gen --format url|csv` puts before each code.
    #[serde(deserialize_with = "text")]
    pub url_prefix: String,
}

impl Default for CodeConfig {
    fn default() -> Self {
        Self {
            keys: None,
            keys_file: None,
            url_prefix: "https://yima.example/s/".into(),
        }
    }
}

/// `[draw]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrawConfig {
    /// `YIMA_DRAW_KEYS`: `id:hex` pairs of 32-byte keys; the highest id seals new
    /// draw secrets, every one opens them. Gateways, `campaign apply`, `audit` and
    /// `migrate` need them; the settlement worker does not.
    pub keys: Option<Secret>,
    /// `YIMA_DRAW_KEYS_FILE`: a file of `id:hex` lines, for keys kept outside the env.
    pub keys_file: Option<PathBuf>,
}

/// `[payouts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayoutsConfig {
    /// `YIMA_PAYOUTS_WEBHOOK_URL`: where `yima settle` POSTs cash payouts; unset, they
    /// wait in the outbox.
    pub webhook_url: Option<Secret>,
    /// `YIMA_PAYOUTS_SECRET`: the HMAC-SHA256 key of the signature header.
    pub secret: Option<Secret>,
    /// Attempts before a payout is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failure, doubled each time.
    pub retry_base_ms: u64,
    /// Longest wait between attempts.
    pub retry_max_ms: u64,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Requests in flight at once.
    pub concurrency: u16,
    /// `YIMA_PAYOUTS_ALLOW_HTTP`: accept an `http://` webhook (development only).
    pub allow_http: bool,
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            secret: None,
            max_attempts: 12,
            retry_base_ms: 1_000,
            retry_max_ms: 600_000,
            timeout_ms: 5_000,
            concurrency: 16,
            allow_http: false,
        }
    }
}

/// `[limits]`: scan rate limits of each gateway process (see `yima_gateway::Limits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `YIMA_LIMITS_MEMBER_PER_MINUTE`: scans per member per minute, sustained; 0 is off.
    pub member_per_minute: u32,
    /// `YIMA_LIMITS_MEMBER_BURST`: scans a member may make at once.
    pub member_burst: u32,
    /// `YIMA_LIMITS_IP_PER_MINUTE`: scans per client address per minute; 0 is off.
    /// Generous by default: mobile carriers put thousands of phones behind one address.
    pub ip_per_minute: u32,
    /// `YIMA_LIMITS_IP_BURST`: scans an address may make at once.
    pub ip_burst: u32,
    /// `YIMA_LIMITS_TRUSTED_PROXIES`: networks (`10.0.0.0/8`) or addresses whose
    /// `X-Forwarded-For` is believed; a list, or commas in the environment. Empty: the
    /// TCP peer is the client.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<yima_gateway::IpNet>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            member_per_minute: 30,
            member_burst: 30,
            ip_per_minute: 6_000,
            ip_burst: 1_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitsConfig {
    /// The gateway's limits.
    pub fn limits(&self) -> yima_gateway::Limits {
        use yima_gateway::Rate;
        yima_gateway::Limits::new(
            Rate {
                per_minute: self.member_per_minute,
                burst: self.member_burst,
            },
            Rate {
                per_minute: self.ip_per_minute,
                burst: self.ip_burst,
            },
            self.trusted_proxies.clone(),
        )
    }
}

/// `["10.0.0.0/8", "192.0.2.7"]` or `"10.0.0.0/8,192.0.2.7"`; a bare address is its
/// own /32 or /128.
fn networks<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<yima_gateway::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a list of networks or a comma-separated string")]
    enum Networks {
        List(Vec<String>),
        Text(String),
    }
    let entries = match Networks::deserialize(deserializer)? {
        Networks::List(list) => list,
        Networks::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<yima_gateway::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(Into::into))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not a network (10.0.0.0/8) or an address"
                    ))
                })
        })
        .collect()
}

/// A string setting as written in TOML or the environment, where `YIMA_ADMIN_TOKEN=1234`
/// arrives as a number; all scalars are taken as their text.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string")]
enum Scalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
}

impl From<Scalar> for String {
    fn from(scalar: Scalar) -> Self {
        match scalar {
            Scalar::Text(text) => text,
            Scalar::Unsigned(n) => n.to_string(),
            Scalar::Signed(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Scalar::deserialize(deserializer).map(String::from)
}

fn optional_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Option::<Scalar>::deserialize(deserializer).map(|scalar| scalar.map(String::from))
}

/// `true`/`false`, or `1`/`0` as an environment variable says it.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Scalar::deserialize(deserializer)? {
        Scalar::Bool(on) => Ok(on),
        Scalar::Unsigned(1) => Ok(true),
        Scalar::Unsigned(0) => Ok(false),
        Scalar::Text(text) if text == "true" || text == "1" => Ok(true),
        Scalar::Text(text) if text == "false" || text == "0" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true, false, 1 or 0, not {:?}",
            String::from(other)
        ))),
    }
}

/// A string that never shows up in logs or `Debug` output (URLs carry passwords) and
/// is wiped from memory when dropped: secrecy's box around the text.
#[derive(Clone, Deserialize)]
#[serde(from = "Scalar")]
pub struct Secret(SecretString);

impl From<Scalar> for Secret {
    fn from(scalar: Scalar) -> Self {
        Self::new(String::from(scalar))
    }
}

impl Secret {
    /// A secret given in code (a test's, or a tool's that builds its `Config` itself).
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

const SECTIONS: [&str; 10] = [
    "postgres", "redis", "http", "admin", "members", "service", "code", "draw", "payouts", "limits",
];

impl Config {
    /// Loads `path` (an explicit path must exist; the default one may be absent), then
    /// the environment. Unknown keys and wrong types are errors naming the key and
    /// where it came from.
    pub fn load(path: &Path, explicit: bool) -> anyhow::Result<Self> {
        if explicit && !path.is_file() {
            bail!("config file {} does not exist", path.display());
        }
        let env = Env::prefixed("YIMA_")
            .map(|key| match key.as_str().to_ascii_lowercase().as_str() {
                // The contract's name for the Redis key prefix has no section.
                "key_prefix" => "redis.key_prefix".into(),
                other => other.replacen('_', ".", 1).into(),
            })
            // Other YIMA_ variables (test harnesses, scripts) are not settings.
            .filter(|key| {
                SECTIONS
                    .iter()
                    .any(|section| key.as_str().starts_with(section))
            });
        let config: Self = Figment::new()
            .merge(Toml::file(path))
            .merge(env)
            .extract()
            .context("invalid configuration")?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: empty secrets, a webhook without its secret, zero
    /// limits. [`Config::load`] calls it; so does anything building a `Config` by hand.
    pub fn check(&self) -> anyhow::Result<()> {
        let prefix = &self.code.url_prefix;
        if prefix
            .chars()
            .any(|c| c == ',' || c == '"' || c.is_whitespace() || c.is_control())
        {
            bail!(
                "code.url_prefix must not contain commas, quotes or whitespace (it goes into CSV)"
            );
        }
        // An empty secret would admit a request that sends none, or sign with no key.
        for (name, secret) in [
            ("admin.token (YIMA_ADMIN_TOKEN)", &self.admin.token),
            ("service.token (YIMA_SERVICE_TOKEN)", &self.service.token),
            (
                "members.jwt_secret (YIMA_MEMBERS_JWT_SECRET)",
                &self.members.jwt_secret,
            ),
            (
                "members.invite_secret (YIMA_MEMBERS_INVITE_SECRET)",
                &self.members.invite_secret,
            ),
            ("code.keys (YIMA_CODE_KEYS)", &self.code.keys),
            ("draw.keys (YIMA_DRAW_KEYS)", &self.draw.keys),
            (
                "payouts.webhook_url (YIMA_PAYOUTS_WEBHOOK_URL)",
                &self.payouts.webhook_url,
            ),
            ("payouts.secret (YIMA_PAYOUTS_SECRET)", &self.payouts.secret),
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose().trim().is_empty())
            {
                bail!("{name} is set but empty: unset it, or give it a value");
            }
        }
        for (name, token) in [
            ("service.token", &self.service.token),
            ("admin.token", &self.admin.token),
        ] {
            if token
                .as_ref()
                .is_some_and(|t| yima_gateway::looks_like_jwt(t.expose()))
            {
                bail!("{name} looks like a JWT (eyJ….….…): it would be taken for a member token");
            }
        }
        if let (Some(service), Some(admin)) = (&self.service.token, &self.admin.token)
            && service.expose() == admin.expose()
        {
            bail!("service.token and admin.token must differ: each names who may pass");
        }
        self.member_tokens()?;
        self.registry()?;
        let payouts = &self.payouts;
        if payouts.webhook_url.is_some() && payouts.secret.is_none() {
            bail!(
                "payouts.secret is required when payouts.webhook_url is set (it signs each request)"
            );
        }
        if payouts.max_attempts == 0 || payouts.concurrency == 0 || payouts.timeout_ms == 0 {
            bail!(
                "payouts.max_attempts, payouts.concurrency and payouts.timeout_ms must be at least 1"
            );
        }
        Ok(())
    }

    /// The member token verifier, when a secret or a key file is configured.
    pub fn member_tokens(&self) -> anyhow::Result<Option<yima_identity::MemberTokens>> {
        let members = &self.members;
        if members.jwt_secret.is_none() && members.jwks_file.is_none() {
            return Ok(None);
        }
        let jwks = members
            .jwks_file
            .as_ref()
            .map(|file| {
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read members.jwks_file {}", file.display()))
            })
            .transpose()?;
        yima_identity::MemberTokens::new(yima_identity::TokenKeys {
            hs256_secret: members.jwt_secret.as_ref().map(|s| s.expose().as_bytes()),
            jwks: jwks.as_deref(),
            issuer: members.issuer.as_deref(),
            audience: members.audience.as_deref(),
        })
        .map(Some)
        .context("members")
    }

    /// The registry's architectures and invite signer.
    pub fn registry(&self) -> anyhow::Result<yima_gateway::Registry> {
        let members = &self.members;
        let mut seen = std::collections::HashSet::new();
        for architecture in &members.architectures {
            yima_identity::profile::check_label(&architecture.id, "an architecture id")
                .context("members.architectures")?;
            if !seen.insert(architecture.id.as_str()) {
                bail!(
                    "members.architectures: `{}` is listed twice",
                    architecture.id
                );
            }
        }
        if let Some(url) = &members.login_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("members.login_url must be an http:// or https:// URL, not `{url}`");
        }
        match members.architectures.first() {
            None => bail!("members.architectures: at least one is needed"),
            Some(first) if first.role == yima_campaign::Role::Dealer => bail!(
                "members.architectures: the first, `{}`, is where unregistered members count and must have the consumer role",
                first.id
            ),
            Some(_) => {}
        }
        let invites = match &members.invite_secret {
            Some(secret) => {
                if members
                    .jwt_secret
                    .as_ref()
                    .is_some_and(|token| token.expose() == secret.expose())
                {
                    bail!("members.invite_secret must differ from members.jwt_secret");
                }
                Some(
                    yima_identity::Invites::new(secret.expose().as_bytes())
                        .context("members.invite_secret")?,
                )
            }
            None => None,
        };
        Ok(yima_gateway::Registry {
            architectures: members
                .architectures
                .iter()
                .map(|a| yima_gateway::Architecture {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    role: a.role,
                })
                .collect(),
            invites,
        })
    }

    /// Every credential the gateway accepts.
    pub fn credentials(&self) -> anyhow::Result<yima_gateway::Credentials> {
        let bearer = |token: &Option<Secret>, name: &str| {
            token
                .as_ref()
                .map(|token| yima_gateway::BearerToken::new(token.expose()))
                .transpose()
                .with_context(|| name.to_string())
        };
        Ok(yima_gateway::Credentials {
            members: self.member_tokens()?,
            service: bearer(&self.service.token, "service.token")?,
            admin: bearer(&self.admin.token, "admin.token")?,
        })
    }

    /// The payout dispatcher's settings, when a webhook is configured.
    pub fn payouts(&self) -> Option<yima_payout::Settings> {
        let payouts = &self.payouts;
        let url = payouts.webhook_url.as_ref()?.expose().to_string();
        let ms = std::time::Duration::from_millis;
        Some(yima_payout::Settings {
            url,
            secret: payouts.secret.as_ref()?.expose().as_bytes().to_vec(),
            max_attempts: payouts.max_attempts,
            retry_base: ms(payouts.retry_base_ms),
            retry_max: ms(payouts.retry_max_ms),
            timeout: ms(payouts.timeout_ms),
            concurrency: usize::from(payouts.concurrency),
            poll: ms(500),
            allow_http: payouts.allow_http,
        })
    }

    /// The code keys from `code.keys` or `code.keys_file`; an error says how to set them.
    pub fn key_ring(&self) -> anyhow::Result<KeyRing> {
        let spec = key_list(&self.code.keys, &self.code.keys_file, "code", "")?;
        KeyRing::parse(&spec).context("invalid code keys")
    }

    /// The draw keys from `draw.keys` or `draw.keys_file`; an error says how to set them.
    pub fn draw_keys(&self) -> anyhow::Result<DrawKeyRing> {
        let spec = key_list(
            &self.draw.keys,
            &self.draw.keys_file,
            "draw",
            " (32-byte keys; draw secrets are stored sealed under them)",
        )?;
        DrawKeyRing::parse(&spec).context("invalid draw keys")
    }
}

/// A key list given as `<kind>.keys` or read from `<kind>.keys_file`; without either,
/// an error that says how to give one.
fn key_list(
    keys: &Option<Secret>,
    file: &Option<PathBuf>,
    kind: &str,
    hint: &str,
) -> anyhow::Result<String> {
    match (keys, file) {
        (Some(keys), _) => Ok(keys.expose().to_string()),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {kind} keys file {}", file.display())),
        (None, None) => {
            let env = kind.to_ascii_uppercase();
            bail!(
                "no {kind} keys: set YIMA_{env}_KEYS=id:hex[,id:hex...] or YIMA_{env}_KEYS_FILE{hint}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names a section knows, as serde lists them when refusing an unknown
    /// one: a field added to the struct appears here by itself.
    fn fields<T: serde::de::DeserializeOwned + fmt::Debug>() -> Vec<String> {
        let error = Figment::from(Toml::string("zz_not_a_setting = 1"))
            .extract::<T>()
            .expect_err("an unknown key is refused")
            .to_string();
        let expected = error.split_once("expected").map_or("", |(_, rest)| rest);
        // figment quotes serde's list again: keep the quoted words that are names.
        expected
            .split('`')
            .filter(|word| {
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .map(str::to_string)
            .collect()
    }

    fn from_toml(text: &str) -> anyhow::Result<Config> {
        let config: Config = Figment::from(Toml::string(text)).extract()?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn unsafe_credentials_are_configuration_errors() {
        for (text, expected) in [
            ("[members]\njwt_secret = \"\"", "members.jwt_secret"),
            ("[members]\njwt_secret = \"short\"", "at least 32"),
            ("[service]\ntoken = \" \"", "service.token"),
            (
                "[service]\ntoken = \"same\"\n[admin]\ntoken = \"same\"",
                "must differ",
            ),
            (
                "[members]\njwks_file = \"/nonexistent/jwks.json\"",
                "cannot read members.jwks_file",
            ),
            (
                "[members]\njwt_secret = \"0123456789abcdef0123456789abcdef\"\nissuer = \"\"",
                "ISSUER",
            ),
            ("[service]\ntoken = \"eyJa.b.c\"", "looks like a JWT"),
            (
                "[members]\ndev_login = \"yes\"",
                "expected true, false, 1 or 0",
            ),
            ("[members]\narchitectures = []", "at least one is needed"),
            (
                "[members]\nlogin_url = \"javascript:alert(1)\"",
                "members.login_url must be an http",
            ),
            (
                "[[members.architectures]]\nid = \"dealer\"\nname = \"D\"\nrole = \"dealer\"",
                "must have the consumer role",
            ),
        ] {
            let error = format!("{:#}", from_toml(text).expect_err(text));
            assert!(error.contains(expected), "{text}: {error}");
        }
        let on = from_toml(
            "[members]\ndev_login = 1\njwt_secret = \"0123456789abcdef0123456789abcdef\"",
        )
        .expect("valid");
        assert!(on.members.dev_login);
        assert!(on.member_tokens().expect("keys").is_some());
    }

    #[test]
    fn the_shipped_file_documents_every_setting() {
        let text = std::fs::read_to_string("config/yima.toml").expect("config/yima.toml");
        let sections: [(&str, Vec<String>); 10] = [
            ("postgres", fields::<PostgresConfig>()),
            ("redis", fields::<RedisConfig>()),
            ("http", fields::<HttpConfig>()),
            ("admin", fields::<AdminConfig>()),
            ("members", fields::<MembersConfig>()),
            ("service", fields::<ServiceConfig>()),
            ("code", fields::<CodeConfig>()),
            ("draw", fields::<DrawConfig>()),
            ("payouts", fields::<PayoutsConfig>()),
            ("limits", fields::<LimitsConfig>()),
        ];
        let known: Vec<&str> = sections.iter().map(|(name, _)| *name).collect();
        assert_eq!(known, SECTIONS, "every section of Config is listed here");
        assert_eq!(
            fields::<Config>(),
            SECTIONS,
            "Config has exactly these sections"
        );
        for (section, keys) in &sections {
            assert!(!keys.is_empty(), "{section}");
            let body = text
                .split_once(&format!("\n[{section}]\n"))
                .map(|(_, rest)| rest.split("\n[").next().unwrap_or(rest))
                .unwrap_or_else(|| panic!("config/yima.toml has no [{section}]"));
            for key in keys {
                let set = body.lines().any(|line| {
                    let line = line.trim_start_matches('#').trim_start();
                    line.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                });
                assert!(set, "config/yima.toml does not document {section}.{key}");
            }
        }
        // And the file as shipped is a valid configuration.
        let loaded: Config = Figment::from(Toml::string(&text))
            .extract()
            .expect("config/yima.toml loads");
        loaded.check().expect("config/yima.toml is valid");
    }
}
