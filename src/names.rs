//! Host names and MX patterns: IDNA to lower-case A-labels, LDH rules, RFC 8461 §4.1 matching.

use std::fmt;
use std::net::IpAddr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Longest domain whose `_smtp._tls.<domain>` owner name still fits in 253 octets.
pub(crate) const MAX_DOMAIN_LEN: usize = 253 - "_smtp._tls.".len();

/// Why a name was refused: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl NameError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        NameError {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A validated DNS host name: lower-case A-labels, LDH only, no trailing dot, two labels or more.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    /// Validates and normalises `input` (U-labels become A-labels, one trailing dot is dropped).
    pub fn parse(input: &str) -> Result<HostName, NameError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(NameError::new(
                "empty name",
                "write a host name such as mail.example.com",
            ));
        }
        if trimmed.parse::<IpAddr>().is_ok()
            || trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .is_ok()
        {
            return Err(NameError::new(
                "an IP address is not a host name",
                "write the host name that the certificate is issued for",
            ));
        }
        if let Some(c) = trimmed.chars().find(|c| forbidden_ascii(*c)) {
            return Err(forbidden_char_error(c));
        }
        if let Some(c) = trimmed.chars().find(|c| invisible(*c)) {
            return Err(NameError::new(
                format!(
                    "the name contains the invisible character U+{:04X}",
                    c as u32
                ),
                "IDNA would silently drop it, so the published name would differ from what you see; delete it",
            ));
        }
        if trimmed
            .chars()
            .any(|c| matches!(c, '\u{3002}' | '\u{ff0e}' | '\u{ff61}'))
        {
            return Err(NameError::new(
                "the name contains an ideographic or full-width dot",
                "separate labels with the ASCII dot '.'",
            ));
        }
        if trimmed.split('.').any(str::is_empty) {
            return Err(NameError::new(
                "the name has an empty label (two dots in a row, or a leading dot)",
                "remove the extra dot",
            ));
        }
        let ascii = Uts46::new()
            .to_ascii(
                trimmed.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::CheckFirstLast,
                DnsLength::Verify,
            )
            .map_err(|_| idna_error(trimmed))?
            .into_owned();
        if !ascii.contains('.') {
            return Err(NameError::new(
                format!("{ascii:?} is a single label"),
                "write a fully qualified name such as mail.example.com",
            ));
        }
        if ascii
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(NameError::new(
                "the last label is all digits",
                "top-level domains are never numeric; check for an IP address or a typo",
            ));
        }
        Ok(HostName(ascii))
    }

    /// The A-label form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name with a trailing dot, as zone files need it.
    pub fn fqdn(&self) -> String {
        format!("{}.", self.0)
    }

    /// The Unicode form, for messages to people (same as `as_str` for ASCII names).
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        if result.is_ok() {
            unicode
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail domain: a host name short enough for every owner name derived from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(HostName);

impl DomainName {
    /// Validates a policy domain (same rules as [`HostName`], plus room for `_smtp._tls.`).
    pub fn parse(input: &str) -> Result<DomainName, NameError> {
        let host = HostName::parse(input)?;
        if host.as_str().len() > MAX_DOMAIN_LEN {
            return Err(NameError::new(
                format!(
                    "the name is {} octets long; `_smtp._tls.<domain>` would exceed 253",
                    host.as_str().len()
                ),
                format!("a mail domain may have at most {MAX_DOMAIN_LEN} octets in A-label form"),
            ));
        }
        Ok(DomainName(host))
    }

    /// The A-label form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying host name.
    pub fn host(&self) -> &HostName {
        &self.0
    }

    /// The policy host `mta-sts.<domain>`.
    pub fn policy_host(&self) -> String {
        format!("mta-sts.{}", self.0)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An RFC 8461 mx pattern: a host name, or `*.` followed by a host name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MxPattern {
    wildcard: bool,
    base: HostName,
}

impl MxPattern {
    /// Validates and normalises a pattern; `*` is allowed only as the whole left-most label.
    pub fn parse(input: &str) -> Result<MxPattern, NameError> {
        if let Some(rest) = input.strip_prefix("*.") {
            if rest.contains('*') {
                return Err(misplaced_wildcard());
            }
            let base = HostName::parse(rest)?;
            return Ok(MxPattern {
                wildcard: true,
                base,
            });
        }
        if input.contains('*') {
            return Err(misplaced_wildcard());
        }
        if let Some(rest) = input.strip_prefix('.') {
            return Err(NameError::new(
                "a leading dot is an old draft syntax for wildcards",
                format!("write \"*.{rest}\" to allow every host one label below {rest}"),
            ));
        }
        if input
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            && !input.contains("::")
        {
            return Err(NameError::new(
                "mx patterns cannot carry a port",
                "write only the host name; SMTP always uses port 25",
            ));
        }
        Ok(MxPattern {
            wildcard: false,
            base: HostName::parse(input)?,
        })
    }

    /// Whether this is a `*.` pattern.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// RFC 8461 §4.1: case-insensitive; `*` matches exactly one whole left-most label.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if self.wildcard {
            match host.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest == self.base.as_str(),
                None => false,
            }
        } else {
            host == self.base.as_str()
        }
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        self.base.fmt(f)
    }
}

fn misplaced_wildcard() -> NameError {
    NameError::new(
        "'*' may only be the whole left-most label",
        "write \"*.example.net\" (matches exactly one label below example.net) or a full host name",
    )
}

/// Unicode default-ignorable code points: UTS #46 maps them to nothing, so a name that holds
/// one would be published as a different name than the one the user reads.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// ASCII characters that never belong in a host name (STD3 would reject them too, less clearly).
fn forbidden_ascii(c: char) -> bool {
    c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn forbidden_char_error(c: char) -> NameError {
    let shown = match c {
        '\0' => "NUL".to_string(),
        c if c.is_ascii_control() => format!("control character U+{:04X}", c as u32),
        ' ' => "a space".to_string(),
        c => format!("{c:?}"),
    };
    let help = match c {
        '_' => "underscores are not allowed in host names (RFC 5321 §4.1.2)",
        ':' => "write only the host name, without a port or scheme",
        '/' | '\\' => "write only the host name, without a path",
        '*' => "'*' may only be the whole left-most label of an mx pattern",
        _ => "host names contain only letters, digits, '-' and '.'",
    };
    NameError::new(format!("the name contains {shown}"), help)
}

fn idna_error(input: &str) -> NameError {
    if let Some(label) = input
        .split('.')
        .find(|l| l.starts_with('-') || l.ends_with('-'))
    {
        return NameError::new(
            format!("label {label:?} starts or ends with '-'"),
            "labels may contain '-' but not at either end",
        );
    }
    if let Some(label) = input.split('.').find(|l| l.len() > 63) {
        return NameError::new(
            format!("label of {} octets; the limit is 63", label.len()),
            "shorten the label",
        );
    }
    if input.len() > 253 {
        return NameError::new(
            format!("name of {} octets; the limit is 253", input.len()),
            "shorten the name",
        );
    }
    NameError::new(
        "not a valid internationalised domain name (UTS #46 / IDNA 2008)",
        "check for invisible characters, mixed scripts, a malformed xn-- label, or an over-long name",
    )
}

/// A domain named on the command line, in the lock's A-label form when it is a valid name.
pub(crate) fn normalise_domain(name: &str) -> String {
    DomainName::parse(name).map_or_else(|_| name.to_string(), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Result<String, NameError> {
        HostName::parse(s).map(|h| h.as_str().to_string())
    }

    #[test]
    fn lower_cases_and_drops_trailing_dot() {
        assert_eq!(host("MX1.Example.COM.").unwrap(), "mx1.example.com");
    }

    #[test]
    fn gen_10_idn_becomes_a_labels() {
        assert_eq!(host("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(host("MÜLLER.example").unwrap(), "xn--mller-kva.example");
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().policy_host(),
            "mta-sts.xn--bcher-kva.example"
        );
    }

    #[test]
    fn double_hyphen_in_third_position_is_allowed() {
        assert_eq!(host("ab--cd.example.com").unwrap(), "ab--cd.example.com");
    }

    #[test]
    fn pol_04_rejects_what_rfc_5321_forbids() {
        for bad in [
            "",
            ".",
            "mx_1.example.com",
            "mx1.example.com:25",
            "192.0.2.25",
            "[2001:db8::1]",
            "2001:db8::1",
            "a..example.com",
            ".example.com",
            "-mx.example.com",
            "mx-.example.com",
            "mx1",
            "a b.example.com",
            "a/b.example",
            "x\0.example",
            "x\n.example",
            "x;y.example",
            "mail.example.123",
            "a\u{ff0e}example",
            "a\u{202e}b.example",
            "a\u{200b}b.example",
            "a\u{ad}b.example",
            "a\u{fe0f}b.example",
        ] {
            assert!(host(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn length_limits() {
        let label63 = "a".repeat(63);
        assert!(host(&format!("{label63}.example")).is_ok());
        assert!(host(&format!("a{label63}.example")).is_err());
        let long = [label63.as_str(); 4].join(".");
        assert!(host(&long).is_err(), "255 octets accepted");
        let domain_ok = format!("{}.{}.{}.{}", label63, label63, label63, "a".repeat(50));
        assert_eq!(domain_ok.len(), MAX_DOMAIN_LEN);
        assert!(DomainName::parse(&domain_ok).is_ok());
        let too_long = format!("{domain_ok}a");
        assert!(HostName::parse(&too_long).is_ok());
        assert!(DomainName::parse(&too_long).is_err());
    }

    #[test]
    fn mx_patterns() {
        let p = |s: &str| MxPattern::parse(s).map(|p| p.to_string());
        assert_eq!(p("*.MX.Example.net").unwrap(), "*.mx.example.net");
        assert_eq!(p("mx1.example.com").unwrap(), "mx1.example.com");
        for bad in [
            "*",
            "*.",
            "*.*.example.com",
            "mail.*.example.com",
            "mx*.example.com",
            ".example.com",
            "mx1.example.com:25",
            "*.com",
            "a.example.com, b.example.com",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            p(".example.com")
                .unwrap_err()
                .help
                .contains("*.example.com")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_refused_or_normalised_to_ldh(input in "\\PC{0,80}") {
            if let Ok(h) = HostName::parse(&input) {
                let s = h.as_str();
                proptest::prop_assert!(s.len() <= 253 && s.contains('.'));
                proptest::prop_assert!(s.split('.').all(|l| !l.is_empty() && l.len() <= 63
                    && !l.starts_with('-') && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')));
                proptest::prop_assert_eq!(HostName::parse(s).unwrap(), h.clone());
            }
            if let Ok(p) = MxPattern::parse(&input) {
                proptest::prop_assert_eq!(MxPattern::parse(&p.to_string()).unwrap(), p);
            }
        }
    }

    #[test]
    fn rfc_8461_section_4_1_matching() {
        let w = MxPattern::parse("*.example.com").unwrap();
        assert!(w.matches("mail.example.com"));
        assert!(w.matches("MAIL.Example.com."));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("foo.bar.example.com"));
        let exact = MxPattern::parse("mail.example.com").unwrap();
        assert!(exact.matches("MAIL.example.com"));
        assert!(exact.matches("mail.example.com."));
        assert!(!exact.matches("mail2.example.com"));
        let ms = MxPattern::parse("*.mx.microsoft").unwrap();
        assert!(!ms.matches("icewolf-li.h-v1.mx.microsoft"));
    }
}
