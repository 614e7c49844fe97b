//! The per-domain summary of many reports: sessions, failures by type and MX, alarms when
//! senders do not see the policy, and the readiness verdict for `enforce`.

// Counts come from reports anyone can send: no arithmetic here may wrap or panic.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::{BTreeMap, BTreeSet};

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{PolicyResult, PolicyType, Report, ResultType};

/// One failure line of a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureSummary {
    /// Result type (`other` for unregistered ones).
    pub result_type: ResultType,
    /// Receiving MX.
    pub mx: String,
    /// Failed sessions.
    pub count: u64,
    /// Share of all sessions of the domain, in percent.
    pub percent: f64,
    /// First day it was reported.
    pub since: NaiveDate,
    /// Whether it was reported under an `sts` policy (it blocks `enforce`).
    pub sts: bool,
}

/// Everything the reports say about one policy domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainSummary {
    /// The policy domain.
    pub domain: String,
    /// First covered moment.
    pub from: DateTime<Utc>,
    /// Last covered moment.
    pub to: DateTime<Utc>,
    /// Distinct UTC days on which reports start: a report counts for one day, however long a
    /// range it claims (RFC 8460 §4.1 reports cover one day), so one forged 30-day report cannot
    /// stand in for 14 days of reports.
    pub days: usize,
    /// Reporting organisations.
    pub organizations: BTreeSet<String>,
    /// Reports counted (after de-duplication).
    pub reports: usize,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
    /// Failures by result type and MX.
    pub failures: Vec<FailureSummary>,
    /// Distinct STS policies the reporters applied, each as its lines.
    pub policies_seen: Vec<Vec<String>>,
    /// Sessions reported under `no-policy-found`: those senders did not see an MTA-STS policy.
    pub no_policy_sessions: u64,
    /// The organisations that reported them.
    pub no_policy_organizations: BTreeSet<String>,
    /// Reports (`organization report-id`) whose failure details add up to more than their
    /// summary; their details were scaled down to the summary's count.
    pub overcounted: Vec<String>,
}

/// Failed sessions and first day, by (result type, MX, under an STS policy).
type FailureTally = BTreeMap<(ResultType, String, bool), (u64, NaiveDate)>;

/// What is summed per domain beside its summary: the days, the failures, and the sets that
/// keep `policies_seen` and `overcounted` distinct without searching them.
#[derive(Default)]
struct Tally {
    days: BTreeSet<NaiveDate>,
    failures: FailureTally,
    policies: HashSet<Vec<String>>,
    overcounted: HashSet<String>,
}

/// Sums reports per policy domain; duplicates (same organisation and report-id) count once.
pub fn summarise(reports: &[Report]) -> Vec<DomainSummary> {
    let mut sums = Summaries::default();
    for r in reports {
        sums.add(r);
    }
    sums.finish()
}

/// Summaries being summed, a report at a time: what a report adds is kept, the report is not,
/// so that reports can stream through (only the identities of those counted stay, for
/// de-duplication).
#[derive(Default)]
pub struct Summaries {
    seen: BTreeSet<(String, String)>,
    by_domain: BTreeMap<String, (DomainSummary, Tally)>,
}

impl Summaries {
    /// Counts `r` unless a report with its organisation and report-id was counted already.
    pub fn add(&mut self, r: &Report) {
        let (seen, by_domain) = (&mut self.seen, &mut self.by_domain);
        if !r.report_id.is_empty() && !seen.insert((r.organization.clone(), r.report_id.clone())) {
            return;
        }
        let mut counted = BTreeSet::new();
        for p in &r.policies {
            let Some(domain) = &p.domain else { continue };
            let (s, tally) = by_domain.entry(domain.clone()).or_insert_with(|| {
                (
                    DomainSummary {
                        domain: domain.clone(),
                        from: r.start,
                        to: r.end,
                        days: 0,
                        organizations: BTreeSet::new(),
                        reports: 0,
                        successful: 0,
                        failed: 0,
                        failures: Vec::new(),
                        policies_seen: Vec::new(),
                        no_policy_sessions: 0,
                        no_policy_organizations: BTreeSet::new(),
                        overcounted: Vec::new(),
                    },
                    Tally::default(),
                )
            });
            if counted.insert(domain.clone()) {
                s.reports = s.reports.saturating_add(1);
                s.from = s.from.min(r.start);
                s.to = s.to.max(r.end);
                s.organizations.insert(r.organization.clone());
                // Aggregated by start day (REP-08: ranges end at 23:59:59 or at the next
                // midnight).
                tally.days.insert(r.start.date_naive());
            }
            // Counts are capped at 2^53 by the parser; sums saturate rather than wrap, so no
            // number of reports can turn failures into a small count.
            s.successful = s.successful.saturating_add(p.successful);
            s.failed = s.failed.saturating_add(p.failed);
            if p.policy_type == PolicyType::Sts
                && !p.policy_string.is_empty()
                && tally.policies.insert(p.policy_string.clone())
            {
                s.policies_seen.push(p.policy_string.clone());
            }
            if p.policy_type == PolicyType::NoPolicyFound {
                s.no_policy_sessions = s
                    .no_policy_sessions
                    .saturating_add(p.successful.saturating_add(p.failed));
                s.no_policy_organizations.insert(r.organization.clone());
            }
            let counts = by_summary(p);
            if counts.is_some() {
                let name = format!("{} {}", r.organization, r.report_id);
                if tally.overcounted.insert(name.clone()) {
                    s.overcounted.push(name);
                }
            }
            for (i, f) in p.failures.iter().enumerate() {
                let e = tally
                    .failures
                    .entry((
                        f.result_type,
                        f.mx.clone(),
                        p.policy_type == PolicyType::Sts,
                    ))
                    .or_insert((0, r.start.date_naive()));
                e.0 =
                    e.0.saturating_add(counts.as_ref().map_or(f.count, |c| c[i]));
                e.1 = e.1.min(r.start.date_naive());
            }
        }
    }

    /// The summaries, by domain.
    pub fn finish(self) -> Vec<DomainSummary> {
        self.by_domain
            .into_values()
            .map(|(mut s, tally)| {
                s.days = tally.days.len();
                let total = s.successful.saturating_add(s.failed).max(1) as f64;
                s.failures = tally
                    .failures
                    .into_iter()
                    .map(|((result_type, mx, sts), (count, since))| FailureSummary {
                        result_type,
                        mx,
                        count,
                        percent: (count as f64 * 1000.0 / total).round() / 10.0,
                        since,
                        sts,
                    })
                    .collect();
                s.failures.sort_by(|a, b| {
                    b.count
                        .cmp(&a.count)
                        .then(a.result_type.as_str().cmp(b.result_type.as_str()))
                });
                s
            })
            .collect()
    }
}

/// When a policy's failure details add up to more than its summary's failed count, the details
/// scaled down to the summary (largest remainders first), so that no share exceeds the whole.
fn by_summary(p: &PolicyResult) -> Option<Vec<u64>> {
    let listed: u128 = p.failures.iter().map(|f| u128::from(f.count)).sum();
    let total = u128::from(p.failed);
    if listed <= total {
        return None;
    }
    let mut counts: Vec<(u64, u128, usize)> = p
        .failures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // listed > total >= 0, so the divisions are by a positive number.
            let exact = u128::from(f.count).saturating_mul(total);
            let share = exact.checked_div(listed).unwrap_or_default();
            let rest = exact.checked_rem(listed).unwrap_or_default();
            (u64::try_from(share).unwrap_or(u64::MAX), rest, i)
        })
        .collect();
    // The shares are each at most their exact fraction of `failed`, so their sum is too.
    let shared = counts.iter().fold(0u64, |sum, c| sum.saturating_add(c.0));
    let mut left = p.failed.saturating_sub(shared);
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    for c in &mut counts {
        if left == 0 {
            break;
        }
        c.0 = c.0.saturating_add(1);
        left = left.saturating_sub(1);
    }
    counts.sort_by_key(|c| c.2);
    Some(counts.into_iter().map(|c| c.0).collect())
}

/// What says that senders do not get the published policy, whatever the success count: sessions
/// reported under `no-policy-found`, or failures fetching or validating the policy.
pub fn alarms(s: &DomainSummary, mode: crate::model::Mode) -> Vec<String> {
    if mode == crate::model::Mode::None {
        return Vec::new();
    }
    let mut out = Vec::new();
    if s.no_policy_sessions > 0 {
        out.push(format!(
            "{} session(s) reported as no-policy-found by {}: those senders do not see the published {mode} policy (check the _mta-sts TXT record and the policy host with `mtasts check`)",
            s.no_policy_sessions,
            s.no_policy_organizations
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for f in s
        .failures
        .iter()
        .filter(|f| f.result_type.policy_not_seen())
    {
        out.push(format!(
            "{} at {}: {} session(s) ({}%) since {}: senders could not get a valid policy",
            f.result_type, f.mx, f.count, f.percent, f.since
        ));
    }
    out
}

/// Whether a `testing` domain may move to `enforce`, or what blocks it; `None` for other modes.
pub fn readiness(
    s: &DomainSummary,
    mode: crate::model::Mode,
    days_needed: usize,
) -> (Option<bool>, Vec<String>) {
    use crate::model::Mode;
    let sts: Vec<&FailureSummary> = s.failures.iter().filter(|f| f.sts).collect();
    let describe = |f: &&FailureSummary| {
        format!(
            "{} at {}: {} session(s) ({}%) since {}",
            f.result_type, f.mx, f.count, f.percent, f.since
        )
    };
    match mode {
        Mode::Testing => {
            let mut blocks = Vec::new();
            if s.days < days_needed {
                blocks.push(format!(
                    "the reports cover {} of the {days_needed} days needed",
                    s.days
                ));
            }
            if s.successful == 0 {
                blocks.push("no successful session was reported".into());
            }
            blocks.extend(alarms(s, mode));
            blocks.extend(
                sts.iter()
                    .filter(|f| !f.result_type.policy_not_seen())
                    .map(|f| format!("STS failure: {}", describe(f))),
            );
            (Some(blocks.is_empty()), blocks)
        }
        Mode::Enforce => (
            None,
            sts.iter()
                .map(|f| format!("regression under enforce: {}", describe(f)))
                .collect(),
        ),
        Mode::None => (None, Vec::new()),
    }
}
