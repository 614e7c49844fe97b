//! The `[dane."<mx host>"]` tables of the raw mirror and the walker's reading of them.

use toml::de::DeTable;

use super::{Sp, Walker};

/// One `[dane."<mx host>"]` table.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RawDane {
    pub(crate) certificate: Option<Sp<String>>,
    pub(crate) next_key: Option<Sp<String>>,
    pub(crate) usage: Option<Sp<String>>,
    pub(crate) ttl: Option<Sp<i64>>,
    pub(crate) zone: Option<Sp<String>>,
}

pub(super) const DANE_KEYS: &[&str] = &["certificate", "next_key", "usage", "ttl", "zone"];

impl Walker {
    /// Reads the `[dane]` table: one table per MX host, each with known keys only.
    pub(super) fn dane(&mut self, t: &DeTable<'_>) -> Vec<(Sp<String>, RawDane)> {
        let mut hosts = Vec::new();
        for (name, body) in t.iter() {
            if let Some(dotted) = super::dotted(name.get_ref(), body.get_ref()) {
                self.problems.push(
                    crate::diag::Problem::error(
                        name.span(),
                        format!(
                            "[dane.{dotted}] is read by TOML as nested tables, not as the MX host {dotted}"
                        ),
                        "an unquoted name with dots",
                    )
                    .help(format!("quote the host: [dane.\"{dotted}\"]")),
                );
                continue;
            }
            let toml::de::DeValue::Table(body) = body.get_ref() else {
                self.problems.push(
                    crate::diag::Problem::error(
                        body.span(),
                        format!("`{}` must be a table", name.get_ref()),
                        "a [dane] entry is one MX host's table",
                    )
                    .help(format!(
                        "write [dane.\"{}\"] on a line of its own, with certificate = \"...\" and next_key = \"...\" below",
                        name.get_ref()
                    )),
                );
                continue;
            };
            let mut d = RawDane::default();
            for entry in body.iter() {
                match entry.0.get_ref().as_ref() {
                    "certificate" => d.certificate = self.string(entry),
                    "next_key" => d.next_key = self.string(entry),
                    "usage" => d.usage = self.string(entry),
                    "ttl" => d.ttl = self.integer(entry),
                    "zone" => d.zone = self.string(entry),
                    _ => self.unknown(entry, DANE_KEYS, "in a [dane.\"<mx host>\"] table"),
                }
            }
            hosts.push((
                Sp {
                    value: name.get_ref().to_string(),
                    span: name.span(),
                },
                d,
            ));
        }
        hosts
    }
}
