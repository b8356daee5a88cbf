//! What a scan says, as its body arrives, and the rules every id a client sends must
//! follow. No web framework and no IO: the parser is fuzzed on its own (`tests/fuzz`),
//! and every route holds members, regions and request ids to the same rules, so one
//! member is one key everywhere.

use std::borrow::Cow;

use serde::Deserialize;

use crate::Role;

/// A scan body. Borrowed from the body where it can be: a forged code is turned away
/// without copying it.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ScanRequest<'a> {
    /// The printed code, as scanned (a code is 20-odd characters; anything else is
    /// an invalid code).
    #[serde(borrow)]
    #[cfg_attr(feature = "schema", schema(value_type = String, max_length = 256))]
    pub code: Cow<'a, str>,
    /// Who scanned it ([`check_member`]). A member token names its member itself (the
    /// field may then be left out, or must name the same one); the service key names
    /// the member here.
    #[serde(borrow, default, deserialize_with = "borrowed")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_.@-]{1,64}$"))]
    pub member: Option<Cow<'a, str>>,
    /// Consumer (default) or dealer: each role redeems a code once.
    #[serde(default)]
    pub role: Option<Role>,
    /// The client's own id for the request, for its logs.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(pattern = "^[!-~]{1,64}$"))]
    pub request_id: Option<String>,
    /// Where the scan happened, against the batch's shipping region.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(pattern = "^[A-Za-z0-9_-]{1,32}$"))]
    pub region: Option<String>,
}

/// An optional string borrowed from the body when it can be: serde borrows a `Cow`
/// only where it is the field itself, not inside an `Option`.
fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(deserializer)?.map(|Borrowed(text)| text))
}

/// Why a request was refused: the `detail` of the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

impl<'a> ScanRequest<'a> {
    /// Parses and checks a body; any failure says what is wrong with it.
    pub fn parse(body: &'a [u8]) -> Result<Self, BadRequest> {
        let request: Self =
            serde_json::from_slice(body).map_err(|e| BadRequest(format!("body: {e}")))?;
        if let Some(member) = &request.member {
            check_member(member)?;
        }
        if let Some(region) = &request.region {
            check_region(region)?;
        }
        if let Some(id) = &request.request_id {
            check_request_id(id)?;
        }
        Ok(request)
    }
}

/// A member id: 1 to 64 of A-Z, a-z, 0-9, `_`, `-`, `.`, `@` (safe in a Redis key, a
/// URL path and a log line alike).
pub fn check_member(member: &str) -> Result<(), BadRequest> {
    check(
        member,
        64,
        |c| c.is_ascii_alphanumeric() || "_-.@".contains(c),
        "member must be 1 to 64 of A-Z, a-z, 0-9, '_', '-', '.', '@'",
    )
}

/// A region code: 1 to 32 of A-Z, a-z, 0-9, `_`, `-`.
pub fn check_region(region: &str) -> Result<(), BadRequest> {
    check(
        region,
        32,
        |c| c.is_ascii_alphanumeric() || "_-".contains(c),
        "region must be 1 to 32 of A-Z, a-z, 0-9, '_', '-'",
    )
}

/// A client's request id: 1 to 64 printable ASCII characters.
pub fn check_request_id(id: &str) -> Result<(), BadRequest> {
    check(
        id,
        64,
        |c| c.is_ascii_graphic(),
        "request_id must be 1 to 64 printable ASCII characters",
    )
}

/// `text` is 1 to `max` characters, all `allowed`; otherwise the rule is the detail.
fn check(
    text: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    rule: &'static str,
) -> Result<(), BadRequest> {
    if !text.is_empty() && text.len() <= max && text.chars().all(allowed) {
        Ok(())
    } else {
        Err(BadRequest(rule.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_body_parses_and_borrows() {
        let body = br#"{"code":"ABC","member":"painter.wang@x","role":"dealer","request_id":"r-1","region":"CN-31"}"#;
        let request = ScanRequest::parse(body).expect("valid");
        assert_eq!(request.code, "ABC");
        assert!(matches!(request.code, Cow::Borrowed(_)));
        assert_eq!(request.member.as_deref(), Some("painter.wang@x"));
        assert!(matches!(request.member, Some(Cow::Borrowed(_))));
        let escaped = ScanRequest::parse(br#"{"code":"A","member":"w\u0061ng"}"#).expect("valid");
        assert_eq!(escaped.member.as_deref(), Some("wang"));
        assert_eq!(request.role, Some(Role::Dealer));
        assert_eq!(request.request_id.as_deref(), Some("r-1"));
        assert_eq!(request.region.as_deref(), Some("CN-31"));
        let minimal = ScanRequest::parse(br#"{"code":"A"}"#).expect("valid");
        assert_eq!((minimal.role, minimal.region), (None, None));
        assert_eq!(minimal.member, None, "a member token names the member");
    }

    #[test]
    fn every_bad_body_says_what_is_wrong() {
        let refused = |body: &[u8]| ScanRequest::parse(body).expect_err("refused").0;
        assert!(refused(b"").starts_with("body: EOF"));
        assert!(refused(b"{").starts_with("body: "));
        assert!(refused(b"[1]").starts_with("body: "));
        assert!(refused(br#"{"member":"m"}"#).contains("missing field `code`"));
        assert!(refused(br#"{"code":"A","member":7}"#).contains("invalid type"));
        assert!(refused(br#"{"code":1,"member":"m"}"#).contains("invalid type"));
        assert!(refused(br#"{"code":"A","member":"m","role":"boss"}"#).contains("unknown variant"));
        assert!(refused(br#"{"code":"A","member":""}"#).starts_with("member must be"));
        assert!(refused(br#"{"code":"A","member":"a b"}"#).starts_with("member must be"));
        assert!(
            refused(br#"{"code":"A","member":"m","region":"CN 31"}"#).starts_with("region must be")
        );
        assert!(
            refused(br#"{"code":"A","member":"m","request_id":""}"#)
                .starts_with("request_id must be")
        );
        assert!(refused(b"\xff\xfe").starts_with("body: "));
    }

    #[test]
    fn ids_are_held_to_their_length_and_alphabet() {
        assert!(check_member(&"m".repeat(64)).is_ok());
        assert!(check_member(&"m".repeat(65)).is_err());
        assert!(check_member("王").is_err());
        assert!(check_member("a\u{0}").is_err());
        assert!(check_region(&"R".repeat(32)).is_ok());
        assert!(check_region(&"R".repeat(33)).is_err());
        assert!(check_region("a.b").is_err());
        assert!(check_request_id(&"~".repeat(64)).is_ok());
        assert!(check_request_id(&"~".repeat(65)).is_err());
        assert!(check_request_id("a b").is_err());
    }
}
