//! Lifecycle rules and what they say: when a removed domain may leave, the notices of a
//! changed policy (RFC 8461 §8.3), enforce warnings, and timestamp ids.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use crate::lock::{Entry, Notice, Stage};
use crate::model::{Domain, Mode};

use super::{ID_FORMAT, Warning, WarningKind};

/// A domain absent from the config keeps its entry (marked removed) when no testing/enforce
/// policy of it can still be cached; otherwise `Err` holds the date until which one can.
pub(super) fn leaving(entry: &Entry, now: DateTime<Utc>) -> Result<Entry, DateTime<Utc>> {
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

/// Notices (kind, and the date until which they matter) for a change of a published policy:
/// senders may keep the previous one for up to the largest max_age published (RFC 8461 §8.3).
pub(super) fn change_notices(
    d: &Domain,
    prev: &Entry,
    max_age: u32,
    now: DateTime<Utc>,
) -> Vec<(WarningKind, Notice)> {
    let mut notices = Vec::new();
    if prev.mode == Mode::None {
        return notices;
    }
    let until = after(now, prev.max_age_high);
    let name = d.name.as_str();
    let kept: Vec<String> = d.mx.iter().map(ToString::to_string).collect();
    for dropped in prev.mx.iter().filter(|p| !kept.contains(p)) {
        notices.push((
            WarningKind::MxDropped,
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
            WarningKind::MaxAgeLowered,
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
            WarningKind::ModeNone,
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
pub(super) fn enforce_warnings(d: &Domain, warnings: &mut Vec<Warning>) {
    if d.mode != Mode::Enforce || d.retire || d.accept_wildcard_mx {
        return;
    }
    let name = d.name.to_string();
    for wildcard in d.mx.iter().filter(|m| m.is_wildcard()) {
        warnings.push(Warning {
            domain: name.clone(),
            kind: WarningKind::WildcardEnforce,
            text: format!(
                "{name}: enforce policy with wildcard mx {wildcard}: any host with a valid certificate one label below it is accepted as an MX (RFC 8461 §10.4); if you mean it, set accept_wildcard_mx = true in its table to stop this warning"
            ),
            until: None,
        });
    }
}

/// `t` plus `secs` seconds; the last moment chrono can hold when that is past it (a lock date
/// edited to year 262142 must not panic a build).
pub fn after(t: DateTime<Utc>, secs: u32) -> DateTime<Utc> {
    t.checked_add_signed(TimeDelta::seconds(i64::from(secs)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A date and time for messages: `2025-11-28 00:00 UTC`.
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A `YYYYMMDDHHMMSS` id for `now`, strictly greater than a previous timestamp id. Past
/// 9999-12-31T23:59:59 no 14-digit id is greater: then it is `now`'s own, or the second before
/// when that is the previous id, so the id still changes and stays 14 digits.
pub fn next_id(previous: Option<&str>, now: DateTime<Utc>) -> String {
    let candidate = now.naive_utc();
    let previous = previous
        .filter(|p| p.len() == 14)
        .and_then(|p| NaiveDateTime::parse_from_str(p, ID_FORMAT).ok());
    let last = DateTime::from_timestamp(crate::clock::LATEST, 0).map(|t| t.naive_utc());
    let after_previous = previous.and_then(|p| p.checked_add_signed(TimeDelta::seconds(1)));
    let chosen = match after_previous {
        Some(min) if min > candidate && Some(min) <= last => min,
        Some(_) if previous == Some(candidate) => candidate
            .checked_sub_signed(TimeDelta::seconds(1))
            .unwrap_or(candidate),
        _ => candidate,
    };
    chosen.format(ID_FORMAT).to_string()
}
