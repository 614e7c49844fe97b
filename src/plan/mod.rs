//! Pure planning: config + previous lock + clock → per-domain policy bytes, ids, records and
//! lifecycle (RFC 8461 §8.1 ordering, §8.3 retirement). No I/O, no clock reads.

mod batches;
pub mod mx_move;
mod notices;
mod outcome;

pub use crate::error::{Refusal, RefusalReason};
pub use batches::assign as assign_certificates;
pub use notices::{after, day, next_id};

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::lock::{Entry, Lock, Stage};
use crate::model::{Domain, Mode};
use crate::names::MxPattern;
use crate::policy::Policy;
use crate::records::{self, Record};

use notices::leaving;
use outcome::plan_domain;

pub(super) const ID_FORMAT: &str = "%Y%m%d%H%M%S";
/// Domains per run when planning on several threads.
pub(super) const PLAN_RUN: usize = 2048;

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

/// The kinds of warning, serialised as stable keywords (`mx-dropped`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// An mx pattern left a policy senders may still hold.
    MxDropped,
    /// max_age went down while senders may hold the longer one.
    MaxAgeLowered,
    /// A testing/enforce policy was replaced by `mode: none`.
    ModeNone,
    /// An enforce policy with a wildcard mx.
    WildcardEnforce,
    /// A pinned id no longer applies.
    PinSpent,
    /// Retirement is under way (a note).
    Retiring,
    /// Retirement completed (a note).
    Retired,
    /// `--forget` dropped, or could not drop, a lock entry (a note).
    Forgotten,
    /// A DANE host has no pre-published next key.
    DaneNoNextKey,
    /// A DANE host's certificate has a key whose TLSA record was never published.
    DaneUnpublishedKey,
    /// A DANE host switched to a key before every cache could hold its TLSA record.
    DaneEarlySwitch,
}

impl WarningKind {
    /// Notes tell what happened as planned; they go to stdout, warnings to stderr.
    pub fn is_note(self) -> bool {
        matches!(
            self,
            WarningKind::Retiring | WarningKind::Retired | WarningKind::Forgotten
        )
    }
}

/// A message about one domain that a person should read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// The domain (A-label).
    pub domain: String,
    /// What it is about (serialised as a stable keyword).
    pub kind: WarningKind,
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
    /// The certificate batch its policy host is in (`[nginx] hosts_per_certificate` above 1).
    pub certificate: Option<std::sync::Arc<str>>,
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

/// The whole plan of `config` over `previous` at `now`: its domains (moved out of `config`),
/// their certificate batches, and the `[dane]` hosts (key files relative to `base`). `build`
/// and every command that only reads plan this one way.
pub fn of_config(
    config: &mut crate::model::Config,
    previous: &Lock,
    now: DateTime<Utc>,
    forget: &[String],
    base: &std::path::Path,
) -> Result<Plan, crate::error::Error> {
    let mut out = plan(std::mem::take(&mut config.domains), previous, now, forget);
    assign_certificates(&mut out, config.nginx.hosts_per_certificate);
    out.with_dane(&config.dane, previous, now, base)?;
    Ok(out)
}

impl Plan {
    /// A plan of nothing yet, with room for `domains` domains.
    fn empty(domains: usize) -> Plan {
        Plan {
            domains: Vec::with_capacity(domains),
            lock: Lock::new(),
            lock_changes: Vec::new(),
            due: Vec::new(),
            warnings: Vec::new(),
            refusals: Vec::new(),
            dane: Default::default(),
        }
    }

    /// Adds the `[dane]` hosts' rollover at `now` (key files relative to `base`): their lock
    /// tables and warnings join the plan's.
    fn with_dane(
        &mut self,
        hosts: &[crate::model::Dane],
        previous: &Lock,
        now: DateTime<Utc>,
        base: &std::path::Path,
    ) -> Result<(), crate::error::Error> {
        let read = hosts
            .iter()
            .map(|d| {
                crate::dane::digests(d, base)
                    .map(|digests| (d, digests))
                    .map_err(|source| crate::error::Error::DaneKey {
                        host: d.host.to_string(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.dane = crate::dane::plan(&read, &previous.dane, now);
        self.lock.dane = self.dane.lock.clone();
        self.warnings.extend(self.dane.warnings.iter().cloned());
        Ok(())
    }

    /// Whether `name`'s lock entry matches the config: unchanged, or changed only by a
    /// scheduled transition that fell due.
    pub fn built(&self, name: &str) -> bool {
        self.lock_changes.iter().all(|c| c != name) || self.due.iter().any(|c| c == name)
    }

    /// The message for a scheduled transition of `name` that fell due.
    pub fn due_message(name: &str) -> String {
        format!("retirement of {name} is due: run mtasts build")
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
    /// Domains among `lock_changes` only because a scheduled transition fell due (a
    /// retirement whose date has passed): no config change, just a build to run.
    pub due: Vec<String>,
    /// Messages for people, in domain order.
    pub warnings: Vec<Warning>,
    /// Why this plan must not be published (each message names its domain and the fix).
    pub refusals: Vec<Refusal>,
    /// The TLSA records of the `[dane]` MX hosts (planned by [`Plan::with_dane`]).
    pub dane: crate::dane::DanePlan,
}

/// Plans every domain; ids change only where policy bytes changed; domains in `forget` may
/// leave the lock whatever their stage.
/// Kept whole: each run walks the lock beside its domains; split, the cursor would be passed
/// around.
pub fn plan(domains: Vec<Domain>, previous: &Lock, now: DateTime<Utc>, forget: &[String]) -> Plan {
    let count = domains.len();
    let mut out = Plan::empty(count);
    // Domains are planned independently: in runs on several threads, joined in order.
    let runs = crate::parallel::on_threads(runs_of(domains, PLAN_RUN), |run| {
        let mut part = Plan::empty(run.len());
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
            let decided = plan_domain(domain, prev, now, &mut mx);
            if let Some(entry) = decided.entry {
                entries.push((decided.plan.domain.name.to_string(), entry));
            }
            part.warnings.extend(decided.warnings);
            part.refusals.extend(decided.refusal);
            if decided.due {
                part.due.push(decided.plan.domain.name.to_string());
            }
            part.domains.push(decided.plan);
        }
        (part, entries)
    });
    let mut entries = Vec::with_capacity(count);
    for (mut part, mut run) in runs {
        out.domains.append(&mut part.domains);
        out.warnings.append(&mut part.warnings);
        out.refusals.append(&mut part.refusals);
        out.due.append(&mut part.due);
        entries.append(&mut run);
    }
    // One bulk build from sorted entries, not a merge per run.
    out.lock.domains = entries.into_iter().collect();
    delegate_ids(&mut out);
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
                kind: WarningKind::Forgotten,
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
                reason: RefusalReason::StillHeld {
                    mode: entry.mode.to_string(),
                    until: day(until),
                },
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
                kind: WarningKind::Forgotten,
                text: format!("--forget {name} ignored: it is still in the config"),
                until: None,
            });
        }
    }
    out.lock_changes = changed_entries(&previous.domains, &out.lock.domains);
    out
}

/// An alias publishes its primary's id (its `_mta-sts` record is a CNAME to the primary's):
/// its plan and lock entry take that id.
fn delegate_ids(out: &mut Plan) {
    let primaries: Vec<(usize, String)> = out
        .domains
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let primary = d.domain.delegate_to.as_ref()?;
            let at = out
                .domains
                .binary_search_by(|p| p.domain.name.as_str().cmp(primary.as_str()))
                .ok()?;
            Some((i, out.domains[at].id.clone()))
        })
        .collect();
    for (i, id) in primaries {
        let alias = &mut out.domains[i];
        alias.id = id;
        if let Some(entry) = out.lock.domains.get_mut(alias.domain.name.as_str()) {
            entry.id = alias.id.as_str().into();
        }
    }
}

/// The names whose entry differs between two locks, or is in one only, in name order: both
/// are walked side by side.
pub(super) fn changed_entries(
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
pub(super) fn runs_of<T>(mut items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut runs = Vec::with_capacity(items.len().div_ceil(size));
    while !items.is_empty() {
        // From the back, so that nothing is moved twice.
        let at = (items.len() - 1) / size * size;
        runs.push(items.split_off(at));
    }
    runs.reverse();
    runs
}

/// The mx list of lock entries as strings, made once per shared list of patterns: domains
/// that inherit `[defaults]` share one `Arc` of patterns, and their entries one of strings.
#[derive(Default)]
pub(super) struct MxStrings {
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

#[cfg(test)]
mod tests;
