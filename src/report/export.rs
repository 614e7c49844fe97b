//! `report --format csv` and `--format prometheus`: the summaries as rows for a spreadsheet or
//! a database, and as metrics for node_exporter's textfile collector.

// Counts come from reports anyone can send: no arithmetic here may wrap or panic.
#![deny(clippy::arithmetic_side_effects)]

use std::fmt::Write;

use super::DomainSummary;
use crate::metrics::{family, label};

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` (MX names come from reporters, and spreadsheets run such cells as formulas) gets a `'`.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Sessions per result type: `successful`, each failure type (over every MX), the failed
/// sessions the reports gave no details for, and `no-policy-found` separately.
fn results(s: &DomainSummary) -> Vec<(String, u64)> {
    let mut out = vec![("successful".to_string(), s.successful)];
    let mut listed: u64 = 0;
    for f in &s.failures {
        listed = listed.saturating_add(f.count);
        match out.iter_mut().find(|(r, _)| *r == f.result_type) {
            Some((_, n)) => *n = n.saturating_add(f.count),
            None => out.push((f.result_type.clone(), f.count)),
        }
    }
    let undetailed = s.failed.saturating_sub(listed);
    if undetailed > 0 {
        out.push(("failed-without-details".to_string(), undetailed));
    }
    out
}

/// `domain,result,mx,sessions`: per domain its successful sessions, then one row per failure
/// type and MX, and the `no-policy-found` sessions.
pub fn csv(summaries: &[DomainSummary]) -> String {
    let mut out = String::from("domain,result,mx,sessions\n");
    for s in summaries {
        let d = field(&s.domain);
        let _ = writeln!(out, "{d},successful,,{}", s.successful);
        for f in &s.failures {
            let _ = writeln!(
                out,
                "{d},{},{},{}",
                field(&f.result_type),
                field(&f.mx),
                f.count
            );
        }
        if s.no_policy_sessions > 0 {
            let _ = writeln!(out, "{d},no-policy-found,,{}", s.no_policy_sessions);
        }
    }
    out
}

/// The exposition; `verdicts` per summary: ready for enforce (testing domains) and whether an
/// alarm was raised.
pub fn prometheus(summaries: &[DomainSummary], verdicts: &[(Option<bool>, bool)]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "mtasts_tlsrpt_sessions",
        "gauge",
        "Sessions the TLS reports read in this run count, by result (a sum over the inputs given, so a gauge).",
    );
    for s in summaries {
        for (result, n) in results(s) {
            let _ = writeln!(
                out,
                "mtasts_tlsrpt_sessions{{domain=\"{}\",result=\"{}\"}} {n}",
                label(&s.domain),
                label(&result)
            );
        }
    }
    family(
        &mut out,
        "mtasts_tlsrpt_no_policy_sessions",
        "gauge",
        "Sessions whose sender saw no MTA-STS policy.",
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "mtasts_tlsrpt_no_policy_sessions{{domain=\"{}\"}} {}",
            label(&s.domain),
            s.no_policy_sessions
        );
    }
    family(
        &mut out,
        "mtasts_tlsrpt_alarm",
        "gauge",
        "Whether the reports say senders do not get the published policy.",
    );
    for (s, (_, alarm)) in summaries.iter().zip(verdicts) {
        let _ = writeln!(
            out,
            "mtasts_tlsrpt_alarm{{domain=\"{}\"}} {}",
            label(&s.domain),
            u8::from(*alarm)
        );
    }
    family(
        &mut out,
        "mtasts_tlsrpt_ready_for_enforce",
        "gauge",
        "Whether a testing domain may move to enforce.",
    );
    for (s, (ready, _)) in summaries.iter().zip(verdicts) {
        if let Some(ready) = ready {
            let _ = writeln!(
                out,
                "mtasts_tlsrpt_ready_for_enforce{{domain=\"{}\"}} {}",
                label(&s.domain),
                u8::from(*ready)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("mx.example.com"), "mx.example.com");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
    }
}
