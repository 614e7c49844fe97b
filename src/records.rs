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
    let mut out = vec![Record {
        owner: format!("_mta-sts.{name}."),
        ttl,
        rtype: "TXT",
        rdata: txt_rdata(&sts_value(id)),
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
            mx: vec![MxPattern::parse("mx.example.net").unwrap()],
            policy_host: host,
            tlsrpt_rua: rua.iter().map(|s| s.to_string()).collect(),
            ttl: 3600,
            id_scheme: crate::model::IdScheme::Timestamp,
            pinned_id: None,
            retire: false,
            retire_max_age: 86400,
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
