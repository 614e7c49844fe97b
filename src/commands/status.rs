//! `mtasts status`: what is published per domain (from the lock), its lifecycle stage, the next
//! date that matters, and pending warnings; also whether the config has changed since the build.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Paths, Ui};
use crate::cli::{Format, StatusArgs};
use crate::error::Error;
use crate::lock::{Entry, Stage};
use crate::plan::{self, day};
use crate::project::Project;

#[derive(Serialize)]
struct Row {
    domain: String,
    mode: Option<String>,
    id: Option<String>,
    stage: String,
    next: Option<DateTime<Utc>>,
    next_reason: Option<String>,
    built: bool,
    warnings: Vec<String>,
    /// Where an MX move (`mx_leaving`) stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    mx_move: Option<String>,
}

/// Prints one row per domain in the config or the lock.
pub(crate) fn run(ctx: &Paths, args: &StatusArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let Project {
        lock, plan, now, ..
    } = Project::load(ctx, ui)?;
    let mut names: Vec<String> = lock.domains.keys().cloned().collect();
    names.extend(plan.domains.iter().map(|d| d.domain.name.to_string()));
    names.sort();
    names.dedup();
    let rows: Vec<Row> = names
        .iter()
        .map(|name| row(name, lock.domains.get(name), &plan, now))
        .collect();
    let dane: Vec<DaneRow> = plan.dane.hosts.iter().map(|h| dane_row(h, &plan)).collect();
    match args.format {
        Format::Json => {
            let mut doc = serde_json::json!({ "domains": rows });
            if !dane.is_empty() {
                doc["dane"] = serde_json::to_value(&dane).expect("status serialises");
            }
            ui.out(&serde_json::to_string_pretty(&doc).expect("status serialises"));
        }
        Format::Text => {
            text(&rows, ui);
            dane_text(&dane, ui);
        }
    }
    Ok(())
}

/// Where one `[dane]` MX host's rollover stands.
#[derive(Serialize)]
struct DaneRow {
    host: String,
    zone: String,
    /// TLSA parameters and SHA-256 of the key the certificate in use has.
    live: String,
    /// The same of the pre-published next key.
    next: Option<String>,
    /// From when the certificate may switch to the next key (its record seen by every cache).
    switch_safe_from: Option<DateTime<Utc>>,
    /// Keys no longer in use, and until when their records stay published.
    leaving: Vec<(String, DateTime<Utc>)>,
    /// Whether the lock already holds this (else the next build changes the records).
    built: bool,
    warnings: Vec<String>,
}

fn dane_row(h: &crate::dane::HostPlan, plan: &plan::Plan) -> DaneRow {
    let tlsa = |k: &crate::lock::DaneKey| format!("{} {}", k.tlsa, k.sha256);
    DaneRow {
        host: h.host.clone(),
        zone: h.zone.clone(),
        live: tlsa(h.live()),
        next: h.next().map(tlsa),
        switch_safe_from: h.next().map(|k| h.safe_from(k)),
        leaving: h
            .keys
            .iter()
            .filter_map(|k| Some((tlsa(k), k.retired? + h.hold())))
            .collect(),
        built: !plan.dane.changed,
        warnings: plan
            .dane
            .warnings
            .iter()
            .filter(|w| w.domain == h.host)
            .map(|w| w.text.clone())
            .collect(),
    }
}

fn dane_text(rows: &[DaneRow], ui: &mut dyn Ui) {
    for r in rows {
        ui.out(&format!(
            "DANE {} (zone {}){}",
            r.host,
            r.zone,
            if r.built {
                ""
            } else {
                "  [not built: run mtasts build]"
            }
        ));
        ui.out(&format!("    live  {}", r.live));
        match (&r.next, r.switch_safe_from) {
            (Some(next), Some(from)) => ui.out(&format!(
                "    next  {next}  (switching safe from {})",
                from.format("%Y-%m-%d %H:%M UTC")
            )),
            _ => ui.out("    next  - (none: set next_key)"),
        }
        for (k, until) in &r.leaving {
            ui.out(&format!(
                "    leaving  {k}  (published until {})",
                until.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        for w in &r.warnings {
            ui.out(&format!("    ! {w}"));
        }
    }
}

fn row(name: &str, entry: Option<&Entry>, plan: &plan::Plan, now: DateTime<Utc>) -> Row {
    let built = plan.built(name) && plan.refusals.iter().all(|r| r.domain != name);
    let mut warnings: Vec<String> = entry
        .map(|e| {
            e.notices
                .iter()
                .filter(|n| n.until > now)
                .map(|n| n.text.to_string())
                .collect()
        })
        .unwrap_or_default();
    warnings.extend(
        plan.refusals
            .iter()
            .filter(|r| r.domain == name)
            .map(|r| r.to_string()),
    );
    if plan.due.iter().any(|d| d == name) {
        warnings.push(plan::Plan::due_message(name));
    }
    if !built && entry.is_some() {
        warnings.push(format!(
            "{name}: the config changed since the last build; run `mtasts build`"
        ));
    }
    let (next, next_reason) = entry.map_or((None, None), |e| next_date(e, now));
    let mx_move = plan
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == name)
        .and_then(|d| mx_move(&d.domain, entry, now));
    Row {
        domain: name.to_string(),
        mode: entry.map(|e| e.mode.to_string()),
        id: entry.map(|e| e.id.to_string()),
        stage: entry.map_or("not built", |e| e.stage.as_str()).to_string(),
        next,
        next_reason,
        built,
        warnings,
        mx_move,
    }
}

/// Where the MX move of `d` (its `mx_leaving`) stands, as `plan-mx` would say it.
fn mx_move(d: &crate::model::Domain, entry: Option<&Entry>, now: DateTime<Utc>) -> Option<String> {
    use crate::plan::mx_move::{Move, Stage, stage};
    if d.mx_leaving.is_empty() {
        return None;
    }
    let add: Vec<_> =
        d.mx.iter()
            .filter(|m| !d.mx_leaving.contains(m))
            .cloned()
            .collect();
    let leaving: Vec<String> = d.mx_leaving.iter().map(ToString::to_string).collect();
    let m = Move {
        published: entry,
        add: &add,
        remove: &d.mx_leaving,
        ttl: d.ttl,
    };
    Some(match stage(&m, now) {
        Stage::PublishBoth { .. } => {
            "MX move: build to publish the old and new hosts together".into()
        }
        Stage::WaitToSwitch { switch_from } => format!(
            "MX move: the DNS MX may switch from {}; {} leave after that",
            day(switch_from),
            leaving.join(", ")
        ),
        Stage::Switch { since, .. } => format!(
            "MX move: the DNS MX may switch now (since {}); once it has and its TTL passed, remove {} from mx and mx_leaving",
            day(since),
            leaving.join(", ")
        ),
        Stage::Done => "MX move: done; remove mx_leaving".into(),
    })
}

/// The next moment something changes for this domain, and what.
fn next_date(e: &Entry, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<String>) {
    if e.stage == Stage::Retiring {
        return (e.remove_after, Some("retirement completes".into()));
    }
    let sts_cached = e
        .sts_ended
        .map(|t| crate::plan::after(t, e.max_age_high))
        .filter(|t| *t > now && e.stage == Stage::Active);
    let notice = e
        .notices
        .iter()
        .filter(|n| n.until > now)
        .map(|n| n.until)
        .min();
    match (notice, sts_cached) {
        (Some(n), _) => (
            Some(n),
            Some("an older policy may be cached until then".into()),
        ),
        (None, Some(t)) => (
            Some(t),
            Some("a testing/enforce policy may be cached until then".into()),
        ),
        (None, None) => (None, None),
    }
}

fn text(rows: &[Row], ui: &mut dyn Ui) {
    let width = rows.iter().map(|r| r.domain.len()).max().unwrap_or(0);
    for r in rows {
        let next = match (&r.next, &r.next_reason) {
            (Some(t), Some(why)) => format!("  next: {} ({why})", day(*t)),
            _ => String::new(),
        };
        let line = format!(
            "{:width$}  {:7}  {:14}  {:9}{next}",
            r.domain,
            r.mode.as_deref().unwrap_or("-"),
            r.id.as_deref().unwrap_or("-"),
            r.stage,
        );
        ui.out(line.trim_end());
        for w in &r.warnings {
            ui.out(&format!("    ! {w}"));
        }
        if let Some(m) = &r.mx_move {
            ui.out(&format!("    > {m}"));
        }
    }
}
