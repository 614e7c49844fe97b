//! Mail providers' MX facts: `mx = ["@google", ...]` presets that expand to each provider's
//! published patterns, and a warning for a wildcard that cannot match the provider's real
//! host shapes (a `*` covers exactly one label, RFC 8461 §4.1).

use super::fields::Field;
use crate::config::raw::Sp;
use crate::diag::Problem;
use crate::names::MxPattern;

/// One provider's facts.
struct Provider {
    /// The preset's name, after `@`.
    name: &'static str,
    /// The patterns the preset expands to.
    patterns: &'static [&'static str],
    /// Real MX host shapes (a tenant's name made up), which every sensible pattern matches.
    hosts: &'static [&'static str],
    /// Names under which the provider's MX hosts live: a wildcard on or above them is judged.
    namespaces: &'static [&'static str],
    /// What to write instead of a pattern that matches none of `hosts`.
    fix: &'static str,
}

const PROVIDERS: &[Provider] = &[
    // Microsoft's own policy (https://mta-sts.microsoft.com/.well-known/mta-sts.txt, as served
    // for microsoft.com) lists `*.mail.protection.outlook.com`, the shape of every Exchange
    // Online MX host `<tenant>.mail.protection.outlook.com`. The DNSSEC-capable hosts since
    // 2024 are `<tenant>.<zone>.mx.microsoft` (Exchange Team blog, "Implementing Inbound SMTP
    // DANE with DNSSEC for Exchange Online Mail Flow"; zone labels such as `o-v1`): two labels
    // below mx.microsoft, so `*.mx.microsoft`, which Microsoft's docs suggest, matches none of
    // them, and no pattern covers every tenant's zone: the host itself must be listed.
    Provider {
        name: "microsoft365",
        patterns: &["*.mail.protection.outlook.com"],
        hosts: &[
            "contoso-com.mail.protection.outlook.com",
            "contoso-com.o-v1.mx.microsoft",
        ],
        namespaces: &["outlook.com", "mx.microsoft"],
        fix: "Exchange Online's MX hosts are <tenant>.mail.protection.outlook.com (use \"@microsoft365\") and, with DNSSEC, <tenant>.<zone>.mx.microsoft: list that host exactly as your MX record names it (e.g. \"contoso-com.o-v1.mx.microsoft\") or its zone's wildcard (\"*.o-v1.mx.microsoft\")",
    },
    // Google Workspace Admin Help, "Google Workspace MX record values": `smtp.google.com` for
    // domains set up since 2023, `aspmx.l.google.com`, `alt1..alt4.aspmx.l.google.com` and
    // `aspmx2..aspmx5.googlemail.com` for older ones.
    Provider {
        name: "google",
        patterns: &[
            "smtp.google.com",
            "aspmx.l.google.com",
            "*.aspmx.l.google.com",
            "*.googlemail.com",
        ],
        hosts: &[
            "smtp.google.com",
            "aspmx.l.google.com",
            "alt1.aspmx.l.google.com",
            "aspmx2.googlemail.com",
        ],
        namespaces: &["google.com", "googlemail.com"],
        fix: "Google Workspace's MX hosts are smtp.google.com, aspmx.l.google.com, altN.aspmx.l.google.com and aspmxN.googlemail.com: use \"@google\"",
    },
];

/// The `mx` list: presets expanded in place, patterns validated, duplicates dropped in order,
/// an empty list refused; a warning per wildcard no host of its provider can match.
pub(super) fn mx(
    raw: &Option<Sp<Vec<Sp<String>>>>,
    problems: &mut Vec<Problem>,
) -> Field<Vec<MxPattern>> {
    let Some(raw) = raw else {
        return Field::Unset;
    };
    if raw.value.is_empty() {
        problems.push(
            Problem::error(raw.span.clone(), "`mx` is empty", "no entries")
                .help("list at least one value, or remove `mx` to inherit it"),
        );
        return Field::Bad;
    }
    let mut out: Vec<MxPattern> = Vec::with_capacity(raw.value.len());
    let mut bad = false;
    let mut push = |p: MxPattern| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for item in &raw.value {
        if let Some(name) = item.value.strip_prefix('@') {
            match PROVIDERS.iter().find(|p| p.name == name) {
                Some(provider) => {
                    for pattern in provider.patterns {
                        push(MxPattern::parse(pattern).expect("the presets are valid patterns"));
                    }
                }
                None => {
                    bad = true;
                    let known: Vec<String> = PROVIDERS
                        .iter()
                        .map(|p| format!("\"@{}\"", p.name))
                        .collect();
                    problems.push(
                        Problem::error(
                            item.span.clone(),
                            format!("unknown provider preset {:?}", item.value),
                            "not a preset",
                        )
                        .help(format!("the presets are {}", known.join(", "))),
                    );
                }
            }
            continue;
        }
        match MxPattern::parse(&item.value) {
            Ok(p) => {
                if let Some(problem) = unmatchable(&p, &item.span) {
                    problems.push(problem);
                }
                push(p);
            }
            Err(e) => {
                bad = true;
                problems.push(
                    Problem::error(item.span.clone(), "invalid mx pattern", e.message).help(e.help),
                );
            }
        }
    }
    if bad {
        Field::Bad
    } else {
        Field::Set(out, raw.span.clone())
    }
}

/// A warning for a wildcard on or above a provider's namespace that matches none of its hosts.
fn unmatchable(pattern: &MxPattern, span: &std::ops::Range<usize>) -> Option<Problem> {
    let text = pattern.to_string();
    let base = text.strip_prefix("*.")?;
    let provider = PROVIDERS.iter().find(|p| {
        p.namespaces.iter().any(|n| {
            n == &base || n.ends_with(&format!(".{base}")) || base.ends_with(&format!(".{n}"))
        })
    })?;
    if provider.hosts.iter().any(|h| pattern.matches(h)) {
        return None;
    }
    Some(
        Problem::warning(
            span.clone(),
            format!(
                "{text} matches none of {}'s MX hosts: a wildcard covers exactly one label (RFC 8461 §4.1)",
                provider.name
            ),
            "no MX host of this shape exists",
        )
        .help(provider.fix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(items: &[&str]) -> Option<Sp<Vec<Sp<String>>>> {
        Some(Sp {
            value: items
                .iter()
                .map(|s| Sp {
                    value: s.to_string(),
                    span: 0..1,
                })
                .collect(),
            span: 0..1,
        })
    }

    fn expanded(items: &[&str]) -> (Vec<String>, Vec<Problem>) {
        let mut problems = Vec::new();
        let out = match mx(&raw(items), &mut problems) {
            Field::Set(v, _) => v.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        (out, problems)
    }

    #[test]
    fn presets_expand_in_place_and_duplicates_go() {
        let (out, problems) = expanded(&["mx.example.net", "@google", "smtp.google.com"]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            out,
            [
                "mx.example.net",
                "smtp.google.com",
                "aspmx.l.google.com",
                "*.aspmx.l.google.com",
                "*.googlemail.com"
            ]
        );
        let (out, _) = expanded(&["@microsoft365"]);
        assert_eq!(out, ["*.mail.protection.outlook.com"]);
    }

    #[test]
    fn every_preset_matches_its_providers_classic_hosts() {
        for p in PROVIDERS {
            let patterns: Vec<MxPattern> = p
                .patterns
                .iter()
                .map(|s| MxPattern::parse(s).unwrap())
                .collect();
            for host in p.hosts.iter().filter(|h| !h.ends_with(".mx.microsoft")) {
                assert!(
                    patterns.iter().any(|m| m.matches(host)),
                    "{}: {host}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn a_wildcard_no_provider_host_can_match_is_a_warning_with_the_fix() {
        for bad in ["*.mx.microsoft", "*.outlook.com"] {
            let (out, problems) = expanded(&[bad]);
            assert_eq!(out, [bad], "still used: a warning, not an error");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(
                problems[0].message.contains("matches none of"),
                "{problems:?}"
            );
        }
        for fine in [
            "*.o-v1.mx.microsoft",
            "*.google.com",
            "*.mail.protection.outlook.com",
            "*.aspmx.l.google.com",
            "*.mx.example.net",
        ] {
            let (_, problems) = expanded(&[fine]);
            assert!(problems.is_empty(), "{fine}: {problems:?}");
        }
        let (_, problems) = expanded(&["@yahoo"]);
        assert!(problems[0].message.contains("unknown provider preset"));
    }
}
