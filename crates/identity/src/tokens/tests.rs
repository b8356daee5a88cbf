use jsonwebtoken::jwk::Jwk;
use serde_json::json;

use super::*;

const SECRET: &[u8] = b"a-test-secret-of-thirty-two-bytes!";
const RSA_PEM: &[u8] = include_bytes!("../../testdata/test-only-rsa.pem");
const P256_PEM: &[u8] = include_bytes!("../../testdata/test-only-p256.pem");

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM).expect("test RSA key")
}

fn p256() -> EncodingKey {
    EncodingKey::from_ec_pem(P256_PEM).expect("test P-256 key")
}

/// A JWKS of the test RSA key as `rsa-1` and the P-256 key as `ec-1`.
fn jwks() -> String {
    let mut rsa = Jwk::from_encoding_key(&rsa(), Algorithm::RS256).expect("jwk");
    rsa.common.key_id = Some("rsa-1".into());
    let mut ec = Jwk::from_encoding_key(&p256(), Algorithm::ES256).expect("jwk");
    ec.common.key_id = Some("ec-1".into());
    json!({ "keys": [rsa, ec] }).to_string()
}

fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &serde_json::Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

fn claims(sub: &str) -> serde_json::Value {
    json!({ "sub": sub, "exp": now() + 600 })
}

fn hs256_only() -> MemberTokens {
    MemberTokens::new(TokenKeys {
        hs256_secret: Some(SECRET),
        ..TokenKeys::default()
    })
    .expect("valid keys")
}

fn both(jwks: &str) -> MemberTokens {
    MemberTokens::new(TokenKeys {
        hs256_secret: Some(SECRET),
        jwks: Some(jwks),
        ..TokenKeys::default()
    })
    .expect("valid keys")
}

fn b64(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn an_issued_token_names_its_member() {
    let tokens = hs256_only();
    let token = tokens.issue("painter-wang", 600).expect("issues");
    assert_eq!(tokens.verify(&token), Ok("painter-wang".into()));
}

#[test]
fn a_token_under_another_secret_or_tampered_is_refused() {
    let tokens = hs256_only();
    let other = EncodingKey::from_secret(b"another-secret-of-thirty-two-bytes").expect("key");
    let forged = sign(Algorithm::HS256, None, &claims("wang"), &other);
    assert_eq!(tokens.verify(&forged), Err(TokenRefused::Signature));

    let genuine = tokens.issue("wang", 600).expect("issues");
    let parts: Vec<&str> = genuine.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], b64(&claims("li")), parts[2]);
    assert_eq!(tokens.verify(&swapped), Err(TokenRefused::Signature));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let tokens = hs256_only();
    let key = EncodingKey::from_secret(SECRET).expect("key");
    let expired = sign(
        Algorithm::HS256,
        None,
        &json!({"sub": "wang", "exp": now() - 3600}),
        &key,
    );
    assert_eq!(tokens.verify(&expired), Err(TokenRefused::Expired));
    let early = json!({"sub": "wang", "exp": now() + 7200, "nbf": now() + 3600});
    let early = sign(Algorithm::HS256, None, &early, &key);
    assert_eq!(
        tokens.verify(&early),
        Err(TokenRefused::Claims("nbf".into()))
    );
}

#[test]
fn exp_and_a_valid_sub_are_required() {
    let tokens = hs256_only();
    let key = EncodingKey::from_secret(SECRET).expect("key");
    let no_exp = sign(Algorithm::HS256, None, &json!({"sub": "wang"}), &key);
    assert_eq!(
        tokens.verify(&no_exp),
        Err(TokenRefused::Claims("missing exp".into()))
    );
    let no_sub = sign(Algorithm::HS256, None, &json!({"exp": now() + 600}), &key);
    assert!(tokens.verify(&no_sub).is_err());
    for sub in ["", "wang li", "王", &"x".repeat(65)] {
        let token = sign(Algorithm::HS256, None, &claims(sub), &key);
        assert!(
            matches!(tokens.verify(&token), Err(TokenRefused::Claims(_))),
            "sub {sub:?}: {:?}",
            tokens.verify(&token)
        );
    }
    let numeric = sign(
        Algorithm::HS256,
        None,
        &json!({"sub": 42, "exp": now() + 600}),
        &key,
    );
    assert!(tokens.verify(&numeric).is_err());
}

#[test]
fn issuer_and_audience_are_checked_when_configured() {
    let tokens = MemberTokens::new(TokenKeys {
        hs256_secret: Some(SECRET),
        issuer: Some("https://login.brand.example"),
        audience: Some("yima"),
        ..TokenKeys::default()
    })
    .expect("valid keys");
    let key = EncodingKey::from_secret(SECRET).expect("key");
    let with = |extra: serde_json::Value| {
        let mut claims = claims("wang");
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        tokens.verify(&sign(Algorithm::HS256, None, &claims, &key))
    };
    let good = json!({"iss": "https://login.brand.example", "aud": "yima"});
    assert_eq!(with(good), Ok("wang".into()));
    let list = json!({"iss": "https://login.brand.example", "aud": ["other", "yima"]});
    assert_eq!(with(list), Ok("wang".into()));
    for bad in [
        json!({"iss": "https://evil.example", "aud": "yima"}),
        json!({"iss": "https://login.brand.example", "aud": "other"}),
        json!({"aud": "yima"}),
        json!({"iss": "https://login.brand.example"}),
    ] {
        assert!(
            matches!(with(bad.clone()), Err(TokenRefused::Claims(_))),
            "{bad}"
        );
    }
    // What yima issues passes its own checks.
    let issued = tokens.issue("wang", 60).expect("issues");
    assert_eq!(tokens.verify(&issued), Ok("wang".into()));
}

#[test]
fn alg_none_is_refused_with_or_without_a_key_set() {
    let header = json!({"alg": "none", "typ": "JWT"});
    let unsigned = format!("{}.{}.", b64(&header), b64(&claims("wang")));
    assert_eq!(hs256_only().verify(&unsigned), Err(TokenRefused::Malformed));
    assert_eq!(
        both(&jwks()).verify(&unsigned),
        Err(TokenRefused::Malformed)
    );
    let header = json!({"alg": "None", "kid": "rsa-1"});
    let unsigned = format!("{}.{}.", b64(&header), b64(&claims("wang")));
    assert_eq!(
        both(&jwks()).verify(&unsigned),
        Err(TokenRefused::Malformed)
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let tokens = both(&jwks());
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\u{0}",
        &"a".repeat(10_000),
    ] {
        assert!(tokens.verify(token).is_err(), "{token:?}");
        assert!(hs256_only().verify(token).is_err(), "{token:?}");
    }
}

#[test]
fn rs256_and_es256_tokens_verify_under_their_kid() {
    let tokens = both(&jwks());
    let rs = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims("dealer-li"),
        &rsa(),
    );
    assert_eq!(tokens.verify(&rs), Ok("dealer-li".into()));
    let es = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &claims("painter-wang"),
        &p256(),
    );
    assert_eq!(tokens.verify(&es), Ok("painter-wang".into()));
    // HS256 tokens still verify beside the key set.
    let hs = sign(
        Algorithm::HS256,
        None,
        &claims("wang"),
        &EncodingKey::from_secret(SECRET).expect("key"),
    );
    assert_eq!(tokens.verify(&hs), Ok("wang".into()));
    // A key set alone: no secret to fall back on.
    let jwks_only = MemberTokens::new(TokenKeys {
        jwks: Some(&jwks()),
        ..TokenKeys::default()
    })
    .expect("valid keys");
    assert_eq!(jwks_only.verify(&rs), Ok("dealer-li".into()));
    assert_eq!(jwks_only.verify(&hs), Err(TokenRefused::UnknownKey));
    let unknown = sign(Algorithm::RS256, Some("rsa-9"), &claims("li"), &rsa());
    assert_eq!(jwks_only.verify(&unknown), Err(TokenRefused::UnknownKey));
}

#[test]
fn algorithm_confusion_is_refused() {
    let tokens = both(&jwks());
    // The classic: HS256 "signed" with the RSA public key as the HMAC secret.
    let rsa_jwk: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&jwks()).expect("json")["keys"][0].clone();
    let as_secret =
        EncodingKey::from_secret(rsa_jwk["n"].as_str().expect("n").as_bytes()).expect("key");
    let confused = sign(Algorithm::HS256, Some("rsa-1"), &claims("wang"), &as_secret);
    assert_eq!(tokens.verify(&confused), Err(TokenRefused::Algorithm));
    // An RS256 token naming the EC key, and one naming no key (so the HS256 secret).
    let wrong_key = sign(Algorithm::RS256, Some("ec-1"), &claims("wang"), &rsa());
    assert_eq!(tokens.verify(&wrong_key), Err(TokenRefused::Algorithm));
    let no_kid = sign(Algorithm::RS256, None, &claims("wang"), &rsa());
    assert_eq!(tokens.verify(&no_kid), Err(TokenRefused::Algorithm));
    // With the secret alone, any other algorithm is refused by the decoder.
    assert_eq!(hs256_only().verify(&no_kid), Err(TokenRefused::Algorithm));
    let hs512 = sign(
        Algorithm::HS512,
        None,
        &claims("wang"),
        &EncodingKey::from_secret(SECRET).expect("key"),
    );
    assert_eq!(hs256_only().verify(&hs512), Err(TokenRefused::Algorithm));
}

#[test]
fn unsafe_configurations_are_refused() {
    let error = |keys: TokenKeys<'_>| MemberTokens::new(keys).expect_err("refused");
    assert_eq!(error(TokenKeys::default()), TokenError::NoKeys);
    assert_eq!(
        error(TokenKeys {
            hs256_secret: Some(b"short"),
            ..TokenKeys::default()
        }),
        TokenError::SecretTooShort { len: 5 }
    );
    assert_eq!(
        error(TokenKeys {
            hs256_secret: Some(SECRET),
            issuer: Some(" "),
            ..TokenKeys::default()
        }),
        TokenError::Empty("ISSUER")
    );
    assert_eq!(
        error(TokenKeys {
            hs256_secret: Some(SECRET),
            audience: Some(""),
            ..TokenKeys::default()
        }),
        TokenError::Empty("AUDIENCE")
    );
    let jwks_error = |text: &str| {
        error(TokenKeys {
            jwks: Some(text),
            ..TokenKeys::default()
        })
    };
    assert!(matches!(jwks_error("not json"), TokenError::Jwks(_)));
    assert_eq!(jwks_error(r#"{"keys": []}"#), TokenError::EmptyJwks);
    let keys: serde_json::Value = serde_json::from_str(&jwks()).expect("json");
    let (rsa, ec) = (keys["keys"][0].clone(), keys["keys"][1].clone());
    let mut no_kid = rsa.clone();
    no_kid.as_object_mut().expect("object").remove("kid");
    assert_eq!(
        jwks_error(&json!({"keys": [ec, no_kid]}).to_string()),
        TokenError::KeyWithoutId { index: 1 }
    );
    assert_eq!(
        jwks_error(&json!({"keys": [rsa, rsa]}).to_string()),
        TokenError::DuplicateKeyId("rsa-1".into())
    );
    let oct =
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
    let mut rs512 = rsa.clone();
    rs512["alg"] = json!("RS512");
    let mut encryption = rsa.clone();
    encryption["use"] = json!("enc");
    for key in [oct, rs512, encryption] {
        assert!(
            matches!(
                jwks_error(&json!({"keys": [key]}).to_string()),
                TokenError::UnsupportedKey { .. }
            ),
            "{key}"
        );
    }
}

#[test]
fn debug_output_names_no_secret() {
    let shown = format!("{:?}", both(&jwks()));
    assert!(!shown.contains("a-test-secret"), "{shown}");
    assert!(shown.contains("rsa-1"), "{shown}");
}
