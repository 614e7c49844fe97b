//! A strict reader for the lock entries mtasts itself writes: `[domains."name"]`, then one
//! `key = value` line per field, where a value is a plain string, a decimal integer or an
//! inline array of plain strings. Those lines mean the same in any TOML reader, and reading
//! them directly is ten times faster than a TOML parse, which matters for a lock of 100,000
//! domains. Anything else (an escape, a comment, a notice, a key twice, an unknown key) is
//! `None`, and the caller hands that section to the TOML parser.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use super::Entry;

/// The domain and entry of one section (header line included, trailing blank lines allowed).
/// `mx` is the mx list of the section before: an equal list is shared instead of copied, as
/// most domains list the mx of `[defaults]`.
pub(super) fn section(text: &str, mx: &mut Option<Arc<[String]>>) -> Option<(String, Entry)> {
    let mut lines = text.split('\n');
    let name = lines
        .next()?
        .strip_prefix("[domains.\"")?
        .strip_suffix("\"]")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return None;
    }
    let (mut id, mut policy_sha256, mut stage, mut mode) = (None, None, None, None);
    let (mut max_age, mut list, mut published, mut max_age_high) = (None, None, None, None);
    let (mut sts_ended, mut retiring_since, mut remove_after) = (None, None, None);
    let (mut previous_id, mut previous_sha256, mut pin) = (None, None, None);
    let mut certificate = None;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        // Keys hold no blank: the first one is where ` = ` must stand. Keys are short: a
        // plain loop finds it faster than a search call.
        let (key, value) = line.split_at(line.bytes().position(|b| b == b' ')?);
        let value = value.strip_prefix(" = ")?;
        // Each field once: a key twice is TOML's error to report.
        match key {
            "id" => set(&mut id, string(value)?.into()),
            "policy_sha256" => set(&mut policy_sha256, string(value)?.into()),
            "stage" => set(&mut stage, de(string(value)?)?),
            "mode" => set(&mut mode, de(string(value)?)?),
            "max_age" => set(&mut max_age, int(value)?),
            "mx" => set(&mut list, strings(value)?),
            "published" => set(&mut published, date(value)?),
            "max_age_high" => set(&mut max_age_high, int(value)?),
            "sts_ended" => set(&mut sts_ended, date(value)?),
            "retiring_since" => set(&mut retiring_since, date(value)?),
            "remove_after" => set(&mut remove_after, date(value)?),
            "previous_id" => set(&mut previous_id, string(value)?.into()),
            "previous_sha256" => set(&mut previous_sha256, string(value)?.into()),
            "pin" => set(&mut pin, string(value)?.to_string()),
            "certificate" => set(&mut certificate, string(value)?.into()),
            _ => None,
        }?;
    }
    let list = list?;
    let shared = match mx {
        Some(last) if last.iter().map(String::as_str).eq(list.iter().copied()) => last.clone(),
        _ => mx
            .insert(list.into_iter().map(str::to_string).collect())
            .clone(),
    };
    let entry = Entry {
        id: id?,
        policy_sha256: policy_sha256?,
        stage: stage?,
        mode: mode?,
        max_age: max_age?,
        mx: shared,
        published: published?,
        max_age_high: max_age_high?,
        sts_ended,
        retiring_since,
        remove_after,
        previous_id,
        previous_sha256,
        pin,
        certificate,
        notices: std::sync::Arc::default(),
    };
    Some((name.to_string(), entry))
}

/// Fills an empty `slot`; `None` if it was filled already.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

/// A value through its own `Deserialize` impl, exactly as serde would make it.
fn de<'a, T: Deserialize<'a>>(s: &'a str) -> Option<T> {
    let d: StrDeserializer<'a, ValueError> = s.into_deserializer();
    T::deserialize(d).ok()
}

/// A date as its `Deserialize` impl reads it, by the strict RFC 3339 parser when that takes it
/// (the form mtasts writes, and the same instant), which is several times faster.
fn date(text: &str) -> Option<DateTime<Utc>> {
    let s = string(text)?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.to_utc())
        .or_else(|| de(s))
}

/// A decimal integer as TOML reads one: no sign, no leading zero.
fn int(text: &str) -> Option<u32> {
    let digits = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    digits.then(|| text.parse().ok()).flatten()
}

/// An inline array of plain strings, joined by `, `.
fn strings(text: &str) -> Option<Vec<&str>> {
    let list = text.strip_prefix('[')?.strip_suffix(']')?;
    if list.is_empty() {
        return Some(Vec::new());
    }
    // An item with a comma of its own is cut here and then refused.
    list.split(',')
        .enumerate()
        .map(|(i, item)| {
            string(if i == 0 {
                item
            } else {
                item.strip_prefix(' ')?
            })
        })
        .collect()
}

/// A basic string with nothing to unescape: no quote, backslash or control character inside
/// (which also rules out a `", "` that would make `split` cut inside a string).
fn string(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    // Without an early exit the loop is vectorised.
    let bad = inner.bytes().fold(false, |bad, b| {
        bad | (b == b'"') | (b == b'\\') | (b < 0x20) | (b == 0x7f)
    });
    (!bad).then_some(inner)
}

/// Appends the section of `name`'s entry to `out` as the TOML serialiser writes it, when every
/// string in it is plain and it has no notices; otherwise leaves `out` alone and returns false.
pub(super) fn write_section(name: &str, e: &Entry, out: &mut String) -> bool {
    use std::fmt::Write as _;
    let plain = |s: &str| !s.chars().any(|c| c == '"' || c == '\\' || c.is_control());
    let strings = [Some(name), Some(&e.id), Some(&e.policy_sha256)]
        .into_iter()
        .chain([
            e.previous_id.as_deref(),
            e.previous_sha256.as_deref(),
            e.pin.as_deref(),
            e.certificate.as_deref(),
        ])
        .flatten()
        .chain(e.mx.iter().map(String::as_str));
    // A name TOML could write as a bare key would not be quoted: leave it to TOML.
    let bare = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !e.notices.is_empty() || bare || !strings.into_iter().all(plain) {
        return false;
    }
    let date =
        |d: &chrono::DateTime<chrono::Utc>| serde_json::to_string(d).expect("a date serialises");
    let _ = write!(
        out,
        "[domains.\"{name}\"]\nid = \"{}\"\npolicy_sha256 = \"{}\"\nstage = \"{}\"\nmode = \"{}\"\n\
         max_age = {}\nmx = [",
        e.id,
        e.policy_sha256,
        e.stage.as_str(),
        e.mode.as_str(),
        e.max_age
    );
    for (i, mx) in e.mx.iter().enumerate() {
        let _ = write!(out, "{}\"{mx}\"", if i == 0 { "" } else { ", " });
    }
    let _ = write!(
        out,
        "]\npublished = {}\nmax_age_high = {}\n",
        date(&e.published),
        e.max_age_high
    );
    for (key, value) in [
        ("sts_ended", e.sts_ended.as_ref().map(date)),
        ("retiring_since", e.retiring_since.as_ref().map(date)),
        ("remove_after", e.remove_after.as_ref().map(date)),
        (
            "previous_id",
            e.previous_id.as_ref().map(|s| format!("\"{s}\"")),
        ),
        (
            "previous_sha256",
            e.previous_sha256.as_ref().map(|s| format!("\"{s}\"")),
        ),
        ("pin", e.pin.as_ref().map(|s| format!("\"{s}\""))),
        (
            "certificate",
            e.certificate.as_ref().map(|s| format!("\"{s}\"")),
        ),
    ] {
        if let Some(value) = value {
            let _ = writeln!(out, "{key} = {value}");
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the TOML parser makes of one section.
    fn by_toml(text: &str) -> Option<(String, Entry)> {
        let part: super::super::codec::Part<String, Entry> = toml::from_str(text).ok()?;
        part.domains.into_iter().next()
    }

    const FULL: &str = "[domains.\"a.example\"]\n\
        id = \"20250101000000\"\n\
        policy_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n\
        stage = \"retiring\"\n\
        mode = \"none\"\n\
        max_age = 604800\n\
        mx = [\"mx1.example.net\", \"*.mx.example.net\"]\n\
        published = \"2026-11-28T21:38:52.729482255Z\"\n\
        max_age_high = 1209600\n\
        sts_ended = \"2026-11-28T21:38:52Z\"\n\
        retiring_since = \"2026-11-28T21:38:52Z\"\n\
        remove_after = \"2026-12-28T21:38:52Z\"\n\
        previous_id = \"1\"\n\
        previous_sha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"\n\
        pin = \"p1\"\n\n";

    #[test]
    fn reads_what_toml_reads() {
        let plain = "[domains.\"b.example\"]\nid = \"7\"\npolicy_sha256 = \"ab\"\nstage = \"active\"\n\
                     mode = \"enforce\"\nmax_age = 0\nmx = []\npublished = \"2023-11-14T22:13:20Z\"\n\
                     max_age_high = 86400\n";
        for text in [FULL, plain] {
            let fast = section(text, &mut None);
            assert!(fast.is_some(), "the fast path refused {text:?}");
            assert_eq!(fast, by_toml(text), "{text}");
        }
    }

    #[test]
    fn writes_what_toml_writes() {
        let (name, entry) = section(FULL, &mut None).unwrap();
        let mut fast = String::new();
        assert!(write_section(&name, &entry, &mut fast));
        let one = super::super::codec::Part {
            domains: std::collections::BTreeMap::from([(name, entry)]),
        };
        let toml = toml::to_string(&one).unwrap();
        assert_eq!(fast, toml.strip_prefix("[domains]\n\n").unwrap_or(&toml));
        assert_eq!(format!("{fast}\n"), FULL);
    }

    #[test]
    fn leaves_everything_else_to_toml() {
        let cases = [
            FULL.replace("\"p1\"", "\"p\\u0031\""),
            FULL.replace("pin = ", "# a comment\npin = "),
            FULL.replace("max_age = 604800", "max_age = 0604800"),
            FULL.replace("max_age = 604800", "max_age = +604800"),
            FULL.replace("max_age = 604800", "max_age = 99999999999"),
            FULL.replace("pin = \"p1\"", "pin = \"p1\"\npin = \"p2\""),
            FULL.replace("pin = \"p1\"", "color = \"red\""),
            FULL.replace(
                "mx = [\"mx1.example.net\", ",
                "mx = [\"mx1.example.net\",\n",
            ),
            FULL.replace("stage = \"retiring\"", "stage = \"gone\""),
            FULL.replace("published = \"2026-11-28T21:38:52.729482255Z\"\n", ""),
            FULL.replace("[domains.\"a.example\"]", "[domains.\"a\\\".example\"]"),
            FULL.replace(
                "pin = \"p1\"\n",
                "pin = \"p1\"\n[[domains.\"a.example\".notices]]\n",
            ),
        ];
        for text in &cases {
            assert_eq!(section(text, &mut None), None, "{text}");
        }
    }
}
