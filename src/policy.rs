//! RFC 8461 §3.2 policy files: the canonical bytes we publish and a strict parser for any body.

use std::fmt;

use crate::model::{MAX_AGE_LIMIT, Mode};
use crate::names::MxPattern;

/// Suggested maximum policy size (RFC 8461 §3.3).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// A policy: what a sender caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// mx values as they appear in the file.
    pub mx: Vec<String>,
    /// Cache lifetime in seconds.
    pub max_age: u32,
}

impl Policy {
    /// Builds the policy we publish from validated parts (mx already deduplicated).
    pub fn new(mode: Mode, mx: &[MxPattern], max_age: u32) -> Policy {
        Policy {
            mode,
            mx: mx.iter().map(ToString::to_string).collect(),
            max_age,
        }
    }

    /// Canonical bytes (SPEC GEN-POL): version first, mode, one mx per line, max_age; CRLF
    /// after every line including the last; ASCII only.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 + self.mx.len() * 32);
        out.push_str("version: STSv1\r\nmode: ");
        out.push_str(self.mode.as_str());
        out.push_str("\r\n");
        for mx in &self.mx {
            out.push_str("mx: ");
            out.push_str(mx);
            out.push_str("\r\n");
        }
        out.push_str("max_age: ");
        out.push_str(&self.max_age.to_string());
        out.push_str("\r\n");
        out
    }
}

/// Why a body is not a valid policy, and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line number (0 for the body as a whole).
    pub line: usize,
    /// What is wrong.
    pub fault: Fault,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.fault)
        } else {
            write!(f, "line {}: {}", self.line, self.fault)
        }
    }
}

/// What is wrong with a policy body (RFC 8461 §3.2, §3.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// More than `MAX_POLICY_BYTES`.
    #[error("larger than 64 KiB (RFC 8461 §3.3)")]
    TooLarge,
    /// Not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Zero bytes.
    #[error("empty body")]
    Empty,
    /// A required field is missing.
    #[error("no {0} field")]
    Missing(&'static str),
    /// No `mx` line although the mode needs one.
    #[error("no mx field (required unless mode is none)")]
    NoMx,
    /// An empty line.
    #[error("blank line")]
    BlankLine,
    /// A line that is not `key: value`.
    #[error("no ':' in {0:?}")]
    NoColon(String),
    /// A key outside the ABNF's characters or longer than 32.
    #[error("invalid field name {0:?}")]
    FieldName(String),
    /// `key:` with nothing after it.
    #[error("field {0} has no value")]
    NoValue(String),
    /// A value with a control character or tab inside.
    #[error("field {0} contains a control character")]
    ControlCharacter(String),
    /// `version` is not `STSv1`.
    #[error("version must be STSv1, not {0:?}")]
    Version(String),
    /// `mode` is not one of the three.
    #[error("mode must be none, testing or enforce, not {0:?}")]
    Mode(String),
    /// `max_age` is not 1 to 10 digits.
    #[error("max_age must be 1 to 10 digits, not {0:?}")]
    MaxAgeSyntax(String),
    /// `max_age` above the RFC's limit.
    #[error("max_age {0} exceeds {MAX_AGE_LIMIT}")]
    MaxAgeTooLarge(String),
    /// An `mx` value that is not `["*."] Domain`.
    #[error("invalid mx pattern {0:?}")]
    MxPattern(String),
}

/// Parses a body strictly by the RFC 8461 §3.2 ABNF: LF or CRLF terminators, at most one final
/// terminator, no blank lines, case-sensitive keys and values, unknown fields ignored, the
/// first of a duplicated non-mx field wins, `mx` required unless mode is `none`.
pub fn parse(body: &[u8]) -> Result<Policy, ParseError> {
    let whole = |fault| ParseError { line: 0, fault };
    if body.len() > MAX_POLICY_BYTES {
        return Err(whole(Fault::TooLarge));
    }
    let text = std::str::from_utf8(body).map_err(|_| whole(Fault::NotUtf8))?;
    if text.is_empty() {
        return Err(whole(Fault::Empty));
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for (i, raw_line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let fail = |fault| ParseError {
            line: line_no,
            fault,
        };
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let (key, value) = field(line).map_err(fail)?;
        match key {
            "version" if version.is_none() => {
                if value != "STSv1" {
                    return Err(fail(Fault::Version(value.to_string())));
                }
                version = Some(value);
            }
            "mode" if mode.is_none() => {
                let m = Mode::parse(value).ok_or_else(|| fail(Fault::Mode(value.to_string())))?;
                mode = Some(m);
            }
            "max_age" if max_age.is_none() => {
                let v = max_age_value(value).map_err(fail)?;
                max_age = Some(v);
            }
            "mx" => {
                mx_value(value).map_err(fail)?;
                mx.push(value.to_string());
            }
            // Unknown fields, and repeats of non-mx fields (first wins), are ignored (§3.2).
            _ => {}
        }
    }
    version.ok_or_else(|| whole(Fault::Missing("version")))?;
    let mode = mode.ok_or_else(|| whole(Fault::Missing("mode")))?;
    let max_age = max_age.ok_or_else(|| whole(Fault::Missing("max_age")))?;
    if mx.is_empty() && mode != Mode::None {
        return Err(whole(Fault::NoMx));
    }
    Ok(Policy { mode, mx, max_age })
}

/// Splits `key ":" *WSP value *WSP`, checking the key and value character sets.
fn field(line: &str) -> Result<(&str, &str), Fault> {
    if line.is_empty() {
        return Err(Fault::BlankLine);
    }
    let (key, rest) = line
        .split_once(':')
        .ok_or_else(|| Fault::NoColon(line.to_string()))?;
    let mut chars = key.chars();
    let key_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && key.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !key_ok {
        return Err(Fault::FieldName(key.to_string()));
    }
    let value = rest
        .trim_start_matches([' ', '\t'])
        .trim_end_matches([' ', '\t']);
    if value.is_empty() {
        return Err(Fault::NoValue(key.to_string()));
    }
    if value.chars().any(|c| c.is_control() || c == '\t') {
        return Err(Fault::ControlCharacter(key.to_string()));
    }
    Ok((key, value))
}

fn max_age_value(value: &str) -> Result<u32, Fault> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::MaxAgeSyntax(value.to_string()));
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|v| *v <= MAX_AGE_LIMIT)
        .ok_or_else(|| Fault::MaxAgeTooLarge(value.to_string()))
}

/// `["*."] Domain` with RFC 5321 §4.1.2 `Domain` (LDH labels, no trailing dot).
fn mx_value(value: &str) -> Result<(), Fault> {
    let domain = value.strip_prefix("*.").unwrap_or(value);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if domain.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Fault::MxPattern(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(mode: Mode, mx: &[&str], max_age: u32) -> Policy {
        let mx: Vec<MxPattern> = mx.iter().map(|m| MxPattern::parse(m).unwrap()).collect();
        Policy::new(mode, &mx, max_age)
    }

    #[test]
    fn gen_pol_canonical_bytes() {
        let policy = p(
            Mode::Enforce,
            &["mx1.example.com", "*.mail.example.net"],
            604800,
        );
        assert_eq!(
            policy.render(),
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n"
        );
    }

    #[test]
    fn pol_02_none_keeps_its_mx_line() {
        let body = p(Mode::None, &["mx.example.com"], 86400).render();
        assert!(body.contains("mode: none\r\nmx: mx.example.com\r\n"));
    }

    fn ok(body: &str) -> Policy {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e}"))
    }

    fn rejected(body: &str) {
        assert!(parse(body.as_bytes()).is_err(), "accepted {body:?}");
    }

    const RFC: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n";

    #[test]
    fn spec_7_1_valid_bodies() {
        let p01 = ok(RFC);
        assert_eq!(p01.mode, Mode::Enforce);
        assert_eq!(p01.mx.len(), 3);
        ok(&RFC.replace('\n', "\r\n")); // P02
        ok(RFC.replace('\n', "\r\n").trim_end()); // P03
        ok(&RFC.replacen('\n', "\r\n", 2)); // P04
        ok("version: STSv1\nmode: none\nmax_age: 86400\n"); // P05
        ok("version: STSv1\nmode: none\nmx: a.example\nmax_age: 86400\n"); // P06
        ok("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 31557600\n"); // P08
        ok("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 0\n"); // P10
        ok("mode: testing\nversion: STSv1\nmx: a.example\nmax_age: 1\n"); // P13
        let p18 = ok("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n");
        assert_eq!(p18.mode, Mode::Testing, "P18: the first field wins");
        ok("version: STSv1\nmode: testing\nfoo: bar baz\nmx: a.example\nmax_age: 1\n"); // P19
        ok("version: STSv1\nmode: testing\nfoo: a:b\nmx: a.example\nmax_age: 1\n"); // P20
        ok("version:STSv1\nmode:testing\nmx:a.example\nmax_age:1\n"); // P26
        ok("version: STSv1 \nmode: testing\t\nmx: a.example \nmax_age: 1\t\n"); // P27
        ok("version: STSv1\nmode: testing\nmx: xn--mller-kva.example\nmax_age: 1\n"); // P36
        ok("version: STSv1\nmode: testing\nmx: MX1.Example.COM\nmax_age: 1\n"); // P45
        ok("version: STSv1\nversion: STSv2\nmode: testing\nmx: a.example\nmax_age: 1\n"); // P46
    }

    #[test]
    fn spec_7_1_invalid_bodies() {
        let base = |mode: &str, mx: &str, age: &str| {
            format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: {age}\r\n")
        };
        rejected("version: STSv1\nmode: enforce\nmax_age: 86400\n"); // P07
        rejected(&base("enforce", "a.example", "31557601")); // P09
        rejected(&base("enforce", "a.example", "00000086400")); // P11
        rejected(&base("enforce", "a.example", "-1")); // P12
        rejected("mode: enforce\nmx: a.example\nmax_age: 1\n"); // P14
        rejected("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"); // P15
        rejected(&base("Enforce", "a.example", "1")); // P16
        rejected(&base("report", "a.example", "1")); // P17
        rejected("version: STSv1\r\nmode: enforce\r\n\r\nmx: a.example\r\nmax_age: 1\r\n"); // P21
        rejected(&(base("enforce", "a.example", "1") + "\r\n")); // P22
        rejected(&("# comment\r\n".to_string() + &base("enforce", "a.example", "1"))); // P23
        rejected(&(" ".to_string() + &base("enforce", "a.example", "1"))); // P24
        rejected("version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"); // P25
        rejected("Version: STSv1\nMode: enforce\nMX: a.example\nmax_age: 1\n"); // P28
        for mx in [
            "mx1.example.com.",
            ".example.com",
            "*",
            "*.*.example.com",
            "mail.*.example.com",
            "mx*.example.com",
            "müller.example",
            "mx1.example.com:25",
            "mx_1.example.com",
            "a.example.com, b.example.com",
        ] {
            rejected(&base("enforce", mx, "1")); // P29-P35, P38-P40
        }
        rejected("version: STSv1\rmode: enforce\rmx: a.example\rmax_age: 1\r"); // P41
        rejected(&("\u{feff}".to_string() + &base("enforce", "a.example", "1"))); // P42
        rejected(""); // P43
        rejected("{\"version\": \"STSv1\", \"mode\": \"enforce\"}"); // P44
        rejected("<html><body>404 Not Found</body></html>\n"); // P47
        rejected(&"x".repeat(MAX_POLICY_BYTES + 1));
        rejected(&base("enforce", "a.example", "1").replace("max_age: 1", "max_age:"));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = parse(b"version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.to_string(), "line 3: invalid mx pattern \"a_b.example\"");
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
            .prop_filter("no -- in 3rd/4th", |l| l.len() < 4 || &l[2..4] != "--")
    }

    fn pattern() -> impl Strategy<Value = MxPattern> {
        (
            any::<bool>(),
            proptest::collection::vec(label(), 1..4),
            "[a-z]{2,6}",
        )
            .prop_map(|(wild, labels, tld)| {
                let name = format!("{}.{tld}", labels.join("."));
                let text = if wild { format!("*.{name}") } else { name };
                MxPattern::parse(&text).expect("generated pattern is valid")
            })
    }

    proptest! {
        #[test]
        fn round_trip(mode in prop::sample::select(Mode::ALL.to_vec()),
                      mx in proptest::collection::vec(pattern(), 1..6),
                      max_age in 0..=MAX_AGE_LIMIT) {
            let policy = Policy::new(mode, &mx, max_age);
            let body = policy.render();
            prop_assert!(body.is_ascii());
            prop_assert!(body.ends_with("\r\n") && !body.ends_with("\r\n\r\n"));
            prop_assert_eq!(parse(body.as_bytes()).unwrap(), policy);
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&body);
        }
    }
}
