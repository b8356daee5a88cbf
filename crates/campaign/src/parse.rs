//! Reading a campaign file so that *every* problem is reported at once.
//!
//! serde stops at the first value of the wrong type, so a file with `stock = -1`
//! would hide a bad month, an unknown zone and seven levels behind that one error.
//! Instead the file is read as TOML values; each type error is recorded at its path,
//! the value is replaced by a placeholder of the right type (or removed, where it is
//! optional), and reading goes on. The rules then run on the patched file, and a rule
//! problem at a patched path is left out: it would describe the placeholder.

use serde_path_to_error::Segment;
use toml::Value;

use crate::{CampaignFile, Problem};

/// More type errors than this stop the reading: such a file is not a campaign file
/// at all, and a longer list helps nobody.
const MAX_TYPE_PROBLEMS: usize = 50;

/// What reading found.
pub(crate) struct Read {
    /// The file with every wrong value patched, if it could be patched.
    pub file: Option<CampaignFile>,
    /// The type problems, in file order.
    pub problems: Vec<Problem>,
    /// The paths patched.
    pub patched: Vec<String>,
}

/// Whether a rule problem at `path` is about a value patched at one of `patched`.
pub(crate) fn is_patched(patched: &[String], path: &str) -> bool {
    patched.iter().any(|patched| is_under(path, patched))
}

/// Reads a campaign file's TOML text.
pub(crate) fn read(text: &str) -> Read {
    let mut read = Read {
        file: None,
        problems: Vec::new(),
        patched: Vec::new(),
    };
    let mut value = match text.parse::<toml::Table>() {
        Ok(table) => Value::Table(table),
        Err(error) => {
            // A syntax error: toml's message names the line, the column and the key.
            read.problems.push(Problem {
                path: String::new(),
                message: error.to_string().trim().to_string(),
            });
            return read;
        }
    };
    while read.problems.len() < MAX_TYPE_PROBLEMS {
        let wrong = match deserialize(&value) {
            Ok(file) => {
                read.file = Some(file);
                break;
            }
            Err(wrong) => wrong,
        };
        read.problems.push(Problem {
            path: wrong.path.clone(),
            message: wrong.message.clone(),
        });
        if !patch(&mut value, &wrong) {
            break;
        }
        read.patched.push(wrong.path);
    }
    read
}

/// The first value serde refused.
struct Wrong {
    /// Down to the value: a missing or unknown field's own name is the last segment.
    segments: Vec<Segment>,
    path: String,
    message: String,
    fix: Fix,
    /// serde's words, which name the variants an enum accepts.
    detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    /// A required field is missing: put a placeholder there.
    Insert,
    /// An unknown field: remove it.
    Remove,
    /// A value of the wrong type: replace it.
    Replace,
}

fn deserialize(value: &Value) -> Result<CampaignFile, Wrong> {
    serde_path_to_error::deserialize::<_, CampaignFile>(value.clone()).map_err(|error| {
        let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
        let detail = error.inner().to_string().trim().to_string();
        // A missing field's path ends at its table; an unknown one's at the field.
        let mut name_field = |field: &str| {
            if !matches!(segments.last(), Some(Segment::Map { key }) if key == field) {
                segments.push(Segment::Map { key: field.into() });
            }
        };
        let (fix, message) = if let Some(field) = quoted_after(&detail, "missing field ") {
            name_field(&field);
            (Fix::Insert, "is required".to_string())
        } else if let Some(field) = quoted_after(&detail, "unknown field ") {
            name_field(&field);
            let known = detail.split_once(", expected").map_or("", |(_, rest)| rest);
            (
                Fix::Remove,
                format!("unknown field `{field}`, expected{known}"),
            )
        } else {
            (Fix::Replace, detail.clone())
        };
        Wrong {
            path: path_text(&segments),
            segments,
            message,
            fix,
            detail,
        }
    })
}

/// Replaces (or removes) the wrong value with the first placeholder that moves the
/// next error elsewhere; `false` if none does.
fn patch(value: &mut Value, wrong: &Wrong) -> bool {
    // `None` removes the value: right for an unknown field, and for a wrong one
    // where the field is optional.
    let mut candidates = Vec::new();
    if wrong.fix != Fix::Insert {
        candidates.push(None);
    }
    if wrong.fix != Fix::Remove {
        candidates.extend(placeholders(&wrong.detail).into_iter().map(Some));
    }
    for candidate in candidates {
        let mut trial = value.clone();
        if !place(&mut trial, &wrong.segments, candidate) {
            continue;
        }
        let moved_on = match deserialize(&trial) {
            Ok(_) => true,
            Err(next) => !is_under(&next.path, &wrong.path),
        };
        if moved_on {
            *value = trial;
            return true;
        }
    }
    false
}

/// Values of every TOML type, the enum's first variant among them.
fn placeholders(detail: &str) -> Vec<Value> {
    let mut values = vec![Value::Integer(0)];
    if let Some(variant) = detail
        .split_once("expected")
        .and_then(|(_, expected)| first_quoted(expected))
    {
        values.push(Value::String(variant));
    }
    values.extend([
        Value::String(String::new()),
        Value::Array(Vec::new()),
        Value::Boolean(false),
        Value::Table(toml::Table::new()),
    ]);
    values
}

/// Sets (`Some`) or removes (`None`) the value at `segments`; `false` if there is no
/// such place.
fn place(root: &mut Value, segments: &[Segment], value: Option<Value>) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut parent = root;
    for segment in parents {
        parent = match (segment, parent) {
            (Segment::Map { key }, Value::Table(table)) => match table.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, parent, value) {
        (Segment::Map { key }, Value::Table(table), Some(value)) => {
            table.insert(key.clone(), value);
            true
        }
        (Segment::Map { key }, Value::Table(table), None) => table.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items), Some(value)) if *index < items.len() => {
            items[*index] = value;
            true
        }
        _ => false,
    }
}

/// `prizes[0].odds[3]`, as the rules name paths.
fn path_text(segments: &[Segment]) -> String {
    let mut text = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => text.push_str(".?"),
        }
    }
    text
}

/// Whether `path` is `parent` or inside it.
fn is_under(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// The `` `word` `` right after `prefix` in `text`.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let (_, rest) = text.split_once(prefix)?;
    rest.starts_with('`').then(|| first_quoted(rest)).flatten()
}

/// The first `` `word` `` in `text`.
fn first_quoted(text: &str) -> Option<String> {
    let (_, rest) = text.split_once('`')?;
    let (word, _) = rest.split_once('`')?;
    Some(word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_the_rules_write_them() {
        let segments = [
            Segment::Map {
                key: "prizes".into(),
            },
            Segment::Seq { index: 1 },
            Segment::Map { key: "odds".into() },
            Segment::Seq { index: 3 },
        ];
        assert_eq!(path_text(&segments), "prizes[1].odds[3]");
        assert!(is_under("prizes[1].odds[3]", "prizes[1].odds"));
        assert!(is_under("prizes[1]", "prizes[1]"));
        assert!(!is_under("prizes[10]", "prizes[1]"));
        assert!(!is_under("levels", "level"));
    }

    #[test]
    fn an_enum_placeholder_is_its_first_variant() {
        let detail = "unknown variant `voucher`, expected one of `item`, `cash`, `points`";
        assert!(placeholders(detail).contains(&Value::String("item".into())));
        assert_eq!(
            quoted_after("missing field `stock`", "missing field "),
            Some("stock".into())
        );
        assert_eq!(
            quoted_after("invalid type: integer", "missing field "),
            None
        );
    }
}
