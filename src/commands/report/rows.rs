//! The rows `report` prints: one per domain, its verdict and alarms, in text, JSON, CSV or
//! Prometheus.

use serde_json::json;

use super::Ui;
use crate::cli::ReportFormat;
use crate::model::{Config, Mode};
use crate::policy::Policy;
use crate::report::{self, DomainSummary};
use crate::ui::printable;

/// How many reports were judged, and with a store how many were read and how many were new.
pub(super) struct Counts {
    pub(super) judged: usize,
    pub(super) stored: Option<(usize, usize)>,
}

/// Prints the summary in the format asked for.
pub(super) fn print(
    format: ReportFormat,
    summaries: &[DomainSummary],
    rows: &[Row<'_>],
    counts: Counts,
    skipped: &[(String, String)],
    ui: &mut dyn Ui,
) {
    match format {
        ReportFormat::Csv => {
            let text = report::export::csv(summaries);
            ui.out(text.trim_end());
        }
        ReportFormat::Prometheus => {
            let verdicts: Vec<_> = rows
                .iter()
                .map(|r| (r.ready, !r.alarms.is_empty()))
                .collect();
            let text = report::export::prometheus(summaries, &verdicts);
            ui.out(text.trim_end());
        }
        ReportFormat::Json => {
            let domains: Vec<_> = rows.iter().map(Row::json).collect();
            let skipped: Vec<_> = skipped
                .iter()
                .map(|(p, r)| json!({"path": p, "reason": r}))
                .collect();
            let mut doc = json!({"reports": counts.judged, "domains": domains, "skipped": skipped});
            if let Some((read, new)) = counts.stored {
                doc["read"] = json!(read);
                doc["stored"] = json!(new);
            }
            ui.out(&serde_json::to_string_pretty(&doc).expect("summary serialises"));
        }
        ReportFormat::Text => {
            for (path, reason) in skipped {
                ui.warn(&format!(
                    "skipped {}: {}",
                    printable(path),
                    printable(reason)
                ));
            }
            match counts.stored {
                Some((read, new)) => ui.out(&format!(
                    "{read} report(s) read ({new} new, stored), {} skipped; judged on {} stored report(s)",
                    skipped.len(),
                    counts.judged
                )),
                None => ui.out(&format!(
                    "{} report(s) read, {} skipped",
                    counts.judged,
                    skipped.len()
                )),
            }
            for row in rows {
                row.text(ui);
            }
        }
    }
}

/// An alias publishes its primary's policy (RFC 8461 §8.2), so what its reports say against
/// that policy (alarms, STS failures) blocks the primary's move to enforce too, named there.
pub(super) fn aliases_count_for_primaries(rows: &mut [Row<'_>], config: Option<&Config>) {
    let Some(config) = config else { return };
    let mut inherited: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows.iter() {
        let Some(primary) = config
            .domains
            .iter()
            .find(|d| d.name.as_str() == row.s.domain)
            .and_then(|d| d.delegate_to.as_ref())
        else {
            continue;
        };
        let blockers: Vec<String> = row
            .alarms
            .iter()
            .chain(row.reasons.iter().filter(|r| r.starts_with("STS failure")))
            .map(|b| format!("alias {}: {b}", row.s.domain))
            .collect();
        if !blockers.is_empty() {
            inherited.push((primary.to_string(), blockers));
        }
    }
    for (primary, blockers) in inherited {
        if let Some(row) = rows.iter_mut().find(|r| r.s.domain == primary) {
            if row.ready.is_some() {
                row.ready = Some(false);
            }
            row.reasons.extend(blockers);
        }
    }
}

/// One domain's summary with its verdict against the config.
pub(super) struct Row<'a> {
    s: &'a DomainSummary,
    mode: Option<Mode>,
    ready: Option<bool>,
    reasons: Vec<String>,
    /// Why senders do not get the published policy, whatever the success count.
    pub(super) alarms: Vec<String>,
    policy_matches: Option<bool>,
}

impl<'a> Row<'a> {
    pub(super) fn new(s: &'a DomainSummary, config: Option<&Config>, days: usize) -> Row<'a> {
        let domain = config.and_then(|c| c.domains.iter().find(|d| d.name.as_str() == s.domain));
        let mode = domain.map(|d| if d.retire { Mode::None } else { d.mode });
        let (ready, reasons) = mode.map_or((None, Vec::new()), |m| report::readiness(s, m, days));
        let alarms = mode.map_or(Vec::new(), |m| report::alarms(s, m));
        let policy_matches = domain.filter(|_| !s.policies_seen.is_empty()).map(|d| {
            let ours: Vec<String> = Policy::new(d.mode, &d.mx, d.max_age)
                .render()
                .lines()
                .map(str::to_string)
                .collect();
            s.policies_seen.iter().any(|seen| lines_equal(seen, &ours))
        });
        Row {
            s,
            mode,
            ready,
            reasons,
            alarms,
            policy_matches,
        }
    }

    fn json(&self) -> serde_json::Value {
        let s = self.s;
        json!({
            "domain": s.domain,
            "mode": self.mode.map(|m| m.as_str()),
            "from": s.from,
            "to": s.to,
            "days": s.days,
            "reports": s.reports,
            "organizations": s.organizations,
            "successful": s.successful,
            "failed": s.failed,
            "failures": s.failures,
            "policies_seen": s.policies_seen,
            "policy_matches": self.policy_matches,
            "ready_for_enforce": self.ready,
            "reasons": self.reasons,
            "alarms": self.alarms,
            "no_policy_sessions": s.no_policy_sessions,
            "overcounted": s.overcounted,
        })
    }

    fn text(&self, ui: &mut dyn Ui) {
        let mut lines = Vec::new();
        self.lines(&mut lines);
        for line in lines {
            ui.out(&printable(&line));
        }
    }

    /// The text lines of the row, unescaped (names in them come from reporters).
    fn lines(&self, out: &mut Vec<String>) {
        let s = self.s;
        let mode = self
            .mode
            .map_or("not in the config".to_string(), |m| m.to_string());
        out.push(format!(
            "{} ({mode}): {} .. {}, {} day(s), {} report(s) from {}",
            s.domain,
            s.from.format("%Y-%m-%d"),
            s.to.format("%Y-%m-%d"),
            s.days,
            s.reports,
            s.organizations
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let total = s.successful.saturating_add(s.failed).max(1) as f64;
        out.push(format!(
            "  sessions: {} successful, {} failed ({:.1}%)",
            s.successful,
            s.failed,
            s.failed as f64 * 100.0 / total
        ));
        for f in &s.failures {
            out.push(format!(
                "  failure: {} at {}: {} ({}%) since {}{}",
                f.result_type,
                f.mx,
                f.count,
                f.percent,
                f.since,
                if f.sts {
                    ""
                } else {
                    " (not under our STS policy)"
                }
            ));
        }
        for alarm in &self.alarms {
            out.push(format!("  ALARM: {alarm}"));
        }
        if !s.overcounted.is_empty() {
            out.push(format!(
                "  note: {} report(s) list more failed sessions in their details than in their summary, counted by the summary: {}",
                s.overcounted.len(),
                s.overcounted.join(", ")
            ));
        }
        match self.policy_matches {
            Some(true) => out.push("  policy seen by reporters: the one published now".into()),
            Some(false) => out.push(format!(
                "  policy seen by reporters: differs from the one published now ({})",
                s.policies_seen
                    .iter()
                    .map(|p| p.join("; "))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )),
            None => {}
        }
        match (self.ready, self.mode) {
            (Some(true), _) => out.push("  verdict: ready for enforce".into()),
            (Some(false), _) => out.push(format!(
                "  verdict: not ready for enforce: {}",
                self.reasons.join("; ")
            )),
            (None, Some(Mode::Enforce)) if !self.reasons.is_empty() => {
                for r in &self.reasons {
                    out.push(format!("  warning: {r}"));
                }
            }
            _ => {}
        }
    }
}

/// Policy lines compared as senders would: keys and values, whitespace around them ignored.
fn lines_equal(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut l: Vec<String> = v
            .iter()
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        l.sort();
        l
    };
    norm(a) == norm(b)
}
