//! Pure planning: config + previous lock + clock → per-domain policy bytes, ids, records and
//! lifecycle (RFC 8461 §8.1 ordering, §8.3 retirement). No I/O, no clock reads.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Domain, IdScheme, Mode};
use crate::names::MxPattern;
use crate::policy::Policy;
use crate::records::{self, Record};
use crate::state::{Entry, Lock, Notice, Stage};

const ID_FORMAT: &str = "%Y%m%d%H%M%S";
/// Domains per run when planning on several threads.
const PLAN_RUN: usize = 2048;

/// Why a domain's id is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// First policy in the lock (or the first after retirement or removal): new id.
    New,
    /// Policy bytes (or the pinned id) differ from the ones the previous id names: new id.
    Changed,
    /// Same policy bytes: same id.
    Unchanged,
}

/// A message about one domain that a person should read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// The domain (A-label).
    pub domain: String,
    /// A stable keyword: `mx-dropped`, `max-age-lowered`, `mode-none`,
    /// `wildcard-enforce`, `pin-spent`, `retiring`, `retired`, `forgotten`.
    pub kind: &'static str,
    /// The message.
    pub text: String,
    /// When it stops mattering, if it has such a date.
    pub until: Option<DateTime<Utc>>,
}

/// Everything to publish for one configured domain.
#[derive(Debug, Clone)]
pub struct DomainPlan {
    /// The validated domain.
    pub domain: Domain,
    /// The `_mta-sts` id naming those bytes (empty for a domain that never published).
    pub id: String,
    /// Whether the id is new.
    pub change: Change,
    /// Lifecycle stage after this build.
    pub stage: Stage,
    /// For a retiring domain: when its files and records may go.
    pub remove_after: Option<DateTime<Utc>>,
}

impl DomainPlan {
    /// Whether the domain's files and records are part of the output.
    pub fn published(&self) -> bool {
        matches!(self.stage, Stage::Active | Stage::Retiring)
    }

    /// DNS records in publishing order (none once retired).
    pub fn records(&self) -> Vec<Record> {
        if self.published() {
            records::for_domain(&self.domain, &self.id)
        } else {
            Vec::new()
        }
    }

    /// Canonical policy bytes (the `mode: none` policy while retiring). Rendered when asked:
    /// kept for 100,000 domains they would take 16 MB.
    pub fn policy(&self) -> String {
        let d = &self.domain;
        let max_age = if d.retire {
            d.retire_max_age
        } else {
            d.max_age
        };
        Policy::new(self.mode(), &d.mx, max_age).render()
    }

    /// The mode senders see (none while retiring).
    pub fn mode(&self) -> Mode {
        if self.domain.retire {
            Mode::None
        } else {
            self.domain.mode
        }
    }
}

/// The outcome of planning a whole config.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Configured domains, sorted by A-label name.
    pub domains: Vec<DomainPlan>,
    /// The lock as it must be after publishing this plan.
    pub lock: Lock,
    /// Domains whose lock entry differs from the previous lock.
    pub lock_changes: Vec<String>,
    /// Messages for people, in domain order.
    pub warnings: Vec<Warning>,
    /// Why this plan must not be published (each message names its domain and the fix).
    pub refusals: Vec<Refusal>,
}

/// One reason a plan must not be published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The domain it is about.
    pub domain: String,
    /// What is wrong and how to fix it, naming the domain.
    pub text: String,
}

/// Plans every domain; ids change only where policy bytes changed; domains in `forget` may
/// leave the lock whatever their stage.
pub fn plan(domains: Vec<Domain>, previous: &Lock, now: DateTime<Utc>, forget: &[String]) -> Plan {
    let count = domains.len();
    let mut out = Plan {
        domains: Vec::with_capacity(count),
        lock: Lock::new(),
        lock_changes: Vec::new(),
        warnings: Vec::new(),
        refusals: Vec::new(),
    };
    // Domains are planned independently: in runs on several threads, joined in order.
    let runs = crate::parallel::on_threads(runs_of(domains, PLAN_RUN), |run| {
        let mut part = Plan {
            domains: Vec::with_capacity(run.len()),
            lock: Lock::new(),
            lock_changes: Vec::new(),
            warnings: Vec::new(),
            refusals: Vec::new(),
        };
        let mut entries = Vec::with_capacity(run.len());
        let mut mx = MxStrings::default();
        // The run and the lock are both in name order: walked side by side, not searched.
        let first = run.first().map_or("", |d| d.name.as_str());
        let from = (Bound::Included(first), Bound::Unbounded);
        let mut lock = previous.domains.range::<str, _>(from).peekable();
        for domain in run {
            let name = domain.name.as_str();
            while lock.next_if(|(k, _)| k.as_str() < name).is_some() {}
            let prev = lock.next_if(|(k, _)| k.as_str() == name).map(|(_, e)| e);
            let (plan, entry) = plan_domain(domain, prev, now, &mut part, &mut mx);
            if let Some(entry) = entry {
                entries.push((plan.domain.name.to_string(), entry));
            }
            part.domains.push(plan);
        }
        (part, entries)
    });
    let mut entries = Vec::with_capacity(count);
    for (mut part, mut run) in runs {
        out.domains.append(&mut part.domains);
        out.warnings.append(&mut part.warnings);
        out.refusals.append(&mut part.refusals);
        entries.append(&mut run);
    }
    // One bulk build from sorted entries, not a merge per run.
    out.lock.domains = entries.into_iter().collect();
    debug_assert!(
        out.domains
            .is_sorted_by(|a, b| a.domain.name < b.domain.name)
    );
    let mut configured = out
        .domains
        .iter()
        .map(|d| d.domain.name.as_str())
        .peekable();
    for (name, entry) in &previous.domains {
        while configured.next_if(|c| *c < name.as_str()).is_some() {}
        if configured.peek() == Some(&name.as_str()) {
            continue;
        }
        if forget.contains(name) {
            out.warnings.push(Warning {
                domain: name.clone(),
                kind: "forgotten",
                text: format!("{name} is forgotten (--forget): its lock entry is dropped"),
                until: None,
            });
            continue;
        }
        match leaving(entry, now) {
            Ok(entry) => {
                out.lock.domains.insert(name.clone(), entry);
            }
            Err(until) => out.refusals.push(Refusal {
                domain: name.clone(),
                text: format!(
                    "{name} was removed from the config, but senders may hold its {} policy until {}. \
                     RFC 8461 §8.3: put it back with `retire = true` so that a `mode: none` policy \
                     replaces it first; mtasts then removes it when that date has passed. \
                     To drop it anyway, pass --forget {name}.",
                    entry.mode,
                    day(until)
                ),
            }),
        }
    }
    for name in forget {
        let configured = out
            .domains
            .binary_search_by(|d| d.domain.name.as_str().cmp(name))
            .is_ok();
        if configured {
            out.warnings.push(Warning {
                domain: name.clone(),
                kind: "forgotten",
                text: format!("--forget {name} ignored: it is still in the config"),
                until: None,
            });
        }
    }
    out.lock_changes = changed_entries(&previous.domains, &out.lock.domains);
    out
}

/// The names whose entry differs between two locks, or is in one only, in name order: both
/// are walked side by side.
fn changed_entries(
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
) -> Vec<String> {
    let mut changed = Vec::new();
    let (mut a, mut b) = (before.iter().peekable(), after.iter().peekable());
    loop {
        let name = match (a.peek(), b.peek()) {
            (None, None) => return changed,
            (Some((x, _)), Some((y, _))) if x == y => {
                let ((name, e1), (_, e2)) = (a.next().expect("peeked"), b.next().expect("peeked"));
                if e1 == e2 {
                    continue;
                }
                name
            }
            (Some((x, _)), Some((y, _))) if x < y => a.next().expect("peeked").0,
            (Some(_), None) => a.next().expect("peeked").0,
            _ => b.next().expect("peeked").0,
        };
        changed.push(name.clone());
    }
}

/// `items` cut into runs of `size`, in order, moved rather than copied.
fn runs_of<T>(mut items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut runs = Vec::with_capacity(items.len().div_ceil(size));
    while !items.is_empty() {
        // From the back, so that nothing is moved twice.
        let at = (items.len() - 1) / size * size;
        runs.push(items.split_off(at));
    }
    runs.reverse();
    runs
}

/// A domain absent from the config keeps its entry (marked removed) when no testing/enforce
/// policy of it can still be cached; otherwise `Err` holds the date until which one can.
fn leaving(entry: &Entry, now: DateTime<Utc>) -> Result<Entry, DateTime<Utc>> {
    if matches!(entry.stage, Stage::Retired | Stage::Removed) {
        return Ok(entry.clone());
    }
    let cached_until = match entry.mode {
        Mode::None => entry
            .remove_after
            .or_else(|| entry.sts_ended.map(|t| after(t, entry.max_age_high))),
        // Still published right now, so cacheable for its whole lifetime from now.
        _ => Some(after(now, entry.max_age_high)),
    };
    match cached_until {
        Some(until) if until > now => Err(until),
        _ => Ok(Entry {
            stage: Stage::Removed,
            ..entry.clone()
        }),
    }
}

/// A domain's plan but for the domain itself, which is moved in last.
struct Outcome {
    id: String,
    change: Change,
    stage: Stage,
    remove_after: Option<DateTime<Utc>>,
}

/// The mx list of lock entries as strings, made once per shared list of patterns: domains
/// that inherit `[defaults]` share one `Arc` of patterns, and their entries one of strings.
#[derive(Default)]
struct MxStrings {
    patterns: Option<Arc<[MxPattern]>>,
    strings: Option<Arc<[String]>>,
}

impl MxStrings {
    fn of(&mut self, mx: &Arc<[MxPattern]>) -> Arc<[String]> {
        if let (Some(patterns), Some(strings)) = (&self.patterns, &self.strings)
            && Arc::ptr_eq(patterns, mx)
        {
            return strings.clone();
        }
        let strings: Arc<[String]> = mx.iter().map(ToString::to_string).collect();
        self.patterns = Some(mx.clone());
        self.strings = Some(strings.clone());
        strings
    }
}

fn plan_domain(
    d: Domain,
    prev: Option<&Entry>,
    now: DateTime<Utc>,
    out: &mut Plan,
    mx: &mut MxStrings,
) -> (DomainPlan, Option<Entry>) {
    let (o, entry) = outcome(&d, prev, now, out, mx);
    let plan = DomainPlan {
        domain: d,
        id: o.id,
        change: o.change,
        stage: o.stage,
        remove_after: o.remove_after,
    };
    (plan, entry)
}

fn outcome(
    d: &Domain,
    prev: Option<&Entry>,
    now: DateTime<Utc>,
    out: &mut Plan,
    mx_strings: &mut MxStrings,
) -> (Outcome, Option<Entry>) {
    let name = d.name.to_string();
    let (mode, max_age) = if d.retire {
        (Mode::None, d.retire_max_age)
    } else {
        (d.mode, d.max_age)
    };
    let policy = Policy::new(mode, &d.mx, max_age).render();
    let sha: Arc<str> = sha256_hex(policy.as_bytes()).into();
    let mut result = Outcome {
        id: prev.map(|e| e.id.to_string()).unwrap_or_default(),
        change: Change::Unchanged,
        stage: prev.map_or(Stage::Retired, |e| e.stage),
        remove_after: None,
    };

    // Retired (or never published) and asked to stay retired: nothing to publish.
    let live = prev.filter(|e| matches!(e.stage, Stage::Active | Stage::Retiring));
    if d.retire && live.is_none() {
        let entry = prev.map(|e| Entry {
            stage: Stage::Retired,
            ..e.clone()
        });
        result.stage = Stage::Retired;
        return (result, entry);
    }

    let same_policy = live.is_some_and(|e| e.policy_sha256 == sha);
    let new_pin = d
        .pinned_id
        .as_ref()
        .filter(|p| prev.and_then(|e| e.pin.as_ref()) != Some(*p));
    let (id, change) = match (live, new_pin) {
        (Some(e), None) if same_policy => (e.id.to_string(), Change::Unchanged),
        (Some(e), Some(pin)) if same_policy && **pin == *e.id => {
            (e.id.to_string(), Change::Unchanged)
        }
        (_, Some(pin)) => {
            if prev.is_some_and(|e| *e.id == **pin) && !same_policy {
                out.refusals.push(Refusal {
                    domain: name.clone(),
                    text: format!(
                        "{name}: the pinned id {pin:?} already names the previous policy; an id \
                         must change whenever the policy does (RFC 8461 §3.1): remove `id` or \
                         pick another"
                    ),
                });
            }
            (
                pin.clone(),
                if live.is_some() {
                    Change::Changed
                } else {
                    Change::New
                },
            )
        }
        (_, None) => {
            if let (Some(pin), Some(_)) = (&d.pinned_id, live) {
                out.warnings.push(Warning {
                    domain: name.clone(),
                    kind: "pin-spent",
                    text: format!(
                        "{name}: the policy changed, so the pinned id {pin:?} no longer applies and a new id was made; remove `id` from its table"
                    ),
                    until: None,
                });
            }
            let id = match d.id_scheme {
                IdScheme::Timestamp => next_id(prev.map(|e| &*e.id), now),
                IdScheme::Hash => sha[..32].to_string(),
            };
            (
                id,
                if live.is_some() {
                    Change::Changed
                } else {
                    Change::New
                },
            )
        }
    };

    let fresh = if change == Change::Unchanged || d.retire {
        Vec::new()
    } else {
        live.map_or_else(Vec::new, |e| change_notices(d, e, max_age, now))
    };
    let mut entry = match live {
        Some(e) if change == Change::Unchanged => Entry {
            pin: d.pinned_id.clone(),
            ..e.clone()
        },
        Some(e) => Entry {
            id: id.as_str().into(),
            policy_sha256: sha.clone(),
            stage: Stage::Active,
            mode,
            max_age,
            mx: mx_strings.of(&d.mx),
            published: now,
            max_age_high: e.max_age_high.max(max_age),
            sts_ended: match (e.mode, mode) {
                (Mode::Testing | Mode::Enforce, Mode::None) => Some(now),
                (_, Mode::None) => e.sts_ended,
                _ => None,
            },
            retiring_since: None,
            remove_after: None,
            previous_id: Some(e.id.clone()),
            previous_sha256: Some(e.policy_sha256.clone()),
            pin: d.pinned_id.clone(),
            notices: e
                .notices
                .iter()
                .filter(|n| n.until > now)
                .chain(fresh.iter().map(|(_, n)| n))
                .cloned()
                .collect(),
        },
        None => Entry {
            id: id.as_str().into(),
            policy_sha256: sha.clone(),
            stage: Stage::Active,
            mode,
            max_age,
            mx: mx_strings.of(&d.mx),
            published: now,
            max_age_high: max_age,
            sts_ended: None,
            retiring_since: None,
            remove_after: None,
            previous_id: prev.map(|e| e.id.clone()),
            previous_sha256: prev.map(|e| e.policy_sha256.clone()),
            pin: d.pinned_id.clone(),
            notices: Arc::default(),
        },
    };
    if change != Change::Unchanged {
        enforce_warnings(d, &mut out.warnings);
    }
    out.warnings
        .extend(fresh.into_iter().map(|(kind, n)| Warning {
            domain: name.clone(),
            kind,
            text: n.text.to_string(),
            until: Some(n.until),
        }));

    result.id = id;
    result.change = change;
    result.stage = Stage::Active;
    if d.retire {
        let since = match live {
            Some(e) if e.stage == Stage::Retiring => e.retiring_since.unwrap_or(now),
            _ => now,
        };
        let remove_after = after(after(since, entry.max_age_high), d.ttl);
        entry.stage = Stage::Retiring;
        entry.retiring_since = Some(since);
        entry.remove_after = Some(remove_after);
        result.remove_after = Some(remove_after);
        if now >= remove_after && since < now {
            entry.stage = Stage::Retired;
            result.stage = Stage::Retired;
            let records = records::for_domain(d, &result.id);
            out.warnings.push(Warning {
                domain: name.clone(),
                kind: "retired",
                text: format!(
                    "{name}: retirement complete; its policy file and vhost are no longer generated. \
                     Delete these DNS records now: {} (the _smtp._tls record is independent: keep it \
                     while you want TLS reports)",
                    records
                        .iter()
                        .filter(|r| !r.owner.starts_with("_smtp._tls."))
                        .map(|r| format!("{} {}", r.owner, r.rtype))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                until: None,
            });
            return (result, Some(entry));
        }
        result.stage = Stage::Retiring;
        out.warnings.push(Warning {
            domain: name.clone(),
            kind: "retiring",
            text: format!(
                "{name}: retiring; `mode: none` is published since {}; keep its records, vhost and \
                 policy until {}, after which the build removes them",
                day(since),
                day(remove_after)
            ),
            until: Some(remove_after),
        });
    }
    (result, Some(entry))
}

/// Notices (kind, and the date until which they matter) for a change of a published policy:
/// senders may keep the previous one for up to the largest max_age published (RFC 8461 §8.3).
fn change_notices(
    d: &Domain,
    prev: &Entry,
    max_age: u32,
    now: DateTime<Utc>,
) -> Vec<(&'static str, Notice)> {
    let mut notices = Vec::new();
    if prev.mode == Mode::None {
        return notices;
    }
    let until = after(now, prev.max_age_high);
    let name = d.name.as_str();
    let kept: Vec<String> = d.mx.iter().map(ToString::to_string).collect();
    for dropped in prev.mx.iter().filter(|p| !kept.contains(p)) {
        notices.push((
            "mx-dropped",
            Notice {
                until,
                text: format!(
                    "{name}: mx {dropped} was dropped from the {} policy; senders may keep that \
                     policy until {}: keep the hosts it matches valid MX hosts (DNS and \
                     certificate) until then",
                    prev.mode,
                    day(until)
                )
                .into(),
            },
        ));
    }
    if max_age < prev.max_age {
        notices.push((
            "max-age-lowered",
            Notice {
                until,
                text: format!(
                    "{name}: max_age lowered from {} to {max_age}; the old policy still governs \
                     senders that cached it until {} (RFC 8461 §8.3)",
                    prev.max_age,
                    day(until)
                )
                .into(),
            },
        ));
    }
    if d.mode == Mode::None {
        notices.push((
            "mode-none",
            Notice {
                until,
                text: format!(
                    "{name}: mode none published; senders may hold the {} policy until {}",
                    prev.mode,
                    day(until)
                )
                .into(),
            },
        ));
    }
    notices
}

/// Warnings for a new or changed enforce policy (no date: they hold while it is published).
/// A short max_age is the config's warning, located at the key.
fn enforce_warnings(d: &Domain, warnings: &mut Vec<Warning>) {
    if d.mode != Mode::Enforce || d.retire {
        return;
    }
    let name = d.name.to_string();
    for wildcard in d.mx.iter().filter(|m| m.is_wildcard()) {
        warnings.push(Warning {
            domain: name.clone(),
            kind: "wildcard-enforce",
            text: format!(
                "{name}: enforce policy with wildcard mx {wildcard}: any host with a valid certificate one label below it is accepted as an MX (RFC 8461 §10.4)"
            ),
            until: None,
        });
    }
}

/// `t` plus `secs` seconds.
fn after(t: DateTime<Utc>, secs: u32) -> DateTime<Utc> {
    t + TimeDelta::seconds(i64::from(secs))
}

/// A date and time for messages: `2025-11-28 00:00 UTC`.
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
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
    crate::manifest::hex(&sha256(bytes))
}

/// sha256.
pub fn sha256(bytes: &[u8]) -> crate::manifest::Digest {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_epoch;

    #[test]
    fn runs_are_the_chunks_in_order() {
        for n in [0, 1, 5, 6, 7] {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<Vec<usize>> = items.chunks(3).map(<[usize]>::to_vec).collect();
            assert_eq!(runs_of(items, 3), chunks);
        }
    }

    fn config(text: &str) -> crate::model::Config {
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

    const DAY: i64 = 86_400;
    const T0: i64 = 1_700_000_000;

    fn t(epoch: i64) -> DateTime<Utc> {
        from_epoch(&epoch.to_string()).unwrap()
    }

    fn run(text: &str, lock: &Lock, at: i64) -> Plan {
        plan(config(text).domains, lock, t(at), &[])
    }

    fn kinds(p: &Plan) -> Vec<(&str, &str)> {
        p.warnings
            .iter()
            .map(|w| (w.domain.as_str(), w.kind))
            .collect()
    }

    #[test]
    fn gen_04_new_domains_get_timestamp_ids() {
        let p = run(BASE, &Lock::new(), T0);
        assert_eq!(p.domains[0].id, "20231114221320");
        assert!(
            p.domains
                .iter()
                .all(|d| d.change == Change::New && d.stage == Stage::Active)
        );
        assert_eq!(p.lock_changes, ["a.example", "b.example"]);
        let e = &p.lock.domains["a.example"];
        assert_eq!(
            (e.published, e.max_age_high, e.mode),
            (t(T0), 604800, Mode::Enforce)
        );
    }

    #[test]
    fn domains_inheriting_mx_share_one_list_in_the_config_and_in_both_locks() {
        let p = run(BASE, &Lock::new(), T0);
        let [a, b] = [&p.lock.domains["a.example"], &p.lock.domains["b.example"]];
        assert!(std::sync::Arc::ptr_eq(&a.mx, &b.mx));
        let c = config(BASE);
        assert!(std::sync::Arc::ptr_eq(&c.domains[0].mx, &c.domains[1].mx));
        let read = Lock::parse(&p.lock.to_text(), "x").unwrap();
        let [a, b] = [&read.domains["a.example"], &read.domains["b.example"]];
        assert!(std::sync::Arc::ptr_eq(&a.mx, &b.mx));
        assert_eq!(read, p.lock);
    }

    #[test]
    fn gen_05_ids_change_iff_policy_bytes_change() {
        let first = run(BASE, &Lock::new(), T0);
        let same = run(BASE, &first.lock, T0 + 100 * DAY);
        assert!(same.domains.iter().all(|d| d.change == Change::Unchanged));
        assert!(same.lock_changes.is_empty());
        assert_eq!(
            same.lock, first.lock,
            "an unchanged plan leaves the lock byte-identical"
        );

        let edited = BASE.replace(
            "[domains.\"b.example\"]",
            "[domains.\"b.example\"]\nmax_age = 1209600",
        );
        let next = run(&edited, &first.lock, 1_800_000_000);
        assert_eq!(next.domains[0].change, Change::Unchanged);
        assert_eq!(next.domains[1].change, Change::Changed);
        assert_eq!(next.domains[1].id, "20270115080000");
        assert_eq!(next.lock_changes, ["b.example"]);
        assert_eq!(next.lock.domains["b.example"].published, t(1_800_000_000));
    }

    #[test]
    fn gen_06_rpt_06_tlsrpt_ttl_and_policy_host_do_not_bump_the_id() {
        let first = run(BASE, &Lock::new(), T0);
        let edited = BASE.replace(
            "[domains.\"b.example\"]",
            "[domains.\"b.example\"]\ntlsrpt_rua = [\"mailto:r@example.net\"]\nttl = 300\npolicy_addresses = [\"192.0.2.1\"]",
        );
        let next = run(&edited, &first.lock, T0 + DAY);
        assert_eq!(next.domains[1].change, Change::Unchanged);
        assert_eq!(next.domains[1].records().len(), 3);
    }

    #[test]
    fn ids_strictly_increase_when_the_clock_repeats_or_goes_back() {
        assert_eq!(next_id(Some("20231114221320"), t(T0)), "20231114221321");
        assert_eq!(next_id(Some("20991231235959"), t(T0)), "21000101000000");
        assert_eq!(next_id(Some("custom1"), t(T0)), "20231114221320");
        let first = run(BASE, &Lock::new(), T0);
        let edited = BASE.replace("mode = \"enforce\"", "mode = \"testing\"");
        let again = run(&edited, &first.lock, T0);
        assert_eq!(again.domains[0].id, "20231114221321", "same second: +1s");
        let back = run(BASE, &again.lock, T0 - DAY);
        assert_eq!(back.domains[0].id, "20231114221322", "clock went back: +1s");
    }

    #[test]
    fn hash_ids_are_stable_and_derived_from_the_policy_bytes() {
        let text = BASE.replace("[defaults]", "[defaults]\nid_scheme = \"hash\"");
        let one = run(&text, &Lock::new(), T0);
        let two = run(&text, &Lock::new(), T0 + 1000 * DAY);
        assert_eq!(
            one.domains[0].id, two.domains[0].id,
            "independent of clock and state"
        );
        assert_eq!(
            one.domains[0].id,
            &sha256_hex(one.domains[0].policy().as_bytes())[..32]
        );
        // The same bytes on any machine: pinned here so that a change to the derivation shows.
        assert_eq!(one.domains[0].id, "4389fbf47eaa156356cf6dca6f97c9a1");
        let edited = text.replace("mode = \"enforce\"", "mode = \"testing\"");
        let changed = run(&edited, &one.lock, T0 + DAY);
        assert_ne!(changed.domains[0].id, one.domains[0].id);
        assert!(valid_ids(&changed));
    }

    fn valid_ids(p: &Plan) -> bool {
        p.domains.iter().all(|d| crate::model::valid_id(&d.id))
    }

    #[test]
    fn a_pinned_id_holds_until_the_policy_changes() {
        let pinned = BASE.replace(
            "mode = \"enforce\"",
            "mode = \"enforce\"\nid = \"mailcow2024\"",
        );
        let first = run(&pinned, &Lock::new(), T0);
        assert_eq!(first.domains[0].id, "mailcow2024");
        let again = run(&pinned, &first.lock, T0 + DAY);
        assert_eq!(again.domains[0].id, "mailcow2024");
        assert!(again.lock_changes.is_empty());
        let changed = pinned.replace("mode = \"enforce\"", "mode = \"testing\"");
        let next = run(&changed, &again.lock, T0 + 2 * DAY);
        assert_eq!(next.domains[0].id, "20231116221320");
        assert!(kinds(&next).contains(&("a.example", "pin-spent")));
        let later = run(&changed, &next.lock, T0 + 3 * DAY);
        assert_eq!(
            later.domains[0].id, "20231116221320",
            "a spent pin is not applied again"
        );
        // Pinning the id that already names the previous policy to a new policy is refused.
        let reuse = changed
            .replace("id = \"mailcow2024\"", "id = \"20231116221320\"")
            .replace("mode = \"testing\"", "mode = \"enforce\"");
        let refused = run(&reuse, &later.lock, T0 + 4 * DAY);
        assert_eq!(refused.refusals.len(), 1, "{:?}", refused.refusals);
    }

    #[test]
    fn leaving_the_config_needs_retirement_or_forget() {
        let first = run(BASE, &Lock::new(), T0);
        let without_b = BASE.replace("[domains.\"b.example\"]\n", "");
        let refused = run(&without_b, &first.lock, T0 + DAY);
        assert_eq!(refused.refusals.len(), 1);
        assert!(
            refused.refusals[0]
                .text
                .starts_with("b.example was removed"),
            "{}",
            refused.refusals[0].text
        );
        assert!(
            refused.refusals[0].text.contains("retire = true")
                && refused.refusals[0].text.contains("--forget b.example")
        );
        let forgotten = plan(
            config(&without_b).domains,
            &first.lock,
            t(T0 + DAY),
            &["b.example".into()],
        );
        assert!(forgotten.refusals.is_empty());
        assert!(!forgotten.lock.domains.contains_key("b.example"));
        assert_eq!(forgotten.lock_changes, ["b.example"]);
        assert!(kinds(&forgotten).contains(&("b.example", "forgotten")));
    }

    #[test]
    fn a_domain_that_only_ever_published_none_may_leave_and_comes_back_with_a_greater_id() {
        let none = BASE.replace(
            "[domains.\"b.example\"]",
            "[domains.\"b.example\"]\nmode = \"none\"",
        );
        let first = run(&none, &Lock::new(), T0);
        let without_b = BASE.replace("[domains.\"b.example\"]\n", "");
        let gone = run(&without_b, &first.lock, T0 + DAY);
        assert!(gone.refusals.is_empty(), "{:?}", gone.refusals);
        assert_eq!(gone.lock.domains["b.example"].stage, Stage::Removed);
        let back = run(&none, &gone.lock, T0 + DAY);
        assert_eq!(back.domains[1].change, Change::New);
        assert!(back.domains[1].id > first.domains[1].id);
    }

    #[test]
    fn ret_01_to_06_retirement_timeline_honours_the_largest_max_age() {
        let thirty_days = BASE.replace(
            "mode = \"enforce\"",
            "mode = \"enforce\"\nmax_age = 2592000",
        );
        let p0 = run(&thirty_days, &Lock::new(), T0);
        // Lowering max_age: the 30 days still govern (RET-06).
        let one_day = BASE.replace("mode = \"enforce\"", "mode = \"enforce\"\nmax_age = 86400");
        let p1 = run(&one_day, &p0.lock, T0 + DAY);
        let lowered = p1
            .warnings
            .iter()
            .find(|w| w.kind == "max-age-lowered")
            .unwrap();
        assert_eq!(lowered.until, Some(t(T0 + 31 * DAY)));
        assert_eq!(p1.lock.domains["a.example"].max_age_high, 2_592_000);
        // Retire (RET-01): mode none, short max_age, new id, still one mx line.
        let retire = one_day.replace("mode = \"enforce\"", "mode = \"enforce\"\nretire = true");
        let p2 = run(&retire, &p1.lock, T0 + 2 * DAY);
        let a = &p2.domains[0];
        assert_eq!(
            (a.stage, a.change, a.mode()),
            (Stage::Retiring, Change::Changed, Mode::None)
        );
        assert!(
            a.policy()
                .contains("mode: none\r\nmx: mx.example.net\r\nmax_age: 86400\r\n")
        );
        let remove_after = t(T0 + 2 * DAY + 30 * DAY + 3600);
        assert_eq!(
            a.remove_after,
            Some(remove_after),
            "none went out + largest max_age + ttl (RET-02)"
        );
        assert!(kinds(&p2).contains(&("a.example", "retiring")));
        // Before that moment it keeps publishing (RET-03) ...
        let p3 = run(&retire, &p2.lock, T0 + 31 * DAY);
        assert_eq!(
            (p3.domains[0].stage, p3.domains[0].change),
            (Stage::Retiring, Change::Unchanged)
        );
        assert!(p3.domains[0].published() && !p3.domains[0].records().is_empty());
        assert!(p3.lock_changes.is_empty());
        // ... and leaving the config is still refused.
        let without_a = "[domains.\"b.example\"]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n";
        assert_eq!(run(without_a, &p2.lock, T0 + 31 * DAY).refusals.len(), 1);
        // After it, nothing is published and the lock says retired.
        let p4 = run(&retire, &p3.lock, T0 + 32 * DAY + 3601);
        assert_eq!(p4.domains[0].stage, Stage::Retired);
        assert!(!p4.domains[0].published() && p4.domains[0].records().is_empty());
        let retired = p4.warnings.iter().find(|w| w.kind == "retired").unwrap();
        assert!(
            retired.text.contains("_mta-sts.a.example. TXT")
                && retired.text.contains("mta-sts.a.example. CNAME")
        );
        assert_eq!(p4.lock.domains["a.example"].stage, Stage::Retired);
        let p5 = run(&retire, &p4.lock, T0 + 40 * DAY);
        assert!(p5.lock_changes.is_empty() && !p5.domains[0].published());
        // A retired domain may leave the config.
        assert!(run(without_a, &p5.lock, T0 + 40 * DAY).refusals.is_empty());
        // Re-enabling publishes a fresh policy with a new id (RET-04) and fresh history.
        let p6 = run(&one_day, &p5.lock, T0 + 41 * DAY);
        let a = &p6.domains[0];
        assert_eq!(
            (a.stage, a.change, a.mode()),
            (Stage::Active, Change::New, Mode::Enforce)
        );
        assert_ne!(a.id, p4.domains[0].id);
        assert_eq!(p6.lock.domains["a.example"].max_age_high, 86_400);
    }

    #[test]
    fn ret_05_change_warnings() {
        let first = run(
            &BASE.replace(
                "mx = [\"mx.example.net\"]",
                "mx = [\"mx.example.net\", \"old.example.net\"]",
            ),
            &Lock::new(),
            T0,
        );
        let dropped = run(BASE, &first.lock, T0 + DAY);
        let w: Vec<_> = dropped
            .warnings
            .iter()
            .filter(|w| w.kind == "mx-dropped")
            .collect();
        assert_eq!(w.len(), 2, "both domains had old.example.net");
        assert!(w[0].text.contains("old.example.net") && w[0].until == Some(t(T0 + 8 * DAY)));
        assert_eq!(
            dropped.lock.domains["a.example"].notices.len(),
            1,
            "kept for `status`"
        );
        let short = BASE.replace("[domains.\"b.example\"]", "[domains.\"b.example\"]\nmode = \"enforce\"\nmax_age = 3600\nmx = [\"*.mx.example.net\"]");
        let p = run(&short, &dropped.lock, T0 + 2 * DAY);
        let k = kinds(&p);
        assert!(k.contains(&("b.example", "wildcard-enforce")), "{k:?}");
        assert!(
            !k.iter().any(|(d, _)| *d == "a.example"),
            "an unchanged policy warns nothing: {k:?}"
        );
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
