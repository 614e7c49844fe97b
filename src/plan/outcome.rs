//! One domain's outcome against its previous lock entry: the id, the change, the lifecycle
//! stage, the new lock entry, and the warnings and refusals that go with them.

use std::sync::Arc;

use crate::digest::sha256_hex;
use chrono::{DateTime, Utc};

use crate::model::{Domain, IdScheme, Mode};
use crate::policy::Policy;
use crate::records::{self};
use crate::state::{Entry, Stage};

use super::notices::{after, change_notices, day, enforce_warnings, next_id};
use super::{Change, DomainPlan, MxStrings, Plan, Refusal, RefusalReason, Warning, WarningKind};

/// A domain's plan but for the domain itself, which is moved in last.
pub(super) struct Outcome {
    id: String,
    change: Change,
    stage: Stage,
    remove_after: Option<DateTime<Utc>>,
}

pub(super) fn plan_domain(
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
        certificate: entry.as_ref().and_then(|e| e.certificate.clone()),
    };
    (plan, entry)
}

pub(super) fn outcome(
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
                    reason: RefusalReason::PinReused {
                        pin: pin.to_string(),
                    },
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
                    kind: WarningKind::PinSpent,
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
            certificate: e.certificate.clone(),
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
            certificate: prev.and_then(|e| e.certificate.clone()),
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
                kind: WarningKind::Retired,
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
            kind: WarningKind::Retiring,
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
