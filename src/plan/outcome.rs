//! One domain's outcome against its previous lock entry, as the RFC 8461 §8.3 lifecycle table
//! below: [`transition`] picks the row from the lock entry and the config, and one named
//! function per row makes the id, the change and the new lock entry; [`retirement`] then moves
//! a retiring domain along. Warnings and refusals are returned, not pushed.
//!
//! | lock entry           | config              | policy vs lock  | row             | change    |
//! | -------------------- | ------------------- | --------------- | --------------- | --------- |
//! | none or retired      | `retire = true`     | -               | `StayRetired`   | unchanged |
//! | none or retired      | published           | -               | `Publish`       | new       |
//! | active or retiring   | either              | same (and pin)  | `Keep`          | unchanged |
//! | active or retiring   | either              | differs         | `Change`        | changed   |
//!
//! With `retire = true` the policy is `mode: none`, so a retiring domain goes through `Keep`
//! or `Change` like any other; [`retirement`] then makes it `Retiring` until its last cached
//! policy expires (largest max_age ever published + ttl), and `Retired` after that.

use std::sync::Arc;

use crate::digest::sha256_hex;
use chrono::{DateTime, Utc};

use crate::lock::{Entry, Stage};
use crate::model::{Domain, IdScheme, Mode};
use crate::policy::Policy;
use crate::records::{self};

use super::notices::{after, change_notices, day, enforce_warnings, next_id};
use super::{Change, DomainPlan, MxStrings, Refusal, RefusalReason, Warning, WarningKind};

/// A row of the lifecycle table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transition {
    /// Nothing published, and nothing to publish.
    StayRetired,
    /// Nothing published: a first id and entry.
    Publish,
    /// Published with this very policy: id and entry kept.
    Keep,
    /// Published with another policy: a new id, the notices of what changed.
    Change,
}

/// The row for a domain: `retire` as the config says, `live` whether a policy of it is
/// published (its lock entry is active or retiring), `same` whether that is this policy under
/// the id the config pins (if any).
pub(super) fn transition(retire: bool, live: bool, same: bool) -> Transition {
    match (retire, live, same) {
        (true, false, _) => Transition::StayRetired,
        (false, false, _) => Transition::Publish,
        (_, true, true) => Transition::Keep,
        (_, true, false) => Transition::Change,
    }
}

/// What planning one domain decided.
pub(super) struct Decided {
    pub(super) plan: DomainPlan,
    pub(super) entry: Option<Entry>,
    pub(super) warnings: Vec<Warning>,
    pub(super) refusal: Option<Refusal>,
    /// The lock entry changes only because a scheduled transition fell due (a retirement whose
    /// date has passed), not because the config changed.
    pub(super) due: bool,
}

/// What the rows decide, before the domain moves into its plan.
struct Outcome {
    id: String,
    change: Change,
    stage: Stage,
    remove_after: Option<DateTime<Utc>>,
    warnings: Vec<Warning>,
    refusal: Option<Refusal>,
    due: bool,
}

/// The policy a domain publishes now, and what the lock says about it.
struct Facts<'a> {
    d: &'a Domain,
    name: String,
    prev: Option<&'a Entry>,
    /// `prev` when a policy of it is published.
    live: Option<&'a Entry>,
    mode: Mode,
    max_age: u32,
    sha: Arc<str>,
    /// A pinned id the lock has not published under yet.
    new_pin: Option<&'a str>,
    now: DateTime<Utc>,
}

/// Plans `d` against its lock entry `prev` at `now`.
pub(super) fn plan_domain(
    d: Domain,
    prev: Option<&Entry>,
    now: DateTime<Utc>,
    mx: &mut MxStrings,
) -> Decided {
    let (o, entry) = decide(&d, prev, now, mx);
    Decided {
        plan: DomainPlan {
            domain: d,
            id: o.id,
            change: o.change,
            stage: o.stage,
            remove_after: o.remove_after,
            certificate: entry.as_ref().and_then(|e| e.certificate.clone()),
        },
        entry,
        warnings: o.warnings,
        refusal: o.refusal,
        due: o.due,
    }
}

/// The row of `d` and what it makes.
fn decide(
    d: &Domain,
    prev: Option<&Entry>,
    now: DateTime<Utc>,
    mx: &mut MxStrings,
) -> (Outcome, Option<Entry>) {
    let (mode, max_age) = if d.retire {
        (Mode::None, d.retire_max_age)
    } else {
        (d.mode, d.max_age)
    };
    let policy = Policy::new(mode, &d.mx, max_age).render();
    let live = prev.filter(|e| matches!(e.stage, Stage::Active | Stage::Retiring));
    let f = Facts {
        d,
        name: d.name.to_string(),
        prev,
        live,
        mode,
        max_age,
        sha: sha256_hex(policy.as_bytes()).into(),
        new_pin: d
            .pinned_id
            .as_deref()
            .filter(|p| prev.and_then(|e| e.pin.as_deref()) != Some(*p)),
        now,
    };
    let same_policy = live.is_some_and(|e| e.policy_sha256 == f.sha);
    let same = same_policy
        && f.new_pin
            .is_none_or(|pin| live.is_some_and(|e| *e.id == *pin));
    let mut out = Outcome {
        id: String::new(),
        change: Change::Unchanged,
        stage: Stage::Active,
        remove_after: None,
        warnings: Vec::new(),
        refusal: None,
        due: false,
    };
    let row = transition(d.retire, live.is_some(), same);
    let entry = match row {
        Transition::StayRetired => stay_retired(&f, &mut out),
        Transition::Publish => publish(&f, mx, &mut out),
        Transition::Keep => keep(&f, &mut out),
        Transition::Change => change(&f, same_policy, mx, &mut out),
    };
    let entry = match entry {
        Some(e) if d.retire && out.stage != Stage::Retired => Some(retirement(&f, e, &mut out)),
        e => e,
    };
    // Kept as it was, and retired only by the calendar: a scheduled transition.
    out.due = row == Transition::Keep && out.stage == Stage::Retired;
    (out, entry)
}

/// Row `StayRetired`: the lock entry (if any) marked retired; nothing published.
fn stay_retired(f: &Facts<'_>, out: &mut Outcome) -> Option<Entry> {
    out.id = f.prev.map(|e| e.id.to_string()).unwrap_or_default();
    out.stage = Stage::Retired;
    f.prev.map(|e| Entry {
        stage: Stage::Retired,
        ..e.clone()
    })
}

/// Row `Keep`: the published id and entry, with the config's pin recorded.
fn keep(f: &Facts<'_>, out: &mut Outcome) -> Option<Entry> {
    let e = f.live?;
    out.id = e.id.to_string();
    Some(Entry {
        pin: f.d.pinned_id.clone(),
        ..e.clone()
    })
}

/// Row `Publish`: a first id (the pin, else a new one) and a fresh entry.
fn publish(f: &Facts<'_>, mx: &mut MxStrings, out: &mut Outcome) -> Option<Entry> {
    let id = new_id(f, out);
    out.change = Change::New;
    out.id = id.clone();
    enforce_warnings(f.d, &mut out.warnings);
    Some(first_entry(f, &id, mx))
}

/// A lock entry for the policy `f` publishes now under `id`; of the previous entry (if any) it
/// keeps only its id, hash and certificate batch.
fn first_entry(f: &Facts<'_>, id: &str, mx: &mut MxStrings) -> Entry {
    Entry {
        id: id.into(),
        policy_sha256: f.sha.clone(),
        stage: Stage::Active,
        mode: f.mode,
        max_age: f.max_age,
        mx: mx.of(&f.d.mx),
        published: f.now,
        max_age_high: f.max_age,
        sts_ended: None,
        retiring_since: None,
        remove_after: None,
        previous_id: f.prev.map(|e| e.id.clone()),
        previous_sha256: f.prev.map(|e| e.policy_sha256.clone()),
        pin: f.d.pinned_id.clone(),
        certificate: f.prev.and_then(|e| e.certificate.clone()),
        notices: Arc::default(),
    }
}

/// Row `Change`: a new id, the entry moved on (the largest max_age kept, when `sts` ended
/// recorded), and the notices of what senders still cache.
fn change(
    f: &Facts<'_>,
    same_policy: bool,
    mx: &mut MxStrings,
    out: &mut Outcome,
) -> Option<Entry> {
    let e = f.live?;
    if let (None, Some(pin)) = (f.new_pin, &f.d.pinned_id) {
        out.warnings.push(Warning {
            domain: f.name.clone(),
            kind: WarningKind::PinSpent,
            text: format!(
                "{}: the policy changed, so the pinned id {pin:?} no longer applies and a new id was made; remove `id` from its table",
                f.name
            ),
            until: None,
        });
    }
    let id = new_id(f, out);
    if f.new_pin.is_some() && *e.id == *id && !same_policy {
        out.refusal = Some(Refusal {
            domain: f.name.clone(),
            reason: RefusalReason::PinReused { pin: id.clone() },
        });
    }
    out.change = Change::Changed;
    out.id = id.clone();
    let fresh = if f.d.retire {
        Vec::new()
    } else {
        change_notices(f.d, e, f.max_age, f.now)
    };
    let notices = e
        .notices
        .iter()
        .filter(|n| n.until > f.now)
        .chain(fresh.iter().map(|(_, n)| n))
        .cloned()
        .collect();
    enforce_warnings(f.d, &mut out.warnings);
    out.warnings
        .extend(fresh.into_iter().map(|(kind, n)| Warning {
            domain: f.name.clone(),
            kind,
            text: n.text.to_string(),
            until: Some(n.until),
        }));
    // `live` is the lock entry, so the first entry's history fields are already its own.
    Some(Entry {
        max_age_high: e.max_age_high.max(f.max_age),
        sts_ended: match (e.mode, f.mode) {
            (Mode::Testing | Mode::Enforce, Mode::None) => Some(f.now),
            (_, Mode::None) => e.sts_ended,
            _ => None,
        },
        notices,
        ..first_entry(f, &id, mx)
    })
}

/// The id of a new or changed policy: the pin not yet published under, else a timestamp after
/// the previous id, or the policy's hash.
fn new_id(f: &Facts<'_>, out: &mut Outcome) -> String {
    if let Some(pin) = f.new_pin {
        if f.live.is_none() && f.prev.is_some_and(|e| *e.id == *pin) {
            // Back from retirement under the id its old policy had.
            out.refusal = Some(Refusal {
                domain: f.name.clone(),
                reason: RefusalReason::PinReused {
                    pin: pin.to_string(),
                },
            });
        }
        return pin.to_string();
    }
    match f.d.id_scheme {
        IdScheme::Timestamp => next_id(f.prev.map(|e| &*e.id), f.now),
        IdScheme::Hash => f.sha[..32].to_string(),
    }
}

/// A domain with `retire = true` whose `mode: none` policy is published: `Retiring` until no
/// sender can hold a testing/enforce policy of it any longer (largest max_age ever published
/// after retirement began, plus the ttl of its records), `Retired` from then on.
fn retirement(f: &Facts<'_>, mut entry: Entry, out: &mut Outcome) -> Entry {
    let now = f.now;
    let since = match f.live {
        Some(e) if e.stage == Stage::Retiring => e.retiring_since.unwrap_or(now),
        _ => now,
    };
    let remove_after = after(after(since, entry.max_age_high), f.d.ttl);
    entry.stage = Stage::Retiring;
    entry.retiring_since = Some(since);
    entry.remove_after = Some(remove_after);
    out.remove_after = Some(remove_after);
    if now >= remove_after && since < now {
        entry.stage = Stage::Retired;
        out.stage = Stage::Retired;
        let records = records::for_domain(f.d, &out.id);
        out.warnings.push(Warning {
            domain: f.name.clone(),
            kind: WarningKind::Retired,
            text: format!(
                "{}: retirement complete; its policy file and vhost are no longer generated. \
                 Delete these DNS records now: {} (the _smtp._tls record is independent: keep it \
                 while you want TLS reports)",
                f.name,
                records
                    .iter()
                    .filter(|r| !r.owner.starts_with("_smtp._tls."))
                    .map(|r| format!("{} {}", r.owner, r.rtype))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            until: None,
        });
        return entry;
    }
    out.stage = Stage::Retiring;
    out.warnings.push(Warning {
        domain: f.name.clone(),
        kind: WarningKind::Retiring,
        text: format!(
            "{}: retiring; `mode: none` is published since {}; keep its records, vhost and \
             policy until {}, after which the build removes them",
            f.name,
            day(since),
            day(remove_after)
        ),
        until: Some(remove_after),
    });
    entry
}

#[cfg(test)]
mod tests {
    use super::{Transition, transition};

    #[test]
    fn each_row_of_the_lifecycle_table() {
        // (retire, live, same) -> row
        let rows = [
            ((true, false, false), Transition::StayRetired),
            ((true, false, true), Transition::StayRetired),
            ((false, false, false), Transition::Publish),
            ((false, false, true), Transition::Publish),
            ((false, true, true), Transition::Keep),
            ((true, true, true), Transition::Keep),
            ((false, true, false), Transition::Change),
            ((true, true, false), Transition::Change),
        ];
        for ((retire, live, same), row) in rows {
            assert_eq!(
                transition(retire, live, same),
                row,
                "{retire} {live} {same}"
            );
        }
    }
}
