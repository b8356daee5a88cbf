//! What a member tells about themself at registration, checked before anything is
//! stored. A phone number is kept so that it can be matched (a keyed digest) and shown
//! masked, never readable in full: the registry is not a phone book.

use hmac::{KeyInit, Mac};

/// Why a profile field was refused: the `detail` of the 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadProfile(pub String);

/// Free text a person typed (a name, an address, a carrier): 1 to `most` characters,
/// none a control character; `what` names the field in the refusal.
pub fn check_text(value: &str, what: &str, most: usize) -> Result<(), BadProfile> {
    let count = value.chars().count();
    if !(1..=most).contains(&count) || value.chars().any(char::is_control) {
        return Err(BadProfile(format!(
            "{what} must be 1 to {most} characters, none a control character"
        )));
    }
    Ok(())
}

/// A display name: 1 to 32 characters, none a control character.
pub fn check_nickname(nickname: &str) -> Result<(), BadProfile> {
    check_text(nickname, "nickname", 32)
}

/// A mainland mobile number as `1xxxxxxxxxx`, from `13812345678`, `+86 138 1234 5678`,
/// `0086-138-1234-5678` and the like.
pub fn normalize_phone(phone: &str) -> Result<String, BadProfile> {
    let refused =
        || BadProfile("phone must be a mainland mobile number (11 digits from 13 to 19)".into());
    let trimmed = phone.trim_start();
    if trimmed.starts_with('+') && !trimmed.starts_with("+86") {
        return Err(refused());
    }
    let digits: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '+'))
        .collect();
    let national = digits
        .strip_prefix("0086")
        .or_else(|| digits.strip_prefix("86").filter(|rest| rest.len() == 11))
        .unwrap_or(&digits);
    let valid = national.len() == 11
        && national.bytes().all(|b| b.is_ascii_digit())
        && national.starts_with('1')
        && national
            .as_bytes()
            .get(1)
            .is_some_and(|b| (b'3'..=b'9').contains(b));
    if !valid {
        return Err(refused());
    }
    Ok(national.to_string())
}

/// `138****5678`: enough to recognise, not enough to call.
pub fn mask_phone(normalized: &str) -> String {
    let (head, tail) = (
        normalized.get(..3).unwrap_or(""),
        normalized
            .get(normalized.len().saturating_sub(4)..)
            .unwrap_or(""),
    );
    format!("{head}****{tail}")
}

/// The keyed digest a phone is matched by. Keyed, because the 10^10 mainland
/// numbers are too few for a plain hash to hide one.
pub fn phone_digest(key: &[u8], normalized: &str) -> [u8; 32] {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <hmac::Hmac<sha2::Sha256> as KeyInit>::new(&Default::default()));
    mac.update(b"yima phone v1\0");
    mac.update(normalized.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A birthday `YYYY-MM-DD` from 1900 to `today`.
pub fn check_birthday(
    birthday: &str,
    today: jiff::civil::Date,
) -> Result<jiff::civil::Date, BadProfile> {
    birthday
        .parse::<jiff::civil::Date>()
        .ok()
        .filter(|date| birthday.len() == 10 && date.year() >= 1900 && *date <= today)
        .ok_or_else(|| BadProfile("birthday must be a date YYYY-MM-DD from 1900 to today".into()))
}

/// A tag or a channel: 1 to 32 of `a-z`, `0-9`, `_`, `-` and Chinese characters
/// (CJK Unified Ideographs, `华东`, `金牌`), so ops can name them as they speak; the
/// same set as the pattern `^[a-z0-9_\u4e00-\u9fff-]{1,32}$` the API documents.
pub fn check_label(label: &str, what: &str) -> Result<(), BadProfile> {
    let count = label.chars().count();
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || "_-".contains(c)
            || ('\u{4e00}'..='\u{9fff}').contains(&c)
    };
    if !(1..=32).contains(&count) || !label.chars().all(allowed) {
        return Err(BadProfile(format!(
            "{what} must be 1 to 32 of a-z, 0-9, '_', '-' or Chinese characters"
        )));
    }
    Ok(())
}

/// Where a physical prize goes: kept for fulfilment only, the phone in full because
/// the carrier calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingAddress {
    /// Who receives it.
    pub name: String,
    /// A mainland mobile number, normalised.
    pub phone: String,
    /// Province, city and district, as written.
    pub region: String,
    /// Street, building and room.
    pub address: String,
}

/// A shipping address with every field checked (each problem named, the first one
/// refused) and the phone normalised.
pub fn check_shipping(
    name: &str,
    phone: &str,
    region: &str,
    address: &str,
) -> Result<ShippingAddress, BadProfile> {
    let text = |value: &str, what: &str, most: usize| {
        let value = value.trim();
        check_text(value, what, most).map(|()| value.to_string())
    };
    Ok(ShippingAddress {
        name: text(name, "name", 32)?,
        phone: normalize_phone(phone)?,
        region: text(region, "region", 64)?,
        address: text(address, "address", 200)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipping_address_is_trimmed_checked_and_its_phone_normalised() {
        let address = check_shipping(
            " 王师傅 ",
            "+86 138 1234 5678",
            "上海市浦东新区",
            "张江路 1 号",
        )
        .expect("valid");
        assert_eq!(address.name, "王师傅");
        assert_eq!(address.phone, "13812345678");
        for (name, phone, region, street, wrong) in [
            ("", "13812345678", "r", "a", "name"),
            ("w", "12345", "r", "a", "phone"),
            ("w", "13812345678", " ", "a", "region"),
            ("w", "13812345678", "r", "a\u{0}", "address"),
            ("w", "13812345678", "r", &"长".repeat(201), "address"),
        ] {
            let refused = check_shipping(name, phone, region, street).expect_err(wrong);
            assert!(refused.0.starts_with(wrong), "{refused:?}");
        }
    }

    #[test]
    fn phones_are_normalised_masked_and_digested() {
        for written in [
            "13812345678",
            "+86 138 1234 5678",
            "0086-138-1234-5678",
            "8613812345678",
        ] {
            assert_eq!(
                normalize_phone(written).as_deref(),
                Ok("13812345678"),
                "{written}"
            );
        }
        for bad in [
            "",
            "1381234567",
            "23812345678",
            "12812345678",
            "138123456789",
            "1381234567x",
            "+1 415 555 0100",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(mask_phone("13812345678"), "138****5678");
        let key = b"k";
        assert_eq!(
            phone_digest(key, "13812345678"),
            phone_digest(key, "13812345678")
        );
        assert_ne!(
            phone_digest(key, "13812345678"),
            phone_digest(key, "13812345679")
        );
        assert_ne!(
            phone_digest(key, "13812345678"),
            phone_digest(b"other", "13812345678")
        );
    }

    #[test]
    fn nicknames_birthdays_and_labels_hold_to_their_rules() {
        assert!(check_nickname("王师傅").is_ok());
        assert!(check_nickname(&"王".repeat(32)).is_ok());
        for bad in ["", "a\nb", &"王".repeat(33)] {
            assert!(check_nickname(bad).is_err(), "{bad:?}");
        }
        let today = jiff::civil::date(2026, 12, 3);
        assert!(check_birthday("1988-02-29", today).is_ok());
        for bad in [
            "1987-02-29",
            "1988-13-01",
            "1988-00-10",
            "1988-04-31",
            "1899-12-31",
            "2027-01-01",
            "88-1-1",
            "1988/01/01",
        ] {
            assert!(check_birthday(bad, today).is_err(), "{bad}");
        }
        for good in ["vip", "east-china", "金牌", "华东_2026"] {
            assert!(check_label(good, "tag").is_ok(), "{good}");
        }
        for bad in ["", "VIP", "a b", "a,b", "<b>", "Ä", "·", &"x".repeat(33)] {
            assert!(check_label(bad, "tag").is_err(), "{bad}");
        }
    }
}
