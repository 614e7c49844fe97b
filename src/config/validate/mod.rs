//! From the raw mirror to the validated model: SPEC §1, §2 and §5.1 rules, defaults merged.

use std::collections::hash_map::Entry;

use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use crate::config::raw::{RawConfig, RawSettings};
use crate::config::uri;
use crate::diag::Problem;
use crate::model::{Config, Domain, IdScheme, MAX_AGE_LIMIT, Mode, PolicyHost, valid_id};
use crate::names::{DomainName, HostName, MxPattern};

mod dane;
mod fields;
mod providers;
mod tables;

use fields::{Field, Refusal, dedupe, field, list};

use tables::{nginx, targets};

/// Built-in defaults (DESIGN.md contract details).
const DEFAULT_MODE: Mode = Mode::Testing;
const DEFAULT_MAX_AGE: u32 = 604_800;
const DEFAULT_TTL: u32 = 3600;
/// RFC 8461 §8.3 step 1: "a small max_age (e.g., one day)".
const DEFAULT_RETIRE_MAX_AGE: u32 = 86_400;
const TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=604_800;
/// Below this, RFC 8461 §3.2's "weeks or greater" expectation is far off.
const SHORT_MAX_AGE: u32 = 86_400;

struct Settings {
    mode: Field<Mode>,
    max_age: Field<u32>,
    mx: Field<Arc<[MxPattern]>>,
    host: Field<PolicyHost>,
    rua: Field<Arc<[String]>>,
    ttl: Field<u32>,
    id_scheme: Field<IdScheme>,
    retire_max_age: Field<u32>,
    accept_wildcard_mx: Field<bool>,
    pinned_id: Field<String>,
    retire: Field<bool>,
    aliases: Field<Vec<(DomainName, Range<usize>)>>,
    mx_leaving: Field<Vec<MxPattern>>,
}

/// Validates the whole file; returns the model when there is no error, and all problems
/// (`problems` arrives holding the schema problems found while reading the raw mirror).
/// Kept whole: the per-table checks run on threads and the cross-table ones (names twice, aliases)
/// follow in file order on the same problem list.
pub(crate) fn validate(
    raw: RawConfig,
    mut problems: Vec<Problem>,
) -> (Option<Config>, Vec<Problem>) {
    let defaults = settings(&raw.defaults, &mut problems);
    let nginx = nginx(&raw.nginx, &mut problems);
    let targets = targets(&raw.targets, &mut problems);
    let dane = dane::dane(&raw.dane, &mut problems);
    let worker = targets.contains(&crate::model::Target::CloudflareWorker);
    let mut domains = Vec::with_capacity(raw.domains.len());
    let mut seen: HashMap<DomainName, Range<usize>> = HashMap::with_capacity(raw.domains.len());
    if raw.domains_seen == 0 {
        problems.push(no_domains(&raw));
    }
    // Each table is checked on its own, on several threads; names are compared afterwards, in
    // file order, so that the second of two equal names is the one reported.
    let mut aliases: Vec<(DomainName, Range<usize>, Domain)> = Vec::new();
    let checked = crate::parallel::on_threads(raw.domains.iter().collect(), |(key, body)| {
        let mut own_problems = Vec::new();
        let own = settings(body, &mut own_problems);
        let name = DomainName::parse(&key.value).map(|name| {
            let mut merge_problems = Vec::new();
            let domain = merge(
                name.clone(),
                &key.span,
                &own,
                &defaults,
                worker,
                &mut merge_problems,
            );
            (name, domain, merge_problems)
        });
        (key, own_problems, name, own.aliases)
    });
    for (key, own_problems, name, own_aliases) in checked {
        problems.extend(own_problems);
        let (name, domain, merge_problems) = match name {
            Ok(checked) => checked,
            Err(e) => {
                problems.push(
                    Problem::error(key.span.clone(), "invalid domain name", e.message).help(e.help),
                );
                continue;
            }
        };
        match seen.entry(name) {
            Entry::Occupied(first) => {
                problems.push(
                    Problem::error(
                        key.span.clone(),
                        format!("domain {} is configured twice", first.key()),
                        "second definition",
                    )
                    .also(first.get().clone(), "first definition")
                    .help("names are compared in A-label form; merge the two tables"),
                );
                continue;
            }
            Entry::Vacant(v) => v.insert(key.span.clone()),
        };
        problems.extend(policy_host_lookalike(key));
        problems.extend(merge_problems);
        if let (Some(primary), Field::Set(names, _)) = (&domain, own_aliases) {
            aliases.extend(
                names
                    .into_iter()
                    .map(|(n, span)| (n, span, primary.clone())),
            );
        }
        domains.extend(domain);
    }
    add_aliases(aliases, &seen, &mut domains, &mut problems);
    dedupe(&mut problems);
    problems.sort_by_key(|p| (p.span.start, p.span.end));
    let failed = problems
        .iter()
        .any(|p| p.level == crate::diag::Level::Error);
    if failed {
        return (None, problems);
    }
    crate::parallel::sort_by(&mut domains, |a, b| a.name.cmp(&b.name));
    (
        Some(Config {
            domains,
            nginx,
            targets,
            dane,
        }),
        problems,
    )
}

/// The error of a config without a domain table.
fn no_domains(raw: &RawConfig) -> Problem {
    Problem::error(
        raw.domains_span.clone().unwrap_or(0..0),
        crate::config::NO_DOMAINS,
        "nothing to build",
    )
    .help("add a table per mail domain, e.g. [domains.\"example.com\"]")
}

/// A warning for a domain table named like a policy host (`mta-sts.example.com`).
fn policy_host_lookalike(key: &crate::config::raw::Sp<String>) -> Option<Problem> {
    let domain = key.value.strip_prefix("mta-sts.")?;
    Some(
        Problem::warning(
            key.span.clone(),
            format!("{} looks like a policy host, not a mail domain", key.value),
            "mtasts adds `mta-sts.` itself",
        )
        .help(format!(
            "for the mail domain {domain}, write [domains.\"{domain}\"]; this table publishes mta-sts.{}",
            key.value
        )),
    )
}

/// One domain's settings over the defaults; `worker` says the `cloudflare-worker` target is
/// on, whose Custom Domains make the policy host's record themselves.
fn merge(
    name: DomainName,
    key: &Range<usize>,
    own: &Settings,
    defaults: &Settings,
    worker: bool,
    problems: &mut Vec<Problem>,
) -> Option<Domain> {
    let mode = own.mode.or(&defaults.mode).value_or(DEFAULT_MODE)?;
    let max_age = merged_max_age(own.max_age.or(&defaults.max_age), mode, problems)?;
    let mx = match own.mx.or(&defaults.mx) {
        Field::Set(mx, _) => mx,
        Field::Unset => {
            problems.push(
                Problem::error(key.clone(), format!("no mx patterns for {name}"), "needs `mx`")
                    .help("add mx = [\"mail.example.com\"] to this table or to [defaults]; every policy lists at least one MX"),
            );
            return None;
        }
        Field::Bad => return None,
    };
    let policy_host =
        merged_policy_host(own.host.or(&defaults.host), &name, key, worker, problems)?;
    let mx_leaving = match &own.mx_leaving {
        Field::Set(leaving, span) => {
            if let Some(stray) = leaving.iter().find(|l| !mx.contains(l)) {
                problems.push(
                    Problem::error(span.clone(), format!("mx_leaving lists {stray}, which is not in mx"), "not an mx of this domain")
                        .help("mx_leaving names the hosts of an MX move on their way out: they stay in mx until the move is done (see mtasts plan-mx)"),
                );
                return None;
            }
            leaving.clone()
        }
        Field::Unset => Vec::new(),
        Field::Bad => return None,
    };
    Some(Domain {
        name,
        mode,
        max_age,
        mx,
        policy_host,
        tlsrpt_rua: own.rua.or(&defaults.rua).value_or(Arc::from([]))?,
        ttl: own.ttl.or(&defaults.ttl).value_or(DEFAULT_TTL)?,
        id_scheme: own
            .id_scheme
            .or(&defaults.id_scheme)
            .value_or(IdScheme::Timestamp)?,
        pinned_id: own.pinned_id.clone().optional()?,
        retire: own.retire.clone().value_or(false)?,
        retire_max_age: own
            .retire_max_age
            .or(&defaults.retire_max_age)
            .value_or(DEFAULT_RETIRE_MAX_AGE)?,
        accept_wildcard_mx: own
            .accept_wildcard_mx
            .or(&defaults.accept_wildcard_mx)
            .value_or(false)?,
        mx_leaving,
        delegate_to: None,
    })
}

/// The max_age, with a warning when a testing/enforce policy would live less than a day.
fn merged_max_age(field: Field<u32>, mode: Mode, problems: &mut Vec<Problem>) -> Option<u32> {
    if let Field::Set(v, span) = &field
        && *v < SHORT_MAX_AGE
        && mode != Mode::None
    {
        problems.push(
            Problem::warning(
                span.clone(),
                format!(
                    "max_age {v} is less than one day for {} {mode} policy",
                    if mode == Mode::Enforce { "an" } else { "a" }
                ),
                "short policy lifetime",
            )
            .help("RFC 8461 §3.2 expects weeks or more; senders refetch often and an attacker has more chances"),
        );
    }
    field.value_or(DEFAULT_MAX_AGE)
}

/// Where `mta-sts.<name>` points; with the `cloudflare-worker` target (`worker`) the Worker's
/// Custom Domain, and a warning where a record is configured anyway.
fn merged_policy_host(
    field: Field<PolicyHost>,
    name: &DomainName,
    key: &Range<usize>,
    worker: bool,
    problems: &mut Vec<Problem>,
) -> Option<PolicyHost> {
    match field {
        Field::Set(h, span) => {
            if worker {
                // Deduplicated by span: one warning for a [defaults] value.
                problems.push(
                    Problem::warning(
                        span,
                        "wrangler.toml declares every policy host a Worker Custom Domain, and Cloudflare refuses one on a name that already has a DNS record",
                        "this makes an mta-sts record in every DNS output",
                    )
                    .help("with the cloudflare-worker target, leave policy_cname and policy_addresses unset for the domains the Worker serves: Cloudflare makes their record and certificate"),
                );
            }
            Some(h)
        }
        Field::Unset if worker => Some(PolicyHost::Cdn),
        Field::Unset => {
            problems.push(
                Problem::error(key.clone(), format!("no address for mta-sts.{name}"), "needs `policy_cname` or `policy_addresses`")
                    .help("add policy_cname = \"mail.example.net\" (or policy_addresses = [\"192.0.2.10\"]) here or in [defaults], or serve it as a Worker Custom Domain with targets = [\"cloudflare-worker\"]"),
            );
            None
        }
        Field::Bad => None,
    }
}

/// The settings of one table (`[defaults]` or a domain's), each value validated.
/// One field after another, as the raw mirror has them.
fn settings(raw: &RawSettings, problems: &mut Vec<Problem>) -> Settings {
    Settings {
        mode: field(&raw.mode, problems, |s| {
            Mode::parse(s).ok_or_else(|| {
                let help = match Mode::parse(&s.to_ascii_lowercase()) {
                    Some(m) => format!("modes are case-sensitive: write \"{m}\""),
                    None => "use one of: \"none\", \"testing\", \"enforce\"".to_string(),
                };
                (format!("unknown mode {s:?}"), "not a mode".into(), help)
            })
        }),
        max_age: field(&raw.max_age, problems, |&v| max_age("max_age", v)),
        retire_max_age: field(&raw.retire_max_age, problems, |&v| {
            max_age("retire_max_age", v)
        }),
        id_scheme: field(&raw.id_scheme, problems, |s| {
            match s.as_str() {
            "timestamp" => Ok(IdScheme::Timestamp),
            "hash" => Ok(IdScheme::Hash),
            other => Err((
                format!("unknown id_scheme {other:?}"),
                "not an id scheme".into(),
                "use \"timestamp\" (YYYYMMDDHHMMSS, the default) or \"hash\" (derived from the policy bytes)".into(),
            )),
        }
        }),
        pinned_id: field(&raw.id, problems, |s| {
            if valid_id(s) {
                Ok(s.clone())
            } else {
                Err((
                    format!("invalid id {s:?}"),
                    "not 1-32 letters and digits".into(),
                    "RFC 8461 §3.1: an id is 1 to 32 ASCII letters and digits, e.g. \"20240101120000\"".into(),
                ))
            }
        }),
        retire: field(&raw.retire, problems, |&b| Ok(b)),
        aliases: match &raw.aliases {
            None => Field::Unset,
            Some(list) => {
                let mut names = Vec::with_capacity(list.value.len());
                let mut bad = false;
                for item in &list.value {
                    match DomainName::parse(&item.value) {
                        Ok(name) => names.push((name, item.span.clone())),
                        Err(e) => {
                            bad = true;
                            problems.push(
                                Problem::error(
                                    item.span.clone(),
                                    "invalid alias domain",
                                    e.message,
                                )
                                .help(e.help),
                            );
                        }
                    }
                }
                if bad {
                    Field::Bad
                } else {
                    Field::Set(names, list.span.clone())
                }
            }
        },
        ttl: field(&raw.ttl, problems, |&v| {
            if TTL_RANGE.contains(&v) {
                Ok(v as u32)
            } else {
                Err((
                    format!("ttl {v} is out of range"),
                    format!("must be {}..={}", TTL_RANGE.start(), TTL_RANGE.end()),
                    "a modest TTL such as 3600 keeps the RFC 8461 §8.1 update window short".into(),
                ))
            }
        }),
        mx: providers::mx(&raw.mx, problems).shared(),
        accept_wildcard_mx: field(&raw.accept_wildcard_mx, problems, |&v| Ok(v)),
        mx_leaving: list(&raw.mx_leaving, "mx_leaving", problems, |s| {
            MxPattern::parse(s).map_err(|e| ("invalid mx pattern".into(), e.message, e.help))
        }),
        host: policy_host(raw, problems),
        rua: match &raw.tlsrpt_rua {
            Some(list) if list.value.is_empty() => Field::Set(Arc::from([]), list.span.clone()),
            _ => list(&raw.tlsrpt_rua, "tlsrpt_rua", problems, |s| {
                uri::report_uri(s).map_err(|e| ("invalid tlsrpt_rua URI".into(), e.message, e.help))
            })
            .shared(),
        },
    }
}

fn max_age(key: &str, v: i64) -> Result<u32, Refusal> {
    u32::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_AGE_LIMIT)
        .ok_or_else(|| {
            (
                format!("{key} {v} is out of range"),
                format!("must be 0..={MAX_AGE_LIMIT}"),
                "RFC 8461 §3.2 allows at most 31557600 seconds (one year); 604800 is one week"
                    .into(),
            )
        })
}

fn policy_host(raw: &RawSettings, problems: &mut Vec<Problem>) -> Field<PolicyHost> {
    match (&raw.policy_cname, &raw.policy_addresses) {
        (Some(c), Some(a)) => {
            problems.push(
                Problem::error(
                    a.span.clone(),
                    "policy_cname and policy_addresses are both set",
                    "second way to reach the policy host",
                )
                .also(c.span.clone(), "first way")
                .help("mta-sts.<domain> is either a CNAME or has A/AAAA records (RFC 1034 §3.6.2); keep one"),
            );
            Field::Bad
        }
        (Some(_), None) => match field(&raw.policy_cname, problems, |s| {
            HostName::parse(s).map_err(|e| ("invalid policy_cname".into(), e.message, e.help))
        }) {
            Field::Set(h, span) => Field::Set(PolicyHost::Cname(h), span),
            Field::Bad => Field::Bad,
            Field::Unset => Field::Unset,
        },
        (None, Some(list_raw)) => {
            if list_raw.value.is_empty() {
                problems.push(
                    Problem::error(
                        list_raw.span.clone(),
                        "policy_addresses is empty",
                        "no address",
                    )
                    .help("list at least one IPv4 or IPv6 address, or use policy_cname"),
                );
                return Field::Bad;
            }
            match list(&raw.policy_addresses, "policy_addresses", problems, |s| {
                s.parse::<IpAddr>().map_err(|_| {
                    (
                        "invalid policy address".into(),
                        "not an IPv4 or IPv6 address".into(),
                        "write a literal such as \"192.0.2.10\" or \"2001:db8::10\" (no brackets, no port); for a name use policy_cname".into(),
                    )
                })
            }) {
                Field::Set(a, span) => Field::Set(PolicyHost::Addresses(a), span),
                Field::Bad => Field::Bad,
                Field::Unset => Field::Unset,
            }
        }
        (None, None) => Field::Unset,
    }
}

/// Each alias as a domain of its own that publishes its primary's policy by delegation; an
/// alias that is also a domain, or listed twice, is an error.
fn add_aliases(
    aliases: Vec<(DomainName, Range<usize>, Domain)>,
    configured: &HashMap<DomainName, Range<usize>>,
    domains: &mut Vec<Domain>,
    problems: &mut Vec<Problem>,
) {
    let mut listed: HashMap<DomainName, Range<usize>> = HashMap::new();
    for (name, span, primary) in aliases {
        if let Some(table) = configured.get(&name) {
            problems.push(
                Problem::error(span, format!("{name} is both an alias and a domain"), "an alias")
                    .also(table.clone(), "configured as a domain here")
                    .help("an alias publishes its primary's policy; remove it from `aliases` or remove its table"),
            );
            continue;
        }
        if let Some(first) = listed.get(&name) {
            problems.push(
                Problem::error(
                    span,
                    format!("alias {name} is listed twice"),
                    "listed again",
                )
                .also(first.clone(), "first listed here")
                .help("an alias delegates to one primary: keep one entry"),
            );
            continue;
        }
        listed.insert(name.clone(), span);
        domains.push(Domain {
            name,
            pinned_id: None,
            delegate_to: Some(primary.name.clone()),
            ..primary
        });
    }
}
