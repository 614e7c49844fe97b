//! Pure planning: config + previous lock + clock → per-domain policy bytes, ids and records.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Config, Domain};
use crate::policy::Policy;
use crate::records::{self, Record};
use crate::state::{Entry, Lock};

const ID_FORMAT: &str = "%Y%m%d%H%M%S";

/// Why a domain's id is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// First time in the lock (or back after leaving the config): new id.
    New,
    /// Policy bytes differ from the ones the previous id names: new id.
    Changed,
    /// Same policy bytes: same id.
    Unchanged,
}

/// Everything to publish for one domain.
#[derive(Debug, Clone)]
pub struct DomainPlan {
    /// The validated domain.
    pub domain: Domain,
    /// Canonical policy bytes.
    pub policy: String,
    /// The `_mta-sts` id naming those bytes.
    pub id: String,
    /// Whether the id is new.
    pub change: Change,
    /// DNS records in publishing order.
    pub records: Vec<Record>,
}

/// The outcome of planning a whole config.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per domain, sorted by A-label name.
    pub domains: Vec<DomainPlan>,
    /// The lock as it must be after publishing this plan.
    pub lock: Lock,
    /// Domains whose lock entry differs from the previous lock (added, new id, or gone).
    pub lock_changes: Vec<String>,
}

/// Plans every domain; ids change only where policy bytes changed.
pub fn plan(config: &Config, previous: &Lock, now: DateTime<Utc>) -> Plan {
    let mut lock = Lock::new();
    let mut domains = Vec::with_capacity(config.domains.len());
    for domain in &config.domains {
        let policy = Policy::new(domain.mode, &domain.mx, domain.max_age).render();
        let sha = sha256_hex(policy.as_bytes());
        let prev = previous.domains.get(domain.name.as_str());
        let (id, change) = match prev {
            Some(e) if !e.removed && e.policy_sha256 == sha => (e.id.clone(), Change::Unchanged),
            Some(e) if !e.removed => (next_id(Some(&e.id), now), Change::Changed),
            Some(e) => (next_id(Some(&e.id), now), Change::New),
            None => (next_id(None, now), Change::New),
        };
        lock.domains.insert(
            domain.name.as_str().to_string(),
            Entry {
                id: id.clone(),
                policy_sha256: sha,
                removed: false,
            },
        );
        domains.push(DomainPlan {
            records: records::for_domain(domain, &id),
            domain: domain.clone(),
            policy,
            id,
            change,
        });
    }
    for (name, entry) in &previous.domains {
        lock.domains.entry(name.clone()).or_insert_with(|| Entry {
            removed: true,
            ..entry.clone()
        });
    }
    let lock_changes = lock
        .domains
        .iter()
        .filter(|(name, entry)| previous.domains.get(*name) != Some(entry))
        .map(|(name, _)| name.clone())
        .collect();
    Plan {
        domains,
        lock,
        lock_changes,
    }
}

/// A `YYYYMMDDHHMMSS` id for `now`, strictly greater than a previous timestamp id.
pub fn next_id(previous: Option<&str>, now: DateTime<Utc>) -> String {
    let candidate = now.naive_utc();
    let after_previous = previous
        .filter(|p| p.len() == 14)
        .and_then(|p| NaiveDateTime::parse_from_str(p, ID_FORMAT).ok())
        .map(|p| p + TimeDelta::seconds(1));
    match after_previous {
        Some(min) if min > candidate => min.format(ID_FORMAT).to_string(),
        _ => candidate.format(ID_FORMAT).to_string(),
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_epoch;

    fn config(text: &str) -> Config {
        let (config, problems) = crate::config::parse(text);
        config.unwrap_or_else(|| panic!("{problems:#?}"))
    }

    const BASE: &str = r#"
[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"
[domains."a.example"]
mode = "enforce"
[domains."b.example"]
"#;

    fn t(epoch: i64) -> DateTime<Utc> {
        from_epoch(&epoch.to_string()).unwrap()
    }

    #[test]
    fn gen_04_new_domains_get_timestamp_ids() {
        let p = plan(&config(BASE), &Lock::new(), t(1_700_000_000));
        assert_eq!(p.domains[0].id, "20231114221320");
        assert!(p.domains.iter().all(|d| d.change == Change::New));
        assert_eq!(p.lock_changes, ["a.example", "b.example"]);
    }

    #[test]
    fn gen_05_ids_change_iff_policy_bytes_change() {
        let first = plan(&config(BASE), &Lock::new(), t(1_700_000_000));
        let same = plan(&config(BASE), &first.lock, t(1_800_000_000));
        assert!(same.domains.iter().all(|d| d.change == Change::Unchanged));
        assert!(same.lock_changes.is_empty());
        assert_eq!(same.lock, first.lock);

        let edited = BASE.replace(
            "[domains.\"b.example\"]",
            "[domains.\"b.example\"]\nmax_age = 86400",
        );
        let next = plan(&config(&edited), &first.lock, t(1_800_000_000));
        assert_eq!(next.domains[0].change, Change::Unchanged);
        assert_eq!(next.domains[1].change, Change::Changed);
        assert_eq!(next.domains[1].id, "20270115080000");
        assert_eq!(next.lock_changes, ["b.example"]);
    }

    #[test]
    fn gen_06_rpt_06_tlsrpt_and_ttl_do_not_bump_the_id() {
        let first = plan(&config(BASE), &Lock::new(), t(1_700_000_000));
        let edited = BASE.replace(
            "[domains.\"b.example\"]",
            "[domains.\"b.example\"]\ntlsrpt_rua = [\"mailto:r@example.net\"]\nttl = 300\npolicy_addresses = [\"192.0.2.1\"]",
        );
        let next = plan(&config(&edited), &first.lock, t(1_800_000_000));
        assert_eq!(next.domains[1].change, Change::Unchanged);
        assert_eq!(next.domains[1].records.len(), 3);
    }

    #[test]
    fn ids_strictly_increase_when_the_clock_repeats_or_goes_back() {
        assert_eq!(
            next_id(Some("20231114221320"), t(1_700_000_000)),
            "20231114221321"
        );
        assert_eq!(
            next_id(Some("20991231235959"), t(1_700_000_000)),
            "21000101000000"
        );
        assert_eq!(next_id(Some("custom1"), t(1_700_000_000)), "20231114221320");
    }

    #[test]
    fn a_domain_that_leaves_and_returns_gets_a_greater_id() {
        let first = plan(&config(BASE), &Lock::new(), t(1_700_000_000));
        let without_b = BASE.replace("[domains.\"b.example\"]\n", "");
        let gone = plan(&config(&without_b), &first.lock, t(1_700_000_000));
        assert!(gone.lock.domains["b.example"].removed);
        assert_eq!(
            gone.lock.domains["b.example"].id,
            first.lock.domains["b.example"].id
        );
        assert_eq!(gone.lock_changes, ["b.example"]);
        let back = plan(&config(BASE), &gone.lock, t(1_700_000_000));
        assert_eq!(back.domains[1].change, Change::New);
        assert!(back.domains[1].id > first.domains[1].id);
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
