//! DNS records a domain publishes and their zone-file text (RFC 1035 §5.1 quoting and
//! 255-octet character-string splitting).

use serde::Serialize;

use crate::model::{Domain, PolicyHost};

/// Longest `<character-string>` in TXT RDATA (RFC 1035 §3.3).
const MAX_STRING: usize = 255;

/// One resource record in presentation form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Absolute owner name (trailing dot).
    pub owner: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Record type (`TXT`, `CNAME`, `A`, `AAAA`).
    #[serde(rename = "type")]
    pub rtype: &'static str,
    /// RDATA as it appears in a zone file (TXT values already quoted and split).
    pub rdata: String,
}

/// The `_mta-sts` TXT value (SPEC GEN-TXT): exactly `v=STSv1; id=<id>`.
pub fn sts_value(id: &str) -> String {
    format!("v=STSv1; id={id}")
}

/// The `_smtp._tls` TXT value (SPEC RPT-05): URIs joined by `,` without spaces.
pub fn tlsrpt_value(rua: &[String]) -> String {
    format!("v=TLSRPTv1; rua={}", rua.join(","))
}

/// Every record of one domain, in publishing order: policy TXT, policy host, TLS-RPT.
pub fn for_domain(domain: &Domain, id: &str) -> Vec<Record> {
    let name = domain.name.as_str();
    let ttl = domain.ttl;
    let mut out = vec![match &domain.delegate_to {
        // RFC 8461 §8.2: the alias's policy record is the primary's, by delegation.
        Some(primary) => Record {
            owner: format!("_mta-sts.{name}."),
            ttl,
            rtype: "CNAME",
            rdata: format!("_mta-sts.{primary}."),
        },
        None => Record {
            owner: format!("_mta-sts.{name}."),
            ttl,
            rtype: "TXT",
            rdata: txt_rdata(&sts_value(id)),
        },
    }];
    let host = format!("mta-sts.{name}.");
    match &domain.policy_host {
        PolicyHost::Cname(target) => out.push(Record {
            owner: host,
            ttl,
            rtype: "CNAME",
            rdata: target.fqdn(),
        }),
        PolicyHost::Addresses(addrs) => out.extend(addrs.iter().map(|ip| Record {
            owner: host.clone(),
            ttl,
            rtype: if ip.is_ipv4() { "A" } else { "AAAA" },
            rdata: ip.to_string(),
        })),
        PolicyHost::Cdn => {}
    }
    if !domain.tlsrpt_rua.is_empty() {
        out.push(Record {
            owner: format!("_smtp._tls.{name}."),
            ttl,
            rtype: "TXT",
            rdata: txt_rdata(&tlsrpt_value(&domain.tlsrpt_rua)),
        });
    }
    out
}

/// Why a TXT value is not a valid `_mta-sts` or `_smtp._tls` record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The value does not begin with the version tag.
    #[error("does not start with \"{0}\"")]
    Version(&'static str),
    /// Text between the version tag and the first `;`.
    #[error("unexpected {0:?} after the version")]
    AfterVersion(String),
    /// Only the version tag.
    #[error("no fields after the version")]
    NoFields,
    /// Whitespace ends the record without a closing `;`.
    #[error("whitespace after the last field (write it without, or end with ';')")]
    TrailingSpace,
    /// `;;`.
    #[error("an empty field (';;')")]
    EmptyField,
    /// A field without `=`.
    #[error("field {0:?} has no '='")]
    NoEquals(String),
    /// An extension field outside the ABNF.
    #[error("invalid field {0:?}")]
    Field(String),
    /// An `id` that is not 1-32 letters and digits.
    #[error("id {0:?} is not 1-32 letters and digits")]
    Id(String),
    /// A required field is missing.
    #[error("no {0} field")]
    Missing(&'static str),
    /// An `http:` report URI.
    #[error("{0:?}: only mailto: and https: are supported")]
    Http(String),
    /// A report URI of another scheme, or a bare scheme.
    #[error("{0:?} is not a mailto: or https: URI (a ',' inside a URI must be %2C)")]
    Scheme(String),
    /// A report URI with a character RFC 8460 wants percent-encoded.
    #[error("{0:?} contains a character that must be percent-encoded")]
    Unencoded(String),
}

/// The fields after the version tag of a `;`-separated record (RFC 8461 §3.1 / RFC 8460 §3
/// ABNF): `*WSP ";" *WSP` between fields, an optional trailing delimiter, at least one field,
/// no empty field and no whitespace after the last field without a `;`.
fn fields(rest: &str) -> Result<Vec<&str>, RecordError> {
    let wsp = [' ', '\t'];
    let parts: Vec<&str> = rest.split(';').collect();
    if !parts[0].trim_matches(wsp).is_empty() {
        return Err(RecordError::AfterVersion(parts[0].to_string()));
    }
    if parts.len() < 2 {
        return Err(RecordError::NoFields);
    }
    let last = parts.len() - 1;
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate().skip(1) {
        let field = part.trim_start_matches(wsp);
        if i == last {
            if field.trim_end_matches(wsp).is_empty() {
                break; // the optional trailing delimiter
            }
            if field.ends_with(wsp) {
                return Err(RecordError::TrailingSpace);
            }
        }
        let field = field.trim_end_matches(wsp);
        if field.is_empty() {
            return Err(RecordError::EmptyField);
        }
        out.push(field);
    }
    if out.is_empty() {
        return Err(RecordError::NoFields);
    }
    Ok(out)
}

/// `name=value` with an extension name (1-32 of letters, digits, `_-.`, starting alphanumeric)
/// and a value of printable ASCII without `=`, `;` and space.
fn extension(field: &str) -> Result<(&str, &str), RecordError> {
    let (name, value) = field
        .split_once('=')
        .ok_or_else(|| RecordError::NoEquals(field.to_string()))?;
    let name_ok = name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    let value_ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';');
    if name_ok && value_ok {
        Ok((name, value))
    } else {
        Err(RecordError::Field(field.to_string()))
    }
}

/// Parses an `_mta-sts` TXT value strictly (RFC 8461 §3.1); returns the id (the first, §3.2).
pub fn parse_sts(value: &str) -> Result<String, RecordError> {
    let rest = value
        .strip_prefix("v=STSv1")
        .ok_or(RecordError::Version("v=STSv1"))?;
    let mut id = None;
    for field in fields(rest)? {
        if let Some(v) = field.strip_prefix("id=") {
            if !crate::model::valid_id(v) {
                return Err(RecordError::Id(v.to_string()));
            }
            id.get_or_insert_with(|| v.to_string());
        } else {
            extension(field)?;
        }
    }
    id.ok_or(RecordError::Missing("id"))
}

/// Parses a `_smtp._tls` TXT value strictly (RFC 8460 §3); returns the `rua` URIs.
pub fn parse_tlsrpt(value: &str) -> Result<Vec<String>, RecordError> {
    let rest = value
        .strip_prefix("v=TLSRPTv1")
        .ok_or(RecordError::Version("v=TLSRPTv1"))?;
    let mut rua = None;
    for field in fields(rest)? {
        if let Some(list) = field.strip_prefix("rua=") {
            let uris: Vec<String> = list
                .split(',')
                .map(|u| u.trim_matches([' ', '\t']).to_string())
                .collect();
            for uri in &uris {
                let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
                match scheme.as_deref() {
                    Some("mailto" | "https")
                        if uri.len() > scheme.as_ref().map_or(0, |s| s.len() + 1) => {}
                    Some("http") => {
                        return Err(RecordError::Http(uri.clone()));
                    }
                    _ => {
                        return Err(RecordError::Scheme(uri.clone()));
                    }
                }
                if uri.chars().any(|c| c.is_whitespace() || c == '!') {
                    return Err(RecordError::Unencoded(uri.clone()));
                }
            }
            rua.get_or_insert(uris);
        } else {
            extension(field)?;
        }
    }
    rua.ok_or(RecordError::Missing("rua"))
}

/// TXT RDATA: the value in quoted strings of at most 255 octets, `"` and `\` escaped.
pub fn txt_rdata(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut parts = Vec::with_capacity(bytes.len() / MAX_STRING + 1);
    for chunk in bytes.chunks(MAX_STRING) {
        let mut s = String::with_capacity(chunk.len() + 2);
        s.push('"');
        for &b in chunk {
            match b {
                b'"' | b'\\' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x20..=0x7e => s.push(b as char),
                // Non-printable octets use RFC 1035 \DDD; validated values never contain them.
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('"');
        parts.push(s);
    }
    if parts.is_empty() {
        parts.push("\"\"".into());
    }
    parts.join(" ")
}

/// Reverses [`txt_rdata`]: the concatenated value of a quoted, possibly split TXT RDATA.
pub fn txt_value(rdata: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = rdata.bytes().peekable();
    loop {
        while bytes.next_if(|b| *b == b' ').is_some() {}
        match bytes.next() {
            None => break,
            Some(b'"') => {}
            Some(_) => return None,
        }
        loop {
            match bytes.next()? {
                b'"' => break,
                b'\\' => {
                    let first = bytes.next()?;
                    if first.is_ascii_digit() {
                        let d: String = [first, bytes.next()?, bytes.next()?]
                            .iter()
                            .map(|&b| b as char)
                            .collect();
                        out.push(d.parse::<u8>().ok()?);
                    } else {
                        out.push(first);
                    }
                }
                b => out.push(b),
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mode;
    use crate::names::{DomainName, HostName, MxPattern};

    fn domain(host: PolicyHost, rua: &[&str]) -> Domain {
        Domain {
            name: DomainName::parse("bücher.example").unwrap(),
            mode: Mode::Enforce,
            max_age: 604800,
            mx: vec![MxPattern::parse("mx.example.net").unwrap()].into(),
            policy_host: host,
            tlsrpt_rua: rua.iter().map(|s| s.to_string()).collect(),
            ttl: 3600,
            id_scheme: crate::model::IdScheme::Timestamp,
            pinned_id: None,
            retire: false,
            retire_max_age: 86400,
            accept_wildcard_mx: false,
            mx_leaving: Vec::new(),
            delegate_to: None,
        }
    }

    #[test]
    fn txt_01_gen_txt_and_rpt_05_records() {
        let d = domain(
            PolicyHost::Cname(HostName::parse("mail.example.net").unwrap()),
            &["mailto:a@example.com", "https://r.example.com/x"],
        );
        let r = for_domain(&d, "20250101120000");
        assert_eq!(r[0].owner, "_mta-sts.xn--bcher-kva.example.");
        assert_eq!(r[0].rdata, "\"v=STSv1; id=20250101120000\"");
        assert_eq!(
            (r[1].rtype, r[1].rdata.as_str()),
            ("CNAME", "mail.example.net.")
        );
        assert_eq!(r[1].owner, "mta-sts.xn--bcher-kva.example.");
        assert_eq!(r[2].owner, "_smtp._tls.xn--bcher-kva.example.");
        assert_eq!(
            r[2].rdata,
            "\"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x\""
        );
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn srv_11_addresses_instead_of_cname() {
        let d = domain(
            PolicyHost::Addresses(vec![
                "192.0.2.10".parse().unwrap(),
                "2001:db8::10".parse().unwrap(),
            ]),
            &[],
        );
        let r = for_domain(&d, "1");
        let kinds: Vec<_> = r.iter().map(|r| (r.rtype, r.rdata.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("TXT", "\"v=STSv1; id=1\""),
                ("A", "192.0.2.10"),
                ("AAAA", "2001:db8::10")
            ]
        );
    }

    #[test]
    fn spec_7_2_sts_record_vectors() {
        let ok = |v: &str, id: &str| assert_eq!(parse_sts(v).as_deref(), Ok(id), "{v:?}");
        ok("v=STSv1; id=20160831085700Z;", "20160831085700Z"); // T01
        ok("v=STSv1; id=20160831085700Z", "20160831085700Z"); // T02
        ok("v=STSv1;id=abc123", "abc123"); // T03
        ok("v=STSv1;\tid=abc123\t;", "abc123"); // T04
        ok(&format!("v=STSv1; id={}", "a".repeat(32)), &"a".repeat(32)); // T05
        ok("v=STSv1 ; id=abc", "abc"); // T18
        ok("v=STSv1; id=abc; ext=value", "abc"); // T19
        ok("v=STSv1; ext=1; id=abc", "abc"); // T20
        ok("v=STSv1; id=abc; ", "abc"); // T23
        ok("v=STSv1; id=a; id=b", "a"); // T24: the first wins
        for bad in [
            format!("v=STSv1; id={}", "a".repeat(33)), // T06
            "v=STSv1; id=2024-01-01".into(),           // T07
            "v=STSv1; id=2024-01-01T00:00:00Z".into(), // T08
            "v=STSv1; id=abc+def/ghi=".into(),         // T09
            "v=STSv1; id=".into(),                     // T10
            "v=STSv1;".into(),                         // T11
            "v=STSv1".into(),                          // T12
            "id=abc; v=STSv1".into(),                  // T13
            "v=stsv1; id=abc".into(),                  // T14
            "V=STSv1; id=abc".into(),                  // T15
            "v=STSv1; ID=abc".into(),                  // T16
            "v = STSv1; id = abc".into(),              // T17
            "v=STSv1; id=abc;;".into(),                // T21
            "v=STSv1; id=abc ".into(),                 // T22
            "v=STSv10; id=abc".into(),                 // T25
            "v=STSv1; id=abc; e=a=b".into(),           // T26
            "v=spf1 -all".into(),                      // T27
        ] {
            assert!(parse_sts(&bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_sts(&sts_value("20250101000000")).unwrap(),
            "20250101000000"
        );
    }

    #[test]
    fn spec_7_4_tlsrpt_record_vectors() {
        let ok = |v: &str, rua: &[&str]| assert_eq!(parse_tlsrpt(v).unwrap(), rua, "{v:?}");
        ok(
            "v=TLSRPTv1;rua=mailto:reports@example.com",
            &["mailto:reports@example.com"],
        ); // R01
        ok(
            "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
            &["https://reporting.example.com/v1/tlsrpt"],
        ); // R02
        ok(
            "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/tlsrpt",
            &["mailto:a@example.com", "https://r.example.com/tlsrpt"],
        ); // R03
        ok(
            "v=TLSRPTv1; rua=mailto:a@example.com, mailto:b@example.com",
            &["mailto:a@example.com", "mailto:b@example.com"],
        ); // R04
        ok(
            "v=TLSRPTv1; rua=mailto:a@example.com;",
            &["mailto:a@example.com"],
        ); // R08
        for bad in [
            "v=TLSRPTv1; rua=postmaster@example.com", // R05
            "v=TLSRPTv1;",                            // R06
            "v=tlsrptv1; rua=mailto:a@example.com",   // R07
            "v=TLSRPTv1; rua=http://r.example.com/",  // R09
            "v=TLSRPTv1; rua=mailto:a,b@example.com", // R10
            "rua=mailto:a@example.com; v=TLSRPTv1",   // R11
        ] {
            assert!(parse_tlsrpt(bad).is_err(), "{bad:?} accepted");
        }
        let ours = tlsrpt_value(&[
            "mailto:a@example.com".into(),
            "https://r.example.com/x".into(),
        ]);
        assert_eq!(
            parse_tlsrpt(&ours).unwrap(),
            ["mailto:a@example.com", "https://r.example.com/x"]
        );
    }

    #[test]
    fn gen_08_long_values_split_at_255_octets_and_quotes_escaped() {
        let long = "a".repeat(600);
        let rdata = txt_rdata(&long);
        let strings: Vec<_> = rdata.split(' ').collect();
        assert_eq!(strings.len(), 3);
        assert_eq!(strings[0].len(), 257);
        assert_eq!(strings[2].len(), 90 + 2);
        assert_eq!(txt_value(&rdata).unwrap(), long);
        assert_eq!(txt_rdata("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(txt_value(r#""a\"b\\c""#).unwrap(), "a\"b\\c");
        assert_eq!(
            txt_value("\"v=STSv1; \" \"id=abc\"").unwrap(),
            "v=STSv1; id=abc"
        );
    }
}
