//! DANE for the MX hosts the operator runs (RFC 7672, RFC 6698): TLSA records for the key in
//! use and the next one, and a rollover that never leaves a DANE sender without a match. A
//! renewal onto a key whose TLSA was not published at least two TTLs before makes every
//! DANE sender defer mail, so the next key is published ahead, every digest is remembered in
//! the lock with when it went out, and one that stops being used stays two TTLs longer.

pub mod keys;
pub mod matching;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use crate::digest::sha256_hex;
use crate::lock::{DaneEntry, DaneKey, KeyRole};
use crate::model::{Dane, DaneUsage};
use crate::plan::{Warning, WarningKind};
use crate::records::Record;

pub(crate) use keys::KeyError;

/// The port whose TLSA records DANE senders look up (RFC 7672 §2.2: SMTP on port 25).
pub(crate) const SMTP_PORT: u16 = 25;

/// The TLSA parameters (usage, selector, matching type) of `usage`: the SPKI's SHA-256 of the
/// server's own certificate (`3 1 1`) or of its issuer (`2 1 1`).
pub(crate) fn parameters(usage: DaneUsage) -> &'static str {
    match usage {
        DaneUsage::DaneEe => "3 1 1",
        DaneUsage::DaneTa => "2 1 1",
    }
}

/// The TLSA owner name of `host` (`_25._tcp.<host>.`).
pub(crate) fn owner(host: &str) -> String {
    format!("_{SMTP_PORT}._tcp.{host}.")
}

/// What one MX host publishes after this build, and where its rollover stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// The MX host (A-labels).
    pub host: String,
    /// The zone its records go into.
    pub zone: String,
    /// TTL of its TLSA records.
    pub ttl: u32,
    /// The TLSA parameters of the keys in use now.
    pub parameters: &'static str,
    /// Every digest published, in order: the live key, the next key, then those leaving.
    pub keys: Vec<DaneKey>,
    /// The largest TTL its TLSA records were published with (caches hold a set this long).
    pub ttl_high: u32,
}

impl HostPlan {
    /// The key the certificate in use has.
    pub fn live(&self) -> &DaneKey {
        &self.keys[0]
    }

    /// The pre-published next key, if there is one.
    pub fn next(&self) -> Option<&DaneKey> {
        self.keys.iter().find(|k| k.role == KeyRole::Next)
    }

    /// How long a resolver may hold the TLSA set: after a change, two TTLs (RFC 7671 §8.1's
    /// "TTL and propagation delay", with the propagation taken as one TTL more).
    pub fn hold(&self) -> Duration {
        Duration::seconds(2 * i64::from(self.ttl_high))
    }

    /// From when switching the certificate to `key` is safe: every cache then holds a set that
    /// includes it.
    pub fn safe_from(&self, key: &DaneKey) -> DateTime<Utc> {
        key.published + self.hold()
    }

    /// Its TLSA records, live key first.
    pub fn records(&self) -> Vec<Record> {
        let owner = owner(&self.host);
        self.keys
            .iter()
            .map(|k| Record {
                owner: owner.clone(),
                ttl: self.ttl,
                rtype: "TLSA",
                rdata: format!("{} {}", k.tlsa, k.sha256),
            })
            .collect()
    }

    /// `dns/dane/<host>.zone`: a comment per key saying what it is, and the records.
    pub fn zone_text(&self) -> String {
        let mut out = format!(
            "; DANE TLSA records of the MX host {} for the zone {}, written by mtasts.\n",
            self.host, self.zone
        );
        for (k, r) in self.keys.iter().zip(self.records()) {
            let _ = writeln!(
                out,
                "; {} key, published since {}{}",
                k.role.as_str(),
                k.published.format("%Y-%m-%dT%H:%M:%SZ"),
                k.retired.map_or(String::new(), |at| format!(
                    ", not in use since {}, published until {}",
                    at.format("%Y-%m-%dT%H:%M:%SZ"),
                    (at + self.hold()).format("%Y-%m-%dT%H:%M:%SZ")
                )),
            );
            let _ = writeln!(out, "{}", crate::targets::dns::zone(&[r]).trim_end());
        }
        out
    }
}

/// Every DANE host's plan, the lock's part for them, and whether it differs from before.
#[derive(Debug, Clone, Default)]
pub struct DanePlan {
    /// Per `[dane."<host>"]`, in host order.
    pub hosts: Vec<HostPlan>,
    /// The lock's `dane` tables after this build.
    pub lock: BTreeMap<String, DaneEntry>,
    /// Whether `lock` differs from the previous lock's.
    pub changed: bool,
    /// What the operator must know about the rollovers.
    pub warnings: Vec<Warning>,
}

/// The digests of the keys a `[dane]` table names, read from its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digests {
    /// SHA-256 (hex) of the SubjectPublicKeyInfo in use.
    pub live: String,
    /// SHA-256 (hex) of the next key's SubjectPublicKeyInfo.
    pub next: Option<String>,
}

/// Reads the keys of `dane` (paths relative to `base`).
pub(crate) fn digests(dane: &Dane, base: &Path) -> Result<Digests, KeyError> {
    let index = match dane.usage {
        DaneUsage::DaneEe => 0,
        DaneUsage::DaneTa => 1,
    };
    let live = keys::chain_spki(&base.join(&dane.certificate), index)?;
    let next = match &dane.next_key {
        Some(path) => Some(sha256_hex(&keys::key_spki(&base.join(path))?)),
        None => None,
    };
    Ok(Digests {
        live: sha256_hex(&live),
        next,
    })
}

/// Plans every `[dane]` host at `now` from its digests and the previous lock's tables.
pub(crate) fn plan(
    hosts: &[(&Dane, Digests)],
    previous: &BTreeMap<String, DaneEntry>,
    now: DateTime<Utc>,
) -> DanePlan {
    let mut out = DanePlan::default();
    for (dane, digests) in hosts {
        let host = dane.host.as_str();
        let (plan, warnings) = roll(dane, digests, previous.get(host), now);
        let entry = DaneEntry {
            zone: plan.zone.clone(),
            ttl_high: plan.ttl_high,
            keys: plan.keys.clone(),
        };
        out.warnings.extend(warnings);
        out.lock.insert(host.to_string(), entry);
        out.hosts.push(plan);
    }
    out.changed = out.lock != *previous;
    out
}

/// One host's rollover step: the live and next keys keep the date they first went out; a key
/// that is neither is marked leaving now and dropped two TTLs later.
fn roll(
    dane: &Dane,
    digests: &Digests,
    previous: Option<&DaneEntry>,
    now: DateTime<Utc>,
) -> (HostPlan, Vec<Warning>) {
    let host = dane.host.as_str();
    let tlsa = parameters(dane.usage);
    let before: &[DaneKey] = previous.map_or(&[], |p| &p.keys);
    let ttl_high = previous.map_or(dane.ttl, |p| p.ttl_high.max(dane.ttl));
    let find = |sha: &str| before.iter().find(|k| k.sha256 == sha && k.tlsa == tlsa);
    let keep = |sha: &str, role: KeyRole| DaneKey {
        tlsa: tlsa.to_string(),
        sha256: sha.to_string(),
        role,
        published: find(sha).map_or(now, |k| k.published),
        retired: None,
    };
    let mut keys = vec![keep(&digests.live, KeyRole::Live)];
    if let Some(next) = digests.next.as_deref().filter(|n| *n != digests.live) {
        keys.push(keep(next, KeyRole::Next));
    }
    let hold = Duration::seconds(2 * i64::from(ttl_high));
    for k in before {
        if keys
            .iter()
            .any(|n| n.sha256 == k.sha256 && n.tlsa == k.tlsa)
        {
            continue;
        }
        let retired = k.retired.unwrap_or(now);
        if now < retired + hold {
            keys.push(DaneKey {
                role: KeyRole::Leaving,
                retired: Some(retired),
                ..k.clone()
            });
        }
    }
    let plan = HostPlan {
        host: host.to_string(),
        zone: dane.zone.as_str().to_string(),
        ttl: dane.ttl,
        parameters: tlsa,
        keys,
        ttl_high,
    };
    let warnings = warnings(&plan, before, find(&digests.live).is_some(), now);
    (plan, warnings)
}

/// What the operator must know about `plan`'s step: a live key never published (while other
/// TLSA records were), a switch before every cache can hold the new key, no next key.
fn warnings(
    plan: &HostPlan,
    before: &[DaneKey],
    live_was_published: bool,
    now: DateTime<Utc>,
) -> Vec<Warning> {
    let host = plan.host.as_str();
    let warn = |kind, text: String, until| Warning {
        domain: host.to_string(),
        kind,
        text: format!("{host}: {text}"),
        until,
    };
    let live = plan.live();
    let mut warnings = Vec::new();
    if !before.is_empty() && !live_was_published {
        warnings.push(warn(
            WarningKind::DaneUnpublishedKey,
            format!(
                "MAIL IS BREAKING NOW: the certificate in use has a key ({} {}) whose TLSA record was never published, so every DANE sender (Postfix, Exchange Online) defers mail to {host} until resolvers see it; publish output/dns/dane/{host}.zone at once, or put back the certificate of the published key. Next time renew onto next_key (docs/dane.md)",
                plan.parameters,
                short(&live.sha256)
            ),
            None,
        ));
    } else if before.iter().any(|k| k.published < live.published) && now < plan.safe_from(live) {
        warnings.push(warn(
            WarningKind::DaneEarlySwitch,
            format!(
                "the certificate in use switched to a key first published {}; resolvers may hold a TLSA set without it until {}, and DANE senders that see such a set defer mail",
                live.published.format("%Y-%m-%dT%H:%M:%SZ"),
                plan.safe_from(live).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            Some(plan.safe_from(live)),
        ));
    }
    if plan.next().is_none() {
        warnings.push(warn(
            WarningKind::DaneNoNextKey,
            "no next_key: a renewal onto a new key will break DANE mail until its TLSA record has been published for two TTLs; generate the next key now and set next_key (docs/dane.md)".to_string(),
            None,
        ));
    }
    warnings
}

/// The first 16 hex digits of a digest, for messages.
fn short(sha: &str) -> String {
    format!("{}...", &sha[..sha.len().min(16)])
}

#[cfg(test)]
mod tests;
