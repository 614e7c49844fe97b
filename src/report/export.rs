//! `report --format csv` and `--format prometheus`: the summaries as rows for a spreadsheet or
//! a database, and as metrics for node_exporter's textfile collector.

// Counts come from reports anyone can send: no arithmetic here may wrap or panic.
#![deny(clippy::arithmetic_side_effects)]

use std::fmt::Write;

use super::DomainSummary;
use crate::metrics::{family, label};

/// A CSV field as a spreadsheet may read it safely: a leading `=`, `+`, `-` or `@` (MX names
/// come from reporters, and spreadsheets run such cells as formulas) gets a `'`; quoting is
/// the csv crate's.
fn field(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// Sessions per result type: `successful`, each failure type (over every MX), the failed
/// sessions the reports gave no details for, and `no-policy-found` separately.
fn results(s: &DomainSummary) -> Vec<(String, u64)> {
    let mut out = vec![("successful".to_string(), s.successful)];
    let mut listed: u64 = 0;
    for f in &s.failures {
        listed = listed.saturating_add(f.count);
        match out.iter_mut().find(|(r, _)| r == f.result_type.as_str()) {
            Some((_, n)) => *n = n.saturating_add(f.count),
            None => out.push((f.result_type.as_str().to_string(), f.count)),
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
    let mut rows: Vec<[String; 4]> = vec![[
        "domain".into(),
        "result".into(),
        "mx".into(),
        "sessions".into(),
    ]];
    for s in summaries {
        let d = field(&s.domain);
        rows.push([
            d.clone(),
            "successful".into(),
            String::new(),
            s.successful.to_string(),
        ]);
        for f in &s.failures {
            rows.push([
                d.clone(),
                field(f.result_type.as_str()),
                field(&f.mx),
                f.count.to_string(),
            ]);
        }
        if s.no_policy_sessions > 0 {
            rows.push([
                d.clone(),
                "no-policy-found".into(),
                String::new(),
                s.no_policy_sessions.to_string(),
            ]);
        }
    }
    crate::csv_rows::csv(rows)
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
        let row = |v: &str| crate::csv_rows::csv([[field(v), "1".to_string()]]);
        assert_eq!(row("mx.example.com"), "mx.example.com,1\n");
        assert_eq!(row("a,b"), "\"a,b\",1\n");
        assert_eq!(row("say \"hi\""), "\"say \"\"hi\"\"\",1\n");
        assert_eq!(row("line\nbreak"), "\"line\nbreak\",1\n");
        assert_eq!(row("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0,1\n");
    }
}
