//! A spanned mirror of `domains.toml`: every key checked against the schema and every value
//! against its type, collecting all problems instead of stopping at the first.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::Problem;

/// A value and the bytes of the config it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sp<T> {
    pub(crate) value: T,
    pub(crate) span: Range<usize>,
}

/// Keys that may stand in `[defaults]` and in every `[domains."…"]` table.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RawSettings {
    pub(crate) mode: Option<Sp<String>>,
    pub(crate) max_age: Option<Sp<i64>>,
    pub(crate) mx: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) policy_cname: Option<Sp<String>>,
    pub(crate) policy_addresses: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) tlsrpt_rua: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) ttl: Option<Sp<i64>>,
    pub(crate) id_scheme: Option<Sp<String>>,
    pub(crate) retire_max_age: Option<Sp<i64>>,
    pub(crate) accept_wildcard_mx: Option<Sp<bool>>,
    /// Domain tables only.
    pub(crate) id: Option<Sp<String>>,
    /// Domain tables only.
    pub(crate) retire: Option<Sp<bool>>,
    /// Domain tables only.
    pub(crate) aliases: Option<Sp<Vec<Sp<String>>>>,
    /// Domain tables only.
    pub(crate) mx_leaving: Option<Sp<Vec<Sp<String>>>>,
}

const SETTINGS_KEYS: &[&str] = &[
    "mode",
    "max_age",
    "mx",
    "policy_cname",
    "policy_addresses",
    "tlsrpt_rua",
    "ttl",
    "id_scheme",
    "retire_max_age",
    "accept_wildcard_mx",
];
const DOMAIN_ONLY_KEYS: &[&str] = &["id", "retire", "aliases", "mx_leaving"];

/// Every key the reader knows, as (table, key).
#[cfg(feature = "test-hooks")]
pub(crate) fn known_keys() -> Vec<(&'static str, &'static str)> {
    let mut keys: Vec<(&'static str, &'static str)> = TOP_KEYS.iter().map(|k| ("", *k)).collect();
    keys.extend(SETTINGS_KEYS.iter().map(|k| ("defaults", *k)));
    keys.extend(DOMAIN_ONLY_KEYS.iter().map(|k| ("domains.*", *k)));
    keys.extend(NGINX_KEYS.iter().map(|k| ("nginx", *k)));
    keys.extend(OUTPUT_KEYS.iter().map(|k| ("output", *k)));
    keys.extend(DANE_KEYS.iter().map(|k| ("dane.*", *k)));
    keys
}

/// The whole file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RawConfig {
    pub(crate) defaults: RawSettings,
    pub(crate) nginx: RawNginx,
    pub(crate) targets: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) domains: Vec<(Sp<String>, RawSettings)>,
    /// Span of the `domains` key, for problems about the set as a whole.
    pub(crate) domains_span: Option<Range<usize>>,
    /// Entries under `domains`, valid or not.
    pub(crate) domains_seen: usize,
    /// `[dane."<mx host>"]` tables, in file order.
    pub(crate) dane: Vec<(Sp<String>, RawDane)>,
}

mod dane;
mod nginx;
#[cfg(feature = "test-hooks")]
use dane::DANE_KEYS;
pub(crate) use dane::RawDane;
#[cfg(feature = "test-hooks")]
use nginx::NGINX_KEYS;
pub(crate) use nginx::RawNginx;

const TOP_KEYS: &[&str] = &["defaults", "nginx", "output", "domains", "dane"];

const OUTPUT_KEYS: &[&str] = &["targets"];

/// Parses TOML text into the raw mirror with its schema problems, by the TOML parser; `Err`
/// holds syntax errors, after which nothing else is checked.
pub(crate) fn by_toml(text: &str) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let problems = errors
            .into_iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Problem::error(span, "invalid TOML", e.message().trim().to_string())
                    .help("fix the TOML syntax here (https://toml.io); nothing else was checked")
            })
            .collect();
        return Err(problems);
    }
    let mut w = Walker::default();
    let raw = w.config(doc.get_ref());
    Ok((raw, w.problems))
}

/// The name a table header like `[domains.example.com]` was meant to give, when `body` is
/// what TOML makes of it: tables nested in tables, with no setting anywhere on the way.
fn dotted(name: &str, body: &DeValue<'_>) -> Option<String> {
    let mut path = name.to_string();
    let mut at = body;
    while let DeValue::Table(t) = at {
        let mut entries = t.iter();
        let (key, value) = entries.next()?;
        if entries.next().is_some() || !matches!(value.get_ref(), DeValue::Table(_)) {
            return None;
        }
        path.push('.');
        path.push_str(key.get_ref());
        at = value.get_ref();
        if let DeValue::Table(inner) = at
            && inner
                .iter()
                .all(|(_, v)| !matches!(v.get_ref(), DeValue::Table(_)))
        {
            return Some(path);
        }
    }
    None
}

/// Turns a TOML tree into the raw mirror, collecting problems as it goes.
#[derive(Default)]
pub(crate) struct Walker {
    pub(crate) problems: Vec<Problem>,
}

type Entry<'a, 'i> = (
    &'a Spanned<std::borrow::Cow<'i, str>>,
    &'a Spanned<DeValue<'i>>,
);

impl Walker {
    pub(crate) fn config(&mut self, doc: &DeTable<'_>) -> RawConfig {
        let mut raw = RawConfig::default();
        for (key, value) in doc.iter() {
            match key.get_ref().as_ref() {
                "defaults" => {
                    if let Some(t) = self.table(key, value) {
                        raw.defaults = self.settings(t, false);
                    }
                }
                "nginx" => {
                    if let Some(t) = self.table(key, value) {
                        raw.nginx = self.nginx(t);
                    }
                }
                "dane" => {
                    if let Some(t) = self.table(key, value) {
                        raw.dane = self.dane(t);
                    }
                }
                "output" => {
                    if let Some(t) = self.table(key, value) {
                        for entry in t.iter() {
                            match entry.0.get_ref().as_ref() {
                                "targets" => raw.targets = self.strings(entry),
                                _ => self.unknown(entry, OUTPUT_KEYS, "in [output]"),
                            }
                        }
                    }
                }
                "domains" => {
                    raw.domains_span = Some(key.span());
                    if let Some(t) = self.table(key, value) {
                        raw.domains_seen = t.len();
                        for (name, body) in t.iter() {
                            if let Some(dotted) = dotted(name.get_ref(), body.get_ref()) {
                                self.problems.push(
                                    Problem::error(
                                        name.span(),
                                        format!(
                                            "[domains.{dotted}] is read by TOML as nested tables, not as the domain {dotted}"
                                        ),
                                        "an unquoted name with dots",
                                    )
                                    .help(format!("quote the name: [domains.\"{dotted}\"]")),
                                );
                                continue;
                            }
                            if let Some(body) = self.table(name, body) {
                                let settings = self.settings(body, true);
                                raw.domains.push((
                                    Sp {
                                        value: name.get_ref().to_string(),
                                        span: name.span(),
                                    },
                                    settings,
                                ));
                            }
                        }
                    }
                }
                _ => self.unknown((key, value), TOP_KEYS, "at the top level"),
            }
        }
        raw
    }

    fn settings(&mut self, t: &DeTable<'_>, domain: bool) -> RawSettings {
        let mut s = RawSettings::default();
        for entry in t.iter() {
            match entry.0.get_ref().as_ref() {
                "id" if domain => s.id = self.string(entry),
                "retire" if domain => s.retire = self.boolean(entry),
                "aliases" if domain => s.aliases = self.strings(entry),
                "mx_leaving" if domain => s.mx_leaving = self.strings(entry),
                "id_scheme" => s.id_scheme = self.string(entry),
                "retire_max_age" => s.retire_max_age = self.integer(entry),
                "accept_wildcard_mx" => s.accept_wildcard_mx = self.boolean(entry),
                key @ ("id" | "retire" | "aliases" | "mx_leaving") => {
                    self.problems.push(
                        Problem::error(
                            entry.0.span(),
                            format!("`{key}` cannot be a default"),
                            "only allowed in a domain table",
                        )
                        .help(format!(
                            "set `{key}` in the [domains.\"...\"] table it is meant for"
                        )),
                    );
                }
                "mode" => s.mode = self.string(entry),
                "max_age" => s.max_age = self.integer(entry),
                "mx" => s.mx = self.strings(entry),
                "policy_cname" => s.policy_cname = self.string(entry),
                "policy_addresses" => s.policy_addresses = self.strings(entry),
                "tlsrpt_rua" => s.tlsrpt_rua = self.strings(entry),
                "ttl" => s.ttl = self.integer(entry),
                _ if domain => {
                    let known: Vec<&str> = SETTINGS_KEYS
                        .iter()
                        .chain(DOMAIN_ONLY_KEYS)
                        .copied()
                        .collect();
                    self.unknown(entry, &known, "in a domain table");
                }
                _ => self.unknown(entry, SETTINGS_KEYS, "in [defaults]"),
            }
        }
        s
    }

    fn unknown(&mut self, (key, _): Entry<'_, '_>, known: &[&str], place: &str) {
        let name = key.get_ref();
        let mut help = format!("known keys {place}: {}", known.join(", "));
        if let Some(close) = known.iter().find(|k| similar(k, name)) {
            help = format!("did you mean `{close}`? ({help})");
        }
        self.problems.push(
            Problem::error(
                key.span(),
                format!("unknown key `{name}` {place}"),
                "not a key mtasts knows",
            )
            .help(help),
        );
    }

    fn wrong_type(&mut self, (key, value): Entry<'_, '_>, expected: &str, example: &str) {
        self.problems.push(
            Problem::error(
                value.span(),
                format!("`{}` must be {expected}", key.get_ref()),
                format!("this is {}", article(value.get_ref().type_str())),
            )
            .help(format!("for example: {} = {example}", key.get_ref())),
        );
    }

    fn table<'a, 'i>(
        &mut self,
        key: &Spanned<std::borrow::Cow<'i, str>>,
        value: &'a Spanned<DeValue<'i>>,
    ) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                let example = if key.get_ref() == "dane" {
                    "[dane.\"mx1.example.com\"] with the MX host's keys below".to_string()
                } else if key.get_ref() == "nginx" || key.get_ref() == "defaults" {
                    format!(
                        "[{}] on a line of its own, with its keys below",
                        key.get_ref()
                    )
                } else {
                    format!(
                        "[domains.\"{}\"] with the domain's keys below",
                        key.get_ref()
                    )
                };
                self.problems.push(
                    Problem::error(
                        value.span(),
                        format!("`{}` must be a table", key.get_ref()),
                        format!("this is {}", article(value.get_ref().type_str())),
                    )
                    .help(format!("write {example}")),
                );
                None
            }
        }
    }

    fn string(&mut self, entry: Entry<'_, '_>) -> Option<Sp<String>> {
        match entry.1.get_ref() {
            DeValue::String(s) => Some(Sp {
                value: s.to_string(),
                span: entry.1.span(),
            }),
            _ => {
                self.wrong_type(entry, "a string", "\"...\"");
                None
            }
        }
    }

    fn boolean(&mut self, entry: Entry<'_, '_>) -> Option<Sp<bool>> {
        match entry.1.get_ref() {
            DeValue::Boolean(b) => Some(Sp {
                value: *b,
                span: entry.1.span(),
            }),
            _ => {
                self.wrong_type(entry, "true or false", "true");
                None
            }
        }
    }

    fn integer(&mut self, entry: Entry<'_, '_>) -> Option<Sp<i64>> {
        match entry.1.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(value) => Some(Sp {
                    value,
                    span: entry.1.span(),
                }),
                Err(_) => {
                    self.problems.push(
                        Problem::error(
                            entry.1.span(),
                            format!("`{}` is far too large", entry.0.get_ref()),
                            "does not fit in 64 bits",
                        )
                        .help("use a number of seconds in the documented range"),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(entry, "an integer (seconds)", "86400");
                None
            }
        }
    }

    fn strings(&mut self, entry: Entry<'_, '_>) -> Option<Sp<Vec<Sp<String>>>> {
        let DeValue::Array(items) = entry.1.get_ref() else {
            self.wrong_type(entry, "an array of strings", "[\"...\", \"...\"]");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Sp {
                    value: s.to_string(),
                    span: item.span(),
                }),
                other => {
                    ok = false;
                    self.problems.push(
                        Problem::error(
                            item.span(),
                            format!("`{}` may only contain strings", entry.0.get_ref()),
                            format!("this is {}", article(other.type_str())),
                        )
                        .help("put the value in double quotes"),
                    );
                }
            }
        }
        ok.then(|| Sp {
            value: out,
            span: entry.1.span(),
        })
    }
}

fn article(type_name: &str) -> String {
    let a = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{a} {type_name}")
}

/// Cheap typo detection: lengths at most one apart, and one edit apart (two for names longer
/// than six letters), with `-` read as `_` and case ignored.
pub(crate) fn similar(known: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase().replace('-', "_");
    let long = known.chars().count();
    if long.abs_diff(given.chars().count()) > 1 {
        return false;
    }
    let edits = strsim::levenshtein(known, &given);
    edits <= 1 || (long > 6 && edits <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_schema_problem() {
        let (_, problems) = by_toml(
            "[defaults]\nmod = \"enforce\"\nmax_age = \"1d\"\n[nginx]\nlisten = [443]\n[domains]\nx = 1\n",
        )
        .unwrap();
        let messages: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `mod` in [defaults]",
                "`max_age` must be an integer (seconds)",
                "`listen` may only contain strings",
                "`x` must be a table",
            ]
        );
        assert!(
            problems[0]
                .help
                .as_deref()
                .unwrap()
                .contains("did you mean `mode`")
        );
    }

    #[test]
    fn syntax_errors_carry_spans() {
        let problems = by_toml("[defaults\nmode = 1\n").unwrap_err();
        assert!(!problems.is_empty());
        assert_eq!(problems[0].message, "invalid TOML");
    }

    #[test]
    fn typo_detection() {
        assert!(similar("max_age", "max-age"));
        assert!(similar("tlsrpt_rua", "tlsrpt_ruaa"));
        assert!(similar("policy_cname", "policy_cnmae"));
        assert!(!similar("mx", "ttl"));
    }
}
