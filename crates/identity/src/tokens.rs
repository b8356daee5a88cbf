//! Member tokens: HS256 under a shared secret, or RS256/ES256 under a brand's public
//! keys (a JWKS file), selected by `kid`.
//!
//! Each key is bound to exactly one algorithm when it is configured, and a token is
//! checked only against the algorithm of the key it names: `alg: none`, an HS256
//! token "signed" with an RSA public key, or an RS256 token sent to the HS256 secret
//! are all refused, whatever the token's header claims.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Shortest HS256 secret accepted: a shorter one can be brute-forced from one token.
pub const MIN_SECRET_BYTES: usize = 32;

/// What member tokens are checked against, as configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenKeys<'a> {
    /// `YIMA_MEMBERS_JWT_SECRET`: the HS256 secret, at least [`MIN_SECRET_BYTES`].
    pub hs256_secret: Option<&'a [u8]>,
    /// The text of `YIMA_MEMBERS_JWKS_FILE`: RS256 and ES256 public keys, each with
    /// a `kid`.
    pub jwks: Option<&'a str>,
    /// `YIMA_MEMBERS_ISSUER`: when set, `iss` must equal it.
    pub issuer: Option<&'a str>,
    /// `YIMA_MEMBERS_AUDIENCE`: when set, `aud` must name it.
    pub audience: Option<&'a str>,
}

/// A configuration that cannot verify tokens safely: refused at start-up, never
/// turned into "accept everything".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Neither a secret nor a key file.
    #[error("no member token keys: set YIMA_MEMBERS_JWT_SECRET or YIMA_MEMBERS_JWKS_FILE")]
    NoKeys,
    /// The HS256 secret is too short to resist guessing.
    #[error("the member token secret has {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    SecretTooShort {
        /// Its length.
        len: usize,
    },
    /// The key file is not a JWKS document.
    #[error("the JWKS file is not a key set: {0}")]
    Jwks(String),
    /// The key file holds no keys.
    #[error("the JWKS file holds no keys")]
    EmptyJwks,
    /// A key cannot be selected without a `kid`.
    #[error("JWKS key #{index} has no `kid`")]
    KeyWithoutId {
        /// Its position in the file, from 0.
        index: usize,
    },
    /// Two keys share a `kid`.
    #[error("JWKS key id `{0}` appears twice")]
    DuplicateKeyId(String),
    /// A key that is not an RS256 or ES256 signing key.
    #[error("JWKS key `{kid}`: {reason}")]
    UnsupportedKey {
        /// The key's id.
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An issuer or audience set to the empty string would never match.
    #[error("YIMA_MEMBERS_{0} is set but empty")]
    Empty(&'static str),
    /// A token was asked for without an HS256 secret to sign it.
    #[error("tokens can be issued only with YIMA_MEMBERS_JWT_SECRET")]
    CannotIssue,
}

/// Why a token was refused. Every case answers 401 the same way; the reason is for
/// the log and the metrics, never for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// Not a JWT, or its header names no algorithm yima knows (`none` included).
    #[error("malformed token")]
    Malformed,
    /// No configured key for the token's `kid` and algorithm.
    #[error("no key for this token")]
    UnknownKey,
    /// The header's algorithm is not the one the selected key is bound to.
    #[error("algorithm does not match the key")]
    Algorithm,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// A required claim is missing or wrong (`exp`, `sub`, `iss`, `aud`, `nbf`).
    #[error("claims: {0}")]
    Claims(String),
}

/// The claim yima reads; the decoder checks `exp`, `nbf`, `iss` and `aud` itself, and
/// everything else a brand puts in its token is ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// What a token yima issues says.
#[derive(Serialize)]
struct Issued<'a> {
    sub: &'a str,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// One key and the only algorithm it verifies.
struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// Verifies member tokens, and issues HS256 ones for the demo's dev login.
pub struct MemberTokens {
    secret: Option<Verifier>,
    signer: Option<EncodingKey>,
    jwks: Vec<(String, Verifier)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for MemberTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberTokens")
            .field("hs256", &self.secret.is_some())
            .field(
                "jwks",
                &self.jwks.iter().map(|(kid, _)| kid).collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl MemberTokens {
    /// Checks the configuration and binds each key to its algorithm.
    pub fn new(keys: TokenKeys<'_>) -> Result<Self, TokenError> {
        let issuer = non_empty(keys.issuer, "ISSUER")?;
        let audience = non_empty(keys.audience, "AUDIENCE")?;
        let verifier = |algorithm, key| Verifier {
            algorithm,
            key,
            validation: validation(algorithm, issuer.as_deref(), audience.as_deref()),
        };
        let (secret, signer) = match keys.hs256_secret {
            None => (None, None),
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(TokenError::SecretTooShort { len: secret.len() });
            }
            Some(secret) => (
                Some(verifier(
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret)
                        .map_err(|_| TokenError::SecretTooShort { len: 0 })?,
                )),
                Some(
                    EncodingKey::from_secret(secret)
                        .map_err(|_| TokenError::SecretTooShort { len: 0 })?,
                ),
            ),
        };
        let mut jwks = Vec::new();
        if let Some(text) = keys.jwks {
            let set: JwkSet =
                serde_json::from_str(text).map_err(|e| TokenError::Jwks(e.to_string()))?;
            if set.keys.is_empty() {
                return Err(TokenError::EmptyJwks);
            }
            for (index, jwk) in set.keys.iter().enumerate() {
                let kid = jwk
                    .common
                    .key_id
                    .clone()
                    .ok_or(TokenError::KeyWithoutId { index })?;
                if jwks.iter().any(|(seen, _)| *seen == kid) {
                    return Err(TokenError::DuplicateKeyId(kid));
                }
                let unsupported = |reason: &str| TokenError::UnsupportedKey {
                    kid: kid.clone(),
                    reason: reason.into(),
                };
                if matches!(
                    jwk.common.public_key_use,
                    Some(ref usage) if *usage != PublicKeyUse::Signature
                ) {
                    return Err(unsupported("its `use` is not `sig`"));
                }
                let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                    (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => {
                        Algorithm::RS256
                    }
                    (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                        if ec.curve == EllipticCurve::P256 =>
                    {
                        Algorithm::ES256
                    }
                    _ => {
                        return Err(unsupported(
                            "only RS256 (RSA) and ES256 (P-256) keys are accepted",
                        ));
                    }
                };
                let key = DecodingKey::from_jwk(jwk).map_err(|e| unsupported(&e.to_string()))?;
                jwks.push((kid, verifier(algorithm, key)));
            }
        }
        if secret.is_none() && jwks.is_empty() {
            return Err(TokenError::NoKeys);
        }
        Ok(Self {
            secret,
            signer,
            jwks,
            issuer,
            audience,
        })
    }

    /// The member a token speaks for, or why it is refused. A token naming a key in
    /// the JWKS is checked with that key; any other is checked with the HS256 secret.
    pub fn verify(&self, token: &str) -> Result<String, TokenRefused> {
        let verifier = if self.jwks.is_empty() {
            // One key: the decoder itself refuses any other algorithm.
            self.secret.as_ref().ok_or(TokenRefused::UnknownKey)?
        } else {
            let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRefused::Malformed)?;
            let named = header
                .kid
                .as_deref()
                .and_then(|kid| self.jwks.iter().find(|(id, _)| id == kid));
            let verifier = match named {
                Some((_, verifier)) => verifier,
                None => self.secret.as_ref().ok_or(TokenRefused::UnknownKey)?,
            };
            if header.alg != verifier.algorithm {
                return Err(TokenRefused::Algorithm);
            }
            verifier
        };
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)
            .map_err(refusal)?;
        yima_campaign::request::check_member(&data.claims.sub)
            .map_err(|e| TokenRefused::Claims(format!("sub: {e}")))?;
        Ok(data.claims.sub)
    }

    /// An HS256 token for `member`, valid for `lifetime_seconds` from now (real time,
    /// as verification reads it), with the configured issuer and audience: what the
    /// demo's dev login hands out, and what a brand's own login would issue.
    pub fn issue(&self, member: &str, lifetime_seconds: u64) -> Result<String, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        let key = self.signer.as_ref().ok_or(TokenError::CannotIssue)?;
        let claims = Issued {
            sub: member,
            exp: now.saturating_add(lifetime_seconds),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|_| TokenError::CannotIssue)
    }
}

fn non_empty(value: Option<&str>, name: &'static str) -> Result<Option<String>, TokenError> {
    match value {
        Some(value) if value.trim().is_empty() => Err(TokenError::Empty(name)),
        other => Ok(other.map(str::to_string)),
    }
}

/// `exp` and `sub` always required; `iss` and `aud` when configured.
fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.validate_aud = audience.is_some();
    if let Some(audience) = audience {
        validation.set_audience(&[audience]);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation.validate_nbf = true;
    validation
}

fn refusal(error: jsonwebtoken::errors::Error) -> TokenRefused {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => TokenRefused::Expired,
        ErrorKind::InvalidSignature => TokenRefused::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenRefused::Algorithm,
        ErrorKind::InvalidIssuer => TokenRefused::Claims("iss".into()),
        ErrorKind::InvalidAudience => TokenRefused::Claims("aud".into()),
        ErrorKind::ImmatureSignature => TokenRefused::Claims("nbf".into()),
        ErrorKind::MissingRequiredClaim(claim) => TokenRefused::Claims(format!("missing {claim}")),
        _ => TokenRefused::Malformed,
    }
}

#[cfg(test)]
mod tests;
