//! A redemption's answer as five plain values: what `scan.lua` stores for retries,
//! appends to the settlement event, and Postgres keeps once the scan is settled.
//!
//! Not JSON: the script would spend its time building strings, Redis would keep a
//! body of ~200 bytes per scan, and Postgres would store it again. The gateway renders
//! the body from these values and the campaign's prize list, so a retry answered from
//! Redis and one answered from Postgres after the grace window are the same bytes.

use std::fmt;

/// How a redemption ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A drawn prize was awarded.
    Won,
    /// The draw gave nothing (or nothing drawn was in stock).
    NoPrize,
    /// The SKU's fixed award under the member's architecture, paid without a draw.
    Rebate,
}

impl Finish {
    /// The status word, as the answer and the script spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::NoPrize => "no_prize",
            Self::Rebate => "rebate",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "won" => Some(Self::Won),
            "no_prize" => Some(Self::NoPrize),
            "rebate" => Some(Self::Rebate),
            _ => None,
        }
    }
}

/// A redemption's answer: `status prize points_awarded points level`, space-separated,
/// the prize empty for none (prize ids never hold a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// How it ended.
    pub finish: Finish,
    /// The prize awarded, if any.
    pub prize: Option<String>,
    /// Points the scan credited.
    pub points_awarded: i64,
    /// The member's points after it.
    pub points: i64,
    /// The member's level after it, from 1.
    pub level: usize,
}

/// Text that is not an answer: a bug or a foreign writer, never guessed at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scan answer `{0}`")]
pub struct MalformedAnswer(pub String);

impl Answer {
    /// Reads the five values.
    pub fn parse(text: &str) -> Result<Self, MalformedAnswer> {
        let bad = || MalformedAnswer(text.to_string());
        let mut values = text.split(' ');
        let mut next = || values.next().ok_or_else(bad);
        let finish = Finish::from_name(next()?).ok_or_else(bad)?;
        let prize = Some(next()?).filter(|prize| !prize.is_empty());
        let points_awarded = next()?.parse().map_err(|_| bad())?;
        let points = next()?.parse().map_err(|_| bad())?;
        let level = next()?.parse().map_err(|_| bad())?;
        if values.next().is_some() || (finish == Finish::NoPrize) != prize.is_none() {
            return Err(bad());
        }
        Ok(Self {
            finish,
            prize: prize.map(str::to_string),
            points_awarded,
            points,
            level,
        })
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.finish.as_str(),
            self.prize.as_deref().unwrap_or(""),
            self.points_awarded,
            self.points,
            self.level
        )
    }
}

/// What Redis holds for a redemption's retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Written by this build: the values to render.
    Answer(Answer),
    /// A JSON body written by a build before compact answers, answered as it is.
    Body(String),
}

impl Stored {
    /// Reads what follows the owner in a stored answer.
    pub fn parse(text: &str) -> Result<Self, MalformedAnswer> {
        if text.starts_with('{') {
            return Ok(Self::Body(text.to_string()));
        }
        Answer::parse(text).map(Self::Answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(finish: Finish, prize: Option<&str>) -> Answer {
        Answer {
            finish,
            prize: prize.map(str::to_string),
            points_awarded: 60,
            points: -3,
            level: 2,
        }
    }

    #[test]
    fn every_finish_round_trips() {
        for value in [
            answer(Finish::Won, Some("cup")),
            answer(Finish::Rebate, Some("dealer-rebate")),
            answer(Finish::NoPrize, None),
        ] {
            let text = value.to_string();
            assert_eq!(Answer::parse(&text), Ok(value.clone()), "{text}");
            assert_eq!(Stored::parse(&text), Ok(Stored::Answer(value)));
        }
        assert_eq!(
            answer(Finish::NoPrize, None).to_string(),
            "no_prize  60 -3 2"
        );
    }

    #[test]
    fn bodies_of_older_builds_are_kept_whole() {
        let body = r#"{"status":"won"}"#;
        assert_eq!(Stored::parse(body), Ok(Stored::Body(body.into())));
    }

    #[test]
    fn anything_else_is_malformed() {
        for text in [
            "",
            "won",
            "won cup 1 2",
            "won cup 1 2 3 4",
            "lost cup 1 2 3",
            "won  1 2 3",
            "no_prize cup 1 2 3",
            "won cup x 2 3",
            "won cup 1 2 -1",
        ] {
            assert_eq!(
                Answer::parse(text),
                Err(MalformedAnswer(text.into())),
                "{text}"
            );
        }
    }
}
