//! `import`: a domain's live MTA-STS deployment (its `_mta-sts` id, policy, policy host, MX and
//! TLS-RPT records) read back as a `[domains."..."]` table that pins the live id, so that the
//! first build publishes the same id and the same policy and senders notice no change.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::dns::{Dns, DnsError};
use crate::fetch::Fetcher;
use crate::model::{Mode, valid_id};
use crate::names::{DomainName, MxPattern};
use crate::policy::Policy;

/// What the live deployment of one domain says.
#[derive(Debug)]
pub(crate) struct Imported {
    /// The domain (A-label).
    pub domain: DomainName,
    /// The live policy, when one was fetched and parsed.
    pub policy: Option<Policy>,
    /// Whether the live file's bytes are the ones mtasts renders for that policy.
    pub same_bytes: bool,
    /// The id of the `_mta-sts` record, when there is exactly one valid record.
    pub id: Option<String>,
    /// Where `mta-sts.<domain>` points.
    pub host: Host,
    /// The `rua` URIs of the `_smtp._tls` record (empty: none).
    pub rua: Vec<String>,
    /// The domain's MX hosts.
    pub mx_hosts: Vec<String>,
    /// What a person should know: why something was not imported, what differs.
    pub notes: Vec<String>,
}

/// The live policy host's records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Host {
    /// A CNAME to this host.
    Cname(String),
    /// These addresses.
    Addresses(Vec<IpAddr>),
    /// Nothing resolves.
    Missing,
}

/// The resolver said nothing at all for a domain: not a missing record, a failed lookup.
#[derive(Debug)]
pub(crate) struct Unread {
    /// What the lookup said.
    pub message: String,
}

/// Reads the live deployment of `domain` through `dns` and `fetcher`.
pub(crate) fn read(dns: &Dns, fetcher: &Fetcher, domain: &DomainName) -> Result<Imported, Unread> {
    let name = domain.as_str();
    let records = dns.wait(dns.start(name));
    // A failed MX lookup (not a missing record) means the resolver is not answering.
    if let Err(DnsError::Failed(message)) = &records.mx {
        return Err(Unread {
            message: message.clone(),
        });
    }
    let mut notes = Vec::new();
    let id = sts_id(&records.sts_txt, name, &mut notes);
    if let Ok(Some(target)) = dns.cname(&format!("_mta-sts.{name}")) {
        notes.push(format!(
            "_mta-sts.{name} is a CNAME to {target}: {name} publishes that domain's policy by delegation; consider listing {name} in that domain's aliases instead of importing it on its own"
        ));
    }
    let host = match (&records.host_cname, &records.host_addrs) {
        (Ok(Some(target)), _) => Host::Cname(target.trim_end_matches('.').to_string()),
        (_, Ok(addrs)) if !addrs.is_empty() => Host::Addresses(addrs.clone()),
        _ => {
            notes.push(format!(
                "mta-sts.{name} does not resolve: set policy_cname or policy_addresses before the first build"
            ));
            Host::Missing
        }
    };
    let rua = tlsrpt_rua(&records.tlsrpt_txt, name, &mut notes);
    let mx_hosts = records.mx.unwrap_or_default();
    let (policy, same_bytes) =
        match fetcher.get(&format!("mta-sts.{name}"), crate::targets::POLICY_PATH) {
            Ok(r) if r.status == 200 => match crate::policy::parse(&r.body) {
                Ok(p) => {
                    let same = p.render().as_bytes() == r.body.as_slice();
                    (Some(p), same)
                }
                Err(e) => {
                    notes.push(format!("the live policy is not valid ({e}): not imported"));
                    (None, false)
                }
            },
            Ok(r) => {
                notes.push(format!(
                    "https://mta-sts.{name}{} answered HTTP {}: no live policy",
                    crate::targets::POLICY_PATH,
                    r.status
                ));
                (None, false)
            }
            Err(e) => {
                notes.push(format!(
                    "https://mta-sts.{name}{}: {e}: no live policy",
                    crate::targets::POLICY_PATH
                ));
                (None, false)
            }
        };
    Ok(Imported {
        domain: domain.clone(),
        policy,
        same_bytes,
        id,
        host,
        rua,
        mx_hosts,
        notes,
    })
}

/// The id of the one `v=STSv1` record (RFC 8461 §3.1: more than one means no policy).
fn sts_id(
    txt: &Result<Vec<String>, DnsError>,
    name: &str,
    notes: &mut Vec<String>,
) -> Option<String> {
    let records: Vec<&String> = match txt {
        Ok(all) => all.iter().filter(|t| t.starts_with("v=STSv1")).collect(),
        Err(_) => Vec::new(),
    };
    match records.as_slice() {
        [] => {
            notes.push(format!("_mta-sts.{name} has no v=STSv1 record"));
            None
        }
        [one] => {
            let id = one
                .split(';')
                .filter_map(|f| f.trim().strip_prefix("id="))
                .next()
                .map(str::trim);
            match id {
                Some(id) if valid_id(id) => Some(id.to_string()),
                _ => {
                    notes.push(format!(
                        "_mta-sts.{name} has no valid id ({}): a new id will be made",
                        crate::ui::printable(one)
                    ));
                    None
                }
            }
        }
        _ => {
            notes.push(format!(
                "_mta-sts.{name} has {} v=STSv1 records, which senders read as no policy: a new id will be made",
                records.len()
            ));
            None
        }
    }
}

/// The `rua` URIs of the one `v=TLSRPTv1` record.
fn tlsrpt_rua(
    txt: &Result<Vec<String>, DnsError>,
    name: &str,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let records: Vec<&String> = match txt {
        Ok(all) => all.iter().filter(|t| t.starts_with("v=TLSRPTv1")).collect(),
        Err(_) => Vec::new(),
    };
    match records.as_slice() {
        [] => Vec::new(),
        [one] => one
            .split(';')
            .filter_map(|f| f.trim().strip_prefix("rua="))
            .flat_map(|list| list.split(','))
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect(),
        _ => {
            notes.push(format!(
                "_smtp._tls.{name} has {} v=TLSRPTv1 records, which senders read as none: not imported",
                records.len()
            ));
            Vec::new()
        }
    }
}

impl Imported {
    /// The `[domains."..."]` table, every setting explicit (nothing inherited from
    /// `[defaults]`), its notes as comments above it; `today` dates the import.
    pub(crate) fn table(&self, today: &str) -> String {
        let name = self.domain.as_str();
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# Imported by mtasts import on {today} from the live deployment."
        );
        for note in &self.notes {
            let _ = writeln!(t, "# Note: {}", one_line(note));
        }
        let (mode, mx, max_age) = match &self.policy {
            Some(p) => {
                let mx = if p.mx.is_empty() {
                    self.mx_hosts.clone()
                } else {
                    p.mx.clone()
                };
                (p.mode, mx, Some(p.max_age))
            }
            None => (Mode::Testing, self.mx_hosts.clone(), None),
        };
        if mx.is_empty() {
            let _ = writeln!(
                t,
                "# No live policy and no MX records: write the MX hosts senders deliver to in mx before the first build."
            );
        }
        if self.policy.is_none() {
            let _ = writeln!(
                t,
                "# No live policy: mode testing with the live MX hosts; watch the TLS reports before enforce."
            );
        } else if !self.same_bytes {
            let _ = writeln!(
                t,
                "# The live file's bytes differ from mtasts's (CRLF line ends, mx lines before max_age); the policy is the same, so senders holding the live id lose nothing."
            );
        }
        for host in &self.mx_hosts {
            let covered = mx
                .iter()
                .filter_map(|p| MxPattern::parse(p).ok())
                .any(|p| p.matches(host));
            if !covered {
                let _ = writeln!(
                    t,
                    "# Note: the live MX host {host} matches no mx line: in enforce mode senders refuse it."
                );
            }
        }
        let _ = writeln!(t, "[domains.{}]", quoted(name));
        let _ = writeln!(t, "mode = {}", quoted(mode.as_str()));
        let _ = writeln!(t, "mx = {}", list(&mx));
        if let Some(max_age) = max_age {
            let _ = writeln!(t, "max_age = {max_age}");
        }
        match &self.host {
            Host::Cname(target) => {
                let _ = writeln!(t, "policy_cname = {}", quoted(target));
            }
            Host::Addresses(addrs) => {
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                let _ = writeln!(t, "policy_addresses = {}", list(&addrs));
            }
            Host::Missing => {}
        }
        let _ = writeln!(t, "tlsrpt_rua = {}", list(&self.rua));
        if let (Some(id), Some(_)) = (&self.id, &self.policy) {
            let _ = writeln!(
                t,
                "# The live id: the first build publishes it unchanged; when the policy next changes a new id is made and the build asks you to remove this line."
            );
            let _ = writeln!(t, "id = {}", quoted(id));
        }
        t
    }
}

/// A TOML basic string: whatever the live records held cannot break out of it.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A note as one comment line: no line break from a live record can end the comment.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Result<Vec<String>, DnsError> {
        Ok(records.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn the_id_of_one_sts_record_only() {
        let mut notes = Vec::new();
        let one = txt(&["v=spf1 -all", "v=STSv1; id=abc123 "]);
        assert_eq!(
            sts_id(&one, "a.example", &mut notes).as_deref(),
            Some("abc123")
        );
        assert!(notes.is_empty());
        let two = txt(&["v=STSv1; id=1", "v=STSv1; id=2"]);
        assert_eq!(sts_id(&two, "a.example", &mut notes), None);
        assert!(notes[0].contains("2 v=STSv1 records"), "{notes:?}");
        let bad = txt(&["v=STSv1; id=not-valid!"]);
        assert_eq!(sts_id(&bad, "a.example", &mut notes), None);
        assert!(notes[1].contains("no valid id"), "{notes:?}");
    }

    #[test]
    fn rua_lists_are_split_and_trimmed() {
        let mut notes = Vec::new();
        let one = txt(&["v=TLSRPTv1; rua=mailto:a@x.example, https://r.example/v1"]);
        assert_eq!(
            tlsrpt_rua(&one, "x.example", &mut notes),
            ["mailto:a@x.example", "https://r.example/v1"]
        );
    }

    /// Whatever a live record holds lands inside TOML strings and comments, never as a key.
    #[test]
    fn hostile_live_values_cannot_add_config() {
        let imported = Imported {
            domain: DomainName::parse("a.example").unwrap(),
            policy: None,
            same_bytes: false,
            id: Some("abc".into()),
            host: Host::Cname("web.example".into()),
            rua: vec!["mailto:x@y\"]\nretire = true\n#".into()],
            mx_hosts: vec!["mx.a.example".into()],
            notes: vec!["line one\nretire = true".into()],
        };
        let table = imported.table("2026-12-02");
        let parsed: toml::Table = toml::from_str(&table).unwrap();
        let d = &parsed["domains"]["a.example"];
        assert!(d.get("retire").is_none(), "{table}");
        assert!(
            d.get("id").is_none(),
            "no live policy: no pinned id\n{table}"
        );
        assert_eq!(d["mode"].as_str(), Some("testing"));
        assert_eq!(
            d["tlsrpt_rua"][0].as_str(),
            Some("mailto:x@y\"]\nretire = true\n#")
        );
    }
}
