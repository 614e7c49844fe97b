//! The `[dane."<mx host>"]` tables: a valid host name each, once; a certificate; a known
//! usage; a TTL in range; a zone the host lies in.

use crate::config::raw::{RawDane, Sp};
use crate::diag::Problem;
use crate::model::{Dane, DaneUsage};
use crate::names::{DomainName, HostName};

use super::fields::{Field, Refusal, field};
use super::{DEFAULT_TTL, TTL_RANGE};

/// The valid `[dane]` tables, sorted by host; each bad value is a located problem.
pub(super) fn dane(raw: &[(Sp<String>, RawDane)], problems: &mut Vec<Problem>) -> Vec<Dane> {
    let mut out: Vec<(Dane, std::ops::Range<usize>)> = Vec::new();
    for (name, d) in raw {
        let host = match HostName::parse(&name.value) {
            Ok(h) => h,
            Err(e) => {
                problems.push(
                    Problem::error(name.span.clone(), "invalid MX host name", e.message)
                        .help(e.help),
                );
                continue;
            }
        };
        if let Some((_, first)) = out.iter().find(|(o, _)| o.host == host) {
            problems.push(
                Problem::error(
                    name.span.clone(),
                    format!("[dane] has {host} twice"),
                    "second table",
                )
                .also(first.clone(), "first table")
                .help("names are compared in A-label form; merge the two tables"),
            );
            continue;
        }
        let Some(table) = one(&name.value, &host, d, &name.span, problems) else {
            continue;
        };
        out.push((table, name.span.clone()));
    }
    let mut hosts: Vec<Dane> = out.into_iter().map(|(d, _)| d).collect();
    hosts.sort_by(|a, b| a.host.as_str().cmp(b.host.as_str()));
    hosts
}

fn one(
    name: &str,
    host: &HostName,
    d: &RawDane,
    span: &std::ops::Range<usize>,
    problems: &mut Vec<Problem>,
) -> Option<Dane> {
    let certificate = path(&d.certificate, "certificate", problems);
    let next_key = path(&d.next_key, "next_key", problems);
    let usage = field(&d.usage, problems, |s: &String| usage(s));
    let ttl = field(&d.ttl, problems, ttl);
    let zone = field(&d.zone, problems, |z: &String| zone(host, z));
    let certificate = match certificate {
        Field::Set(c, _) => c,
        Field::Unset => {
            problems.push(
                Problem::error(span.clone(), format!("[dane.\"{name}\"] has no certificate"), "no `certificate`")
                    .help("add certificate = \"/etc/letsencrypt/live/<host>/fullchain.pem\", the PEM chain the MX host serves"),
            );
            return None;
        }
        Field::Bad => return None,
    };
    let zone = match zone {
        Field::Set(z, _) => z,
        Field::Bad => return None,
        Field::Unset => match DomainName::parse(parent(host.as_str())) {
            Ok(z) if host.as_str().contains('.') => z,
            _ => {
                problems.push(
                    Problem::error(
                        span.clone(),
                        format!("{host} has no parent zone"),
                        "a single label",
                    )
                    .help("set zone = \"...\" to the zone its TLSA records go into"),
                );
                return None;
            }
        },
    };
    Some(Dane {
        host: host.clone(),
        certificate,
        next_key: next_key.optional()?,
        usage: usage.value_or(DaneUsage::default())?,
        ttl: ttl.value_or(DEFAULT_TTL)?,
        zone,
    })
}

fn path(raw: &Option<Sp<String>>, key: &str, problems: &mut Vec<Problem>) -> Field<String> {
    field(raw, problems, |s: &String| {
        if s.trim().is_empty() || s.contains('\0') {
            Err((
                format!("`{key}` is not a file path"),
                "empty".into(),
                "give the PEM file's path (relative paths start at the config's directory)".into(),
            ))
        } else {
            Ok(s.clone())
        }
    })
}

fn usage(s: &str) -> Result<DaneUsage, Refusal> {
    match s {
        "dane-ee" => Ok(DaneUsage::DaneEe),
        "dane-ta" => Ok(DaneUsage::DaneTa),
        other => Err((
            format!("unknown DANE usage {other:?}"),
            "not a usage".into(),
            "use \"dane-ee\" (TLSA 3 1 1, the server's own key; the default) or \"dane-ta\" (TLSA 2 1 1, the issuer's key)".into(),
        )),
    }
}

fn ttl(n: &i64) -> Result<u32, Refusal> {
    u32::try_from(*n)
        .ok()
        .filter(|_| TTL_RANGE.contains(n))
        .ok_or_else(|| {
            (
                format!("ttl = {n} is out of range"),
                "not 60 to 604800".into(),
                "give the TLSA records' TTL in seconds, 60 to 604800 (a week); rollovers wait two TTLs".into(),
            )
        })
}

/// The zone `z` if `host` lies in it.
fn zone(host: &HostName, z: &str) -> Result<DomainName, Refusal> {
    let zone = DomainName::parse(z).map_err(|e| ("invalid zone".to_string(), e.message, e.help))?;
    let inside =
        host.as_str() == zone.as_str() || host.as_str().ends_with(&format!(".{}", zone.as_str()));
    if inside {
        Ok(zone)
    } else {
        Err((
            format!("{host} is not in the zone {zone}"),
            "not a parent of the host".into(),
            format!(
                "give the zone {host}'s TLSA records go into, such as {}",
                parent(host.as_str())
            ),
        ))
    }
}

/// `host` without its first label.
fn parent(host: &str) -> &str {
    host.split_once('.').map_or(host, |(_, rest)| rest)
}
