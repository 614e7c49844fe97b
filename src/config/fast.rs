//! A strict reader for the shape large configs have: `[defaults]` and `[nginx]` first, then one
//! `[domains."name"]` table after another, each holding known keys with plain values (a string
//! without escapes, a decimal integer, a boolean, or a one-line array of such strings), blank
//! lines and comments. The tables are read on several threads, without building a TOML tree,
//! into the same raw mirror and spans the TOML parser gives. Anything else (an escape, a
//! multi-line value, an unknown key, a wrong type, a name twice) is `None`, and the TOML parser
//! reads the whole file, so that every problem is reported as before.

use foldhash::{HashSet, HashSetExt};
use std::ops::Range;

use super::raw::{RawConfig, RawSettings, Sp, Walker};
use crate::diag::Problem;

/// Domain tables per thread's share when there are many.
const RUN: usize = 2048;

/// The raw mirror of `text` and the problems of its first part, or `None`.
pub(crate) fn parse(text: &str) -> Option<(RawConfig, Vec<Problem>)> {
    if !plain_bytes(text.as_bytes()) {
        return None;
    }
    let first = if text.starts_with("[domains.") {
        0
    } else {
        text.find("\n[domains.")? + 1
    };
    let (head, errors) = toml::de::DeTable::parse_recoverable(&text[..first]);
    if !errors.is_empty() || head.get_ref().iter().any(|(k, _)| k.get_ref() == "domains") {
        return None;
    }
    let mut walker = Walker::default();
    let mut raw = walker.config(head.get_ref());
    let sections = sections(text, first)?;
    let runs: Vec<&[Range<usize>]> = sections.chunks(RUN).collect();
    raw.domains.reserve(sections.len());
    for run in crate::parallel::on_threads(runs, |run| {
        run.iter()
            .map(|s| domain(text, s.clone()))
            .collect::<Option<Vec<_>>>()
    }) {
        raw.domains.extend(run?);
    }
    // The TOML parser's "duplicate key" error, with its position, comes from there.
    let mut names = HashSet::with_capacity(raw.domains.len());
    if !raw
        .domains
        .iter()
        .all(|(name, _)| names.insert(name.value.as_str()))
    {
        return None;
    }
    raw.domains_span = Some(first + 1..first + "[domains".len());
    raw.domains_seen = raw.domains.len();
    Some((raw, walker.problems))
}

/// Whether `bytes` hold no control character but tab and line breaks, and every CR starts a
/// CRLF: TOML refuses the others (in comments too), so the TOML parser must say where.
fn plain_bytes(bytes: &[u8]) -> bool {
    let controls_ok = bytes
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || matches!(b, b'\t' | b'\n' | b'\r'));
    controls_ok && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// The byte ranges of the domain tables from `first` on: each from its header to the next.
fn sections(text: &str, first: usize) -> Option<Vec<Range<usize>>> {
    let mut starts = vec![first];
    let mut at = first;
    while let Some(i) = text[at..].find("\n[") {
        let start = at + i + 1;
        if !text[start..].starts_with("[domains.") {
            return None;
        }
        starts.push(start);
        at = start;
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    Some(
        starts
            .iter()
            .copied()
            .zip(ends)
            .map(|(s, e)| s..e)
            .collect(),
    )
}

/// One `[domains."name"]` table.
fn domain(text: &str, range: Range<usize>) -> Option<(Sp<String>, RawSettings)> {
    let mut lines = Lines {
        text,
        at: range.start,
        end: range.end,
    };
    let (offset, header) = lines.next()?;
    let quoted = header
        .strip_prefix("[domains.")?
        .split_once(']')
        .filter(|(_, rest)| end_of_line(rest))?
        .0;
    let name = Sp {
        value: plain_string(quoted)?.to_string(),
        span: offset + "[domains.".len()..offset + "[domains.".len() + quoted.len(),
    };
    let mut s = RawSettings::default();
    let mut seen: Vec<&str> = Vec::new();
    for (offset, line) in lines {
        let body = line.trim_start_matches([' ', '\t']);
        if end_of_line(body) {
            continue;
        }
        let key_len = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        let key = &body[..key_len];
        if key.is_empty() || seen.contains(&key) {
            return None;
        }
        seen.push(key);
        let rest = body[key_len..].trim_start_matches([' ', '\t']);
        let text = rest.strip_prefix('=')?.trim_start_matches([' ', '\t']);
        let at = offset + (line.len() - text.len());
        let (value, len) = Value::read(text, at)?;
        if !end_of_line(&text[len..]) {
            return None;
        }
        let span = at..at + len;
        match (key, value) {
            ("mode", Value::Str(v)) => s.mode = Some(Sp { value: v, span }),
            ("max_age", Value::Int(v)) => s.max_age = Some(Sp { value: v, span }),
            ("mx", Value::List(v)) => s.mx = Some(Sp { value: v, span }),
            ("policy_cname", Value::Str(v)) => s.policy_cname = Some(Sp { value: v, span }),
            ("policy_addresses", Value::List(v)) => {
                s.policy_addresses = Some(Sp { value: v, span });
            }
            ("tlsrpt_rua", Value::List(v)) => s.tlsrpt_rua = Some(Sp { value: v, span }),
            ("ttl", Value::Int(v)) => s.ttl = Some(Sp { value: v, span }),
            ("id_scheme", Value::Str(v)) => s.id_scheme = Some(Sp { value: v, span }),
            ("retire_max_age", Value::Int(v)) => s.retire_max_age = Some(Sp { value: v, span }),
            ("id", Value::Str(v)) => s.id = Some(Sp { value: v, span }),
            ("retire", Value::Bool(v)) => s.retire = Some(Sp { value: v, span }),
            ("accept_wildcard_mx", Value::Bool(v)) => {
                s.accept_wildcard_mx = Some(Sp { value: v, span });
            }
            _ => return None,
        }
    }
    Some((name, s))
}

/// Nothing but blanks and perhaps a comment (without control characters) up to the line end.
fn end_of_line(rest: &str) -> bool {
    let rest = rest.trim_start_matches([' ', '\t']);
    rest.is_empty()
        || rest
            .strip_prefix('#')
            .is_some_and(|c| !c.chars().any(|c| c.is_control() && c != '\t'))
}

/// The lines of a table, each with its offset, without the line break (`\n` or `\r\n`).
struct Lines<'a> {
    text: &'a str,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.at >= self.end {
            return None;
        }
        let rest = &self.text[self.at..self.end];
        let len = rest.find('\n').unwrap_or(rest.len());
        let line = &rest[..len];
        let item = (self.at, line.strip_suffix('\r').unwrap_or(line));
        self.at += len + 1;
        Some(item)
    }
}

/// A value of the plain subset.
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Sp<String>>),
}

impl Value {
    /// The value at the start of `text` (found at offset `at`) and its length in bytes.
    fn read(text: &str, at: usize) -> Option<(Value, usize)> {
        if let Some(inner) = text.strip_prefix('"') {
            let len = 2 + inner.find('"')?;
            let s = plain_string(&text[..len])?;
            return Some((Value::Str(s.to_string()), len));
        }
        if text.starts_with('[') {
            return list(text, at);
        }
        for (word, b) in [("true", true), ("false", false)] {
            if text.starts_with(word) && !text[word.len()..].starts_with(is_key_char) {
                return Some((Value::Bool(b), word.len()));
            }
        }
        let len = text.bytes().take_while(u8::is_ascii_digit).count();
        let digits = &text[..len];
        // No sign, underscore, leading zero, other base or fraction: those go to TOML.
        let plain = len > 0
            && (digits == "0" || !digits.starts_with('0'))
            && !text[len..].starts_with(|c: char| is_key_char(c) || c == '.' || c == '+');
        plain.then(|| digits.parse().ok().map(|v| (Value::Int(v), len)))?
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A one-line array of plain strings, an optional trailing comma.
fn list(text: &str, at: usize) -> Option<(Value, usize)> {
    let mut items = Vec::new();
    let mut i = 1;
    let blank = |i: usize| i + text[i..].len() - text[i..].trim_start_matches([' ', '\t']).len();
    loop {
        i = blank(i);
        if text[i..].starts_with(']') {
            return Some((Value::List(items), i + 1));
        }
        if !text[i..].starts_with('"') {
            return None;
        }
        let len = 2 + text[i + 1..].find('"')?;
        let s = plain_string(&text[i..i + len])?;
        items.push(Sp {
            value: s.to_string(),
            span: at + i..at + i + len,
        });
        i = blank(i + len);
        if let Some(rest) = text[i..].strip_prefix(',') {
            i = text.len() - rest.len();
        } else if !text[i..].starts_with(']') {
            return None;
        }
    }
}

/// The inside of a double-quoted string that means itself: no backslash or control character.
fn plain_string(quoted: &str) -> Option<&str> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!inner
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control()))
    .then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast reader either declines or gives exactly what the TOML parser gives.
    fn agrees(text: &str) -> bool {
        crate::config::fast_reader_agrees(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn agrees_with_toml_on_every_fixture_and_takes_the_plain_ones() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let sample = std::fs::read_to_string(root.join("domains.toml")).unwrap();
        assert!(agrees(&sample), "declined the repository's domains.toml");
        let mut taken = Vec::new();
        for kind in ["valid", "invalid"] {
            for dir in std::fs::read_dir(root.join("tests/fixtures").join(kind)).unwrap() {
                let dir = dir.unwrap().path();
                let Ok(text) = std::fs::read_to_string(dir.join("domains.toml")) else {
                    continue;
                };
                if agrees(&text) {
                    taken.push(dir.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
        }
        for plain in [
            "sample",
            "minimal",
            "idn_wildcards_addresses",
            "mode_unknown",
        ] {
            assert!(
                taken.iter().any(|t| t == plain),
                "declined {plain}: took {taken:?}"
            );
        }
        assert!(taken.len() >= 15, "{taken:?}");
    }

    #[test]
    fn takes_comments_blanks_crlf_and_every_value_kind() {
        let text = "# top\n[defaults]\nmx = [\"mx.example.net\"]\n\n[nginx]\nvhosts = \"shared\"\n\n\
            [domains.\"bücher.example\"]   # a comment\r\n\
            \t mode=\"enforce\"\r\n\
            max_age = 0 # zero\n\
            mx = [ \"a.example.net\" , \"*.b.example.net\", ]\n\
            retire = false\n\
            retire_max_age = 86400\n\
            id = \"p1\"\n\
            policy_addresses = []\n\
            \n# between\n\
            [domains.\"a.example\"]\n\
            retire = true\n";
        assert!(agrees(text), "declined");
        assert_eq!(parse(text).unwrap().0.domains.len(), 2);
    }

    #[test]
    fn declines_what_it_does_not_read_exactly() {
        let base =
            "[defaults]\nmx = [\"mx.example.net\"]\n[domains.\"a.example\"]\nmode = \"enforce\"\n";
        assert!(agrees(base));
        for (from, to) in [
            ("mode = \"enforce\"", "mode = \"enf\\u006frce\""),
            ("mode = \"enforce\"", "mode = 'enforce'"),
            ("mode = \"enforce\"", "mode = \"enforce\" x"),
            ("mode = \"enforce\"", "mode = 1"),
            ("mode = \"enforce\"", "colour = \"red\""),
            (
                "mode = \"enforce\"",
                "mode = \"enforce\"\nmode = \"testing\"",
            ),
            ("mode = \"enforce\"", "max_age = 0604800"),
            ("mode = \"enforce\"", "max_age = +5"),
            ("mode = \"enforce\"", "max_age = 1_000"),
            ("mode = \"enforce\"", "max_age = 1.5"),
            ("mode = \"enforce\"", "max_age = 99999999999999999999"),
            ("mode = \"enforce\"", "mx = [\n\"a.example.net\"]"),
            ("mode = \"enforce\"", "mx = [\"a\", 1]"),
            ("mode = \"enforce\"", "policy.cname = \"x\""),
            ("mode = \"enforce\"", "\"mode\" = \"enforce\""),
            ("mode = \"enforce\"", "mode = \"enforce\"\n[nginx]"),
            (
                "mode = \"enforce\"",
                "mode = \"enforce\"\n[domains.\"a.example\"]",
            ),
            (
                "mode = \"enforce\"",
                "mode = \"enforce\"\n[domains.\"a.example\".x]",
            ),
            ("[domains.\"a.example\"]", "[domains.a]"),
            ("[domains.\"a.example\"]", "[domains.\"a\\\\b\"]"),
            ("[defaults]", "[domains]\n[defaults]"),
            ("[defaults]", "[defaults"),
            // A lone CR is not a TOML line ending, also at the very end.
            ("mode = \"enforce\"\n", "mode = \"enforce\"\r"),
            ("mode = \"enforce\"\n", "mode = \"enforce\"\rmx = []\n"),
        ] {
            let text = base.replace(from, to);
            assert!(!agrees(&text), "took {text:?}");
        }
    }

    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "mode",
            "max_age",
            "mx",
            "ttl",
            "id",
            "retire",
            "policy_cname",
            "tlsrpt_rua",
            "colour",
        ]);
        let value = prop_oneof![
            "\"[a-zé .*#\\\\\"-]{0,8}\"",
            "-?[0-9_+.]{1,6}",
            Just("true".to_string()),
            Just("[]".to_string()),
            "\\[ ?(\"[a-z.*]{0,5}\" ?, ?){0,3}\\]",
        ];
        let gap = prop::sample::select(vec!["=", " = ", "= ", "\t=  "]);
        let tail = prop::sample::select(vec![
            "", " ", " # note", "# [x]", "\r", " x", "\r\r", "# \u{7}", "#\r",
        ]);
        (key, gap, value, tail).prop_map(|(k, g, v, t)| format!("{k}{g}{v}{t}"))
    }

    proptest::proptest! {
        #[test]
        fn never_disagrees_with_toml(
            tables in proptest::collection::vec(
                ("[a-zü]{1,5}", proptest::collection::vec(line(), 0..5)),
                1..4,
            )
        ) {
            let mut text = String::from("[defaults]\nmx = [\"mx.example.net\"]\n");
            for (name, lines) in tables {
                text.push_str(&format!("[domains.\"{name}.example\"]\n{}\n", lines.join("\n")));
            }
            agrees(&text);
            // The same text cut at its last line ending, with a CR, LF, CRLF or nothing after.
            let cut = text.trim_end_matches('\n');
            for end in ["", "\r", "\n", "\r\n", "\n\r"] {
                agrees(&format!("{cut}{end}"));
            }
        }
    }
}
