//! `check --format prometheus`: the text exposition format, for node_exporter's textfile
//! collector. One series per domain, host or MX address (hosts shared by many domains appear
//! once), so that the file stays valid however the fleet's domains overlap.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Checked, Status};
use crate::metrics::{family, label};

/// What a run that could not judge the domains (invalid config, resolver down) prints, so that a
/// textfile collector sees the failure instead of keeping the last good file.
pub const RUN_FAILED: &str = "# HELP mtasts_check_run_success Whether the check could run and judge every domain (1) or not (0).\n# TYPE mtasts_check_run_success gauge\nmtasts_check_run_success 0\n";

/// The exposition of `results`, checked at `now` (seconds since 1970).
pub fn render(results: &[Checked], now: i64) -> String {
    let mut out = String::new();
    domains(&mut out, results);
    hosts(&mut out, results);
    family(
        &mut out,
        "mtasts_check_timestamp_seconds",
        "gauge",
        "When this check ran.",
    );
    let _ = writeln!(out, "mtasts_check_timestamp_seconds {now}");
    out
}

/// The run's success and the per-domain families: verdicts, counts, failed checks, live ids.
fn domains(out: &mut String, results: &[Checked]) {
    family(
        out,
        "mtasts_check_run_success",
        "gauge",
        "Whether the check could run and judge every domain (1) or not (0).",
    );
    let _ = writeln!(out, "mtasts_check_run_success 1");
    family(
        out,
        "mtasts_check_ok",
        "gauge",
        "Whether every check of the domain passed (1) or one failed (0).",
    );
    for r in results {
        let failed = r.lines.iter().any(|l| l.status == Status::Fail);
        let _ = writeln!(
            out,
            "mtasts_check_ok{{domain=\"{}\"}} {}",
            label(&r.domain),
            u8::from(!failed)
        );
    }
    for (name, status, help) in [
        (
            "mtasts_check_failures",
            Status::Fail,
            "Checks of the domain that failed.",
        ),
        (
            "mtasts_check_warnings",
            Status::Warn,
            "Checks of the domain that warned.",
        ),
    ] {
        family(out, name, "gauge", help);
        for r in results {
            let n = r.lines.iter().filter(|l| l.status == status).count();
            let _ = writeln!(out, "{name}{{domain=\"{}\"}} {n}", label(&r.domain));
        }
    }
    family(
        out,
        "mtasts_check_failed",
        "gauge",
        "1 for each check of the domain that failed, by check (txt, policy-host, https, certificate, policy, deploy, mx-coverage, smtp, dane, tlsrpt, build).",
    );
    for r in results {
        let failed: std::collections::BTreeSet<&str> = r
            .lines
            .iter()
            .filter(|l| l.status == Status::Fail)
            .map(|l| l.check.metric())
            .collect();
        for check in failed {
            let _ = writeln!(
                out,
                "mtasts_check_failed{{domain=\"{}\",check=\"{check}\"}} 1",
                label(&r.domain)
            );
        }
    }
    family(
        out,
        "mtasts_policy_id_info",
        "gauge",
        "The policy id the domain publishes in DNS (always 1).",
    );
    for r in results {
        if let Some(id) = &r.live_id {
            let _ = writeln!(
                out,
                "mtasts_policy_id_info{{domain=\"{}\",id=\"{}\"}} 1",
                label(&r.domain),
                label(id)
            );
        }
    }
}

/// The per-host families: certificate expiry (policy and MX hosts) and MX probes.
fn hosts(out: &mut String, results: &[Checked]) {
    let mut expiry: BTreeMap<&str, i64> = BTreeMap::new();
    for (host, not_after) in results.iter().flat_map(|r| &r.expiries) {
        let e = expiry.entry(host).or_insert(*not_after);
        *e = (*e).min(*not_after);
    }
    family(
        out,
        "mtasts_certificate_expiry_timestamp_seconds",
        "gauge",
        "End of validity of the certificate a policy or MX host presents (the earliest of its addresses).",
    );
    for (host, not_after) in expiry {
        let _ = writeln!(
            out,
            "mtasts_certificate_expiry_timestamp_seconds{{host=\"{}\"}} {not_after}",
            label(host)
        );
    }
    let probes: BTreeMap<(&str, &str), bool> = results
        .iter()
        .flat_map(|r| &r.mx)
        .map(|m| {
            (
                (m.host.as_str(), m.address.as_str()),
                m.status != super::MxStatus::Fail,
            )
        })
        .collect();
    family(
        out,
        "mtasts_smtp_probe_ok",
        "gauge",
        "Whether the MX host at the address passed the STARTTLS probe.",
    );
    for ((host, address), ok) in probes {
        let _ = writeln!(
            out,
            "mtasts_smtp_probe_ok{{host=\"{}\",address=\"{}\"}} {}",
            label(host),
            label(address),
            u8::from(ok)
        );
    }
    // A host with TLSA records is DANE-ok when DNSSEC validated them and every address
    // presented a certificate one of them matches.
    let mut dane: BTreeMap<&str, bool> = BTreeMap::new();
    for m in results.iter().flat_map(|r| &r.mx) {
        if let Some(d) = &m.dane {
            let ok = d.secure && d.matched.is_some();
            *dane.entry(m.host.as_str()).or_insert(ok) &= ok;
        }
    }
    if !dane.is_empty() {
        family(
            out,
            "mtasts_dane_ok",
            "gauge",
            "Whether the MX host's DNSSEC-validated TLSA records match the certificate every address presents.",
        );
        for (host, ok) in dane {
            let _ = writeln!(
                out,
                "mtasts_dane_ok{{host=\"{}\"}} {}",
                label(host),
                u8::from(ok)
            );
        }
    }
}
