//! Registration invites: the link a brand hands a dealer, a store or a decoration
//! channel so that only they can register in that architecture.
//!
//! An invite is a JWT under its own secret (`YIMA_MEMBERS_INVITE_SECRET`), so a member
//! token can never pass for an invite nor an invite for a token. It names the
//! architecture, the channel it was given through, the tags a member registering with
//! it gets, and optionally when it stops working.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::tokens::MIN_SECRET_BYTES;

/// What an invite grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The architecture a member registering with it joins (`dealer`, ...).
    #[serde(rename = "arch")]
    pub architecture: String,
    /// Where it was handed out (an expo, a sales rep, a store), kept on the member.
    pub channel: String,
    /// Tags the member gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds after which it is refused; none: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Always `invite`: one more guard against a token of another kind.
    #[serde(default)]
    typ: String,
}

/// Why an invite was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefused {
    /// Not signed with the invite secret, or not an invite at all.
    #[error("not an invite")]
    Invalid,
    /// Its `exp` has passed.
    #[error("the invite has expired")]
    Expired,
}

/// The invite secret is missing or too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the invite secret has {len} bytes; at least {MIN_SECRET_BYTES} are required")]
pub struct InviteSecretTooShort {
    /// Its length.
    pub len: usize,
}

/// Signs and checks invites.
pub struct Invites {
    phone_key: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Invites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Invites(<secret>)")
    }
}

impl Invites {
    /// Under `secret`, at least [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, InviteSecretTooShort> {
        let short = InviteSecretTooShort { len: secret.len() };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(short);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is optional: an invite may be open-ended. When present it is checked,
        // without the leeway a login's clock skew needs.
        validation.set_required_spec_claims::<&str>(&[]);
        validation.leeway = 0;
        validation.validate_aud = false;
        Ok(Self {
            phone_key: secret.to_vec(),
            encoding: EncodingKey::from_secret(secret).map_err(|_| short.clone())?,
            decoding: DecodingKey::from_secret(secret).map_err(|_| short)?,
            validation,
        })
    }

    /// The signed invite for `architecture` through `channel`.
    pub fn issue(
        &self,
        architecture: &str,
        channel: &str,
        tags: Vec<String>,
        expires: Option<u64>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let invite = Invite {
            architecture: architecture.into(),
            channel: channel.into(),
            tags,
            exp: expires,
            typ: "invite".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &invite, &self.encoding)
    }

    /// The digest a normalised phone is stored and matched by, keyed by the same
    /// secret (domain-separated from the invites it signs).
    pub fn phone_digest(&self, normalized_phone: &str) -> [u8; 32] {
        crate::profile::phone_digest(&self.phone_key, normalized_phone)
    }

    /// What a genuine, unexpired invite grants.
    pub fn verify(&self, text: &str) -> Result<Invite, InviteRefused> {
        let data = jsonwebtoken::decode::<Invite>(text, &self.decoding, &self.validation).map_err(
            |error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => InviteRefused::Expired,
                _ => InviteRefused::Invalid,
            },
        )?;
        if data.claims.typ != "invite" {
            return Err(InviteRefused::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemberTokens, TokenKeys};

    const SECRET: &[u8] = b"an-invite-secret-of-thirty-two-bytes";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn an_invite_grants_what_it_names_until_it_expires() {
        let invites = Invites::new(SECRET).expect("secret");
        let open = invites
            .issue("dealer", "expo-2026", vec!["vip".into()], None)
            .expect("signs");
        let invite = invites.verify(&open).expect("valid");
        assert_eq!(
            (invite.architecture.as_str(), invite.channel.as_str()),
            ("dealer", "expo-2026")
        );
        assert_eq!(invite.tags, ["vip"]);
        let later = invites
            .issue("dealer", "expo", vec![], Some(now() + 60))
            .expect("signs");
        assert!(invites.verify(&later).is_ok());
        let past = invites
            .issue("dealer", "expo", vec![], Some(now() - 1))
            .expect("signs");
        assert_eq!(invites.verify(&past), Err(InviteRefused::Expired));
    }

    #[test]
    fn forged_tampered_or_foreign_invites_are_refused() {
        let invites = Invites::new(SECRET).expect("secret");
        let other = Invites::new(b"another-invite-secret-of-32-bytes!!").expect("secret");
        let forged = other
            .issue("dealer", "self-made", vec![], None)
            .expect("signs");
        assert_eq!(invites.verify(&forged), Err(InviteRefused::Invalid));
        // A tradesman's invite with its architecture swapped for dealer.
        let genuine = invites
            .issue("tradesman", "store-1", vec![], None)
            .expect("signs");
        let parts: Vec<&str> = genuine.split('.').collect();
        use base64::Engine as _;
        let swapped = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"arch":"dealer","channel":"store-1","typ":"invite"}"#);
        let tampered = format!("{}.{swapped}.{}", parts[0], parts[2]);
        assert_eq!(invites.verify(&tampered), Err(InviteRefused::Invalid));
        // A member token under the same secret is not an invite.
        let tokens = MemberTokens::new(TokenKeys {
            hs256_secret: Some(SECRET),
            ..TokenKeys::default()
        })
        .expect("keys");
        let token = tokens.issue("wang", 60).expect("token");
        assert_eq!(invites.verify(&token), Err(InviteRefused::Invalid));
        for junk in ["", "a.b.c", "..."] {
            assert_eq!(invites.verify(junk), Err(InviteRefused::Invalid));
        }
        assert!(Invites::new(b"short").is_err());
    }
}
