//! Judging planted live states against the plan.

use super::*;
use crate::clock::from_epoch;
use crate::lock::Lock;
use crate::probe::{Certificate, Distrust, Fault, Probe, Seen};
use crate::records;
use host::plain_text;

fn planned(text: &str) -> (DomainPlan, Entry) {
    let (config, problems) = crate::config::parse(text);
    let config = config.unwrap_or_else(|| panic!("{problems:?}"));
    let p = crate::plan::plan(
        config.domains,
        &Lock::new(),
        from_epoch("1764288000").unwrap(),
        &[],
    );
    let d = p.domains[0].clone();
    let e = p.lock.domains[d.domain.name.as_str()].clone();
    (d, e)
}

const CONFIG: &str = "[domains.\"example.com\"]\nmode = \"enforce\"\nmx = [\"mx1.example.com\", \"*.mx.example.com\"]\npolicy_cname = \"web.example.net\"\ntlsrpt_rua = [\"mailto:tls@example.com\"]\n";

fn healthy(d: &DomainPlan, e: &Entry) -> Live {
    Live {
        sts_txt: Ok(vec![
            records::sts_value(&e.id),
            "google-site-verification=x".into(),
        ]),
        host_cname: Ok(Some("web.example.net".into())),
        host_addrs: Ok(vec!["192.0.2.1".parse().unwrap()]),
        https: Ok(Response {
            status: 200,
            content_type: Some("text/plain; charset=utf-8".into()),
            location: None,
            body: d.policy().as_bytes().to_vec(),
            too_large: false,
            chain: Vec::new(),
        }),
        mx: Ok(vec!["mx1.example.com".into(), "a.mx.example.com".into()]),
        tlsrpt_txt: Ok(vec!["v=TLSRPTv1; rua=mailto:tls@example.com".into()]),
        certificate: None,
        per_address: Vec::new(),
    }
}

#[test]
fn every_address_of_the_policy_host_must_serve_the_same_valid_policy() {
    let (d, e) = planned(CONFIG);
    let mut live = healthy(&d, &e);
    let good = live.https.clone();
    let ips: Vec<std::net::IpAddr> =
        vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    live.host_addrs = Ok(ips.clone());
    live.per_address = vec![(ips[0], good.clone()), (ips[1], good.clone())];
    let lines = judge_dns(&d, Some(&e), true, &live);
    assert!(
        lines
            .iter()
            .any(|l| l.status == Status::Ok && l.detail.contains("(2) serves the same policy")),
        "{lines:#?}"
    );
    let mut stale = good.clone().unwrap();
    stale.body = stale.body.to_vec();
    let text = String::from_utf8(stale.body.clone())
        .unwrap()
        .replace("enforce", "testing");
    stale.body = text.into_bytes();
    live.per_address[1] = (ips[1], Ok(stale));
    let fail = failing(&judge_dns(&d, Some(&e), true, &live), "https").clone();
    assert!(
        fail.detail
            .contains("2001:db8::1: serves other bytes than the other addresses"),
        "{fail:#?}"
    );
    live.per_address[1] = (
        ips[1],
        Err(crate::fetch::FetchError::Failed(
            "connection refused".into(),
        )),
    );
    let fail = failing(&judge_dns(&d, Some(&e), true, &live), "https").clone();
    assert!(
        fail.detail.contains("2001:db8::1: connection refused"),
        "{fail:#?}"
    );
}

/// 2025-11-28, the plan's clock.
const NOW: i64 = 1_764_288_000;
const AT: Expiry = Expiry {
    now: NOW,
    warn_days: 14,
};

/// The verdicts without MX probes (as with `--no-smtp`).
fn judge_dns(d: &DomainPlan, e: Option<&Entry>, built: bool, live: &Live) -> Vec<Line> {
    judge(
        d,
        e,
        built,
        live,
        None,
        AT,
        Some(crate::model::Vhosts::PerHost),
    )
    .0
}

fn statuses(lines: &[Line]) -> Vec<(&'static str, Status)> {
    lines.iter().map(|l| (l.check.word(), l.status)).collect()
}

fn failing<'a>(lines: &'a [Line], check: &str) -> &'a Line {
    lines
        .iter()
        .find(|l| l.check.word() == check && l.status == Status::Fail)
        .unwrap_or_else(|| panic!("no failing {check}: {lines:#?}"))
}

#[test]
fn a_healthy_deployment_is_all_ok() {
    let (d, e) = planned(CONFIG);
    let lines = judge_dns(&d, Some(&e), true, &healthy(&d, &e));
    assert!(
        lines
            .iter()
            .all(|l| matches!(l.status, Status::Ok | Status::Note)),
        "{lines:#?}"
    );
    assert_eq!(
        statuses(&lines)
            .iter()
            .filter(|(_, s)| *s == Status::Note)
            .count(),
        1
    );
}

#[test]
fn broken_states_fail_with_the_fix() {
    let (d, e) = planned(CONFIG);
    let mut live = healthy(&d, &e);
    live.sts_txt = Ok(vec!["v=STSv1; id=a".into(), "v=STSv1; id=b".into()]);
    live.https = Ok(Response {
        status: 301,
        content_type: None,
        location: Some("https://x/".into()),
        body: vec![],
        too_large: false,
        chain: Vec::new(),
    });
    live.mx = Ok(vec![
        "mx1.example.com".into(),
        "rogue.example.org".into(),
        "a.b.mx.example.com".into(),
    ]);
    live.tlsrpt_txt = Err(DnsError::NoRecords);
    live.host_cname = Ok(None);
    live.host_addrs = Err(DnsError::NoRecords);
    let lines = judge_dns(&d, Some(&e), true, &live);
    assert!(failing(&lines, "txt").detail.contains("2 v=STSv1 records"));
    assert_eq!(
        failing(&lines, "txt").fix.as_deref(),
        Some("keep only _mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20251128000000\"")
    );
    assert!(
        failing(&lines, "https")
            .detail
            .contains("answers 301 redirecting to https://x/")
    );
    assert!(failing(&lines, "mx").detail.contains("rogue.example.org"));
    assert!(
        lines
            .iter()
            .any(|l| l.detail.contains("a.b.mx.example.com") && l.status == Status::Fail),
        "two labels below a wildcard are not covered"
    );
    assert_eq!(
        failing(&lines, "tlsrpt").fix.as_deref(),
        Some(
            "publish _smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\""
        )
    );
    assert_eq!(
        failing(&lines, "host").fix.as_deref(),
        Some("publish mta-sts.example.com. 3600 IN CNAME web.example.net.")
    );
}

#[test]
fn content_type_rules() {
    assert!(plain_text("text/plain"));
    assert!(plain_text("Text/Plain; charset=UTF-8"));
    assert!(plain_text("text/plain; charset=\"us-ascii\""));
    assert!(!plain_text("text/plain; charset=iso-8859-1"));
    assert!(!plain_text("application/octet-stream"));
    assert!(!plain_text(""));
    assert!(!plain_text("text/html"));
}

#[test]
fn deployment_order_rfc_8461_section_8_1() {
    let (d1, e1) = planned(CONFIG);
    let edited = CONFIG.replace("enforce", "testing");
    let (config, _) = crate::config::parse(&edited);
    let mut lock = Lock::new();
    lock.domains.insert("example.com".into(), e1.clone());
    let p = crate::plan::plan(
        config.unwrap().domains,
        &lock,
        from_epoch("1764374400").unwrap(),
        &[],
    );
    let (d2, e2) = (p.domains[0].clone(), p.lock.domains["example.com"].clone());
    assert_eq!(e2.previous_id.as_deref(), Some(&*e1.id));
    let state = |txt_id: &str, body: &str| {
        let mut live = healthy(&d2, &e2);
        live.sts_txt = Ok(vec![records::sts_value(txt_id)]);
        if let Ok(r) = &mut live.https {
            r.body = body.as_bytes().to_vec();
        }
        judge_dns(&d2, Some(&e2), true, &live)
    };
    let deploy = |lines: Vec<Line>| {
        lines
            .into_iter()
            .find(|l| l.check == Check::Deploy)
            .unwrap()
    };
    assert_eq!(deploy(state(&e2.id, &d2.policy())).status, Status::Ok);
    let dns_first = deploy(state(&e2.id, &d1.policy()));
    assert_eq!(dns_first.status, Status::Fail);
    assert!(
        dns_first
            .detail
            .starts_with("DNS updated before the policy"),
        "{}",
        dns_first.detail
    );
    let pending = deploy(state(&e1.id, &d2.policy()));
    assert_eq!(pending.status, Status::Pending);
    assert_eq!(
        pending.fix.as_deref(),
        Some("publish _mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20251129000000\"")
    );
    assert_eq!(deploy(state(&e1.id, &d1.policy())).status, Status::Fail);
    assert!(
        deploy(state("other1", &d2.policy()))
            .detail
            .contains("announces id other1, but the current id is 20251129000000")
    );
    let lf = state(&e2.id, &d2.policy().replace("\r\n", "\n"));
    assert_eq!(
        lf.iter().find(|l| l.check == Check::Policy).unwrap().status,
        Status::Warn
    );
    assert_eq!(deploy(lf).status, Status::Ok);
}

fn certificate(names: &[&str], days_left: i64, trusted: Result<(), Distrust>) -> Certificate {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    Certificate {
        name_match: false,
        names,
        not_before: NOW - 86_400 * 60,
        not_after: NOW + 86_400 * days_left + 3600,
        trusted,
        chain: Vec::new(),
    }
}

fn probe(host: &str, seen: Seen) -> Probe {
    Probe {
        host: host.to_string(),
        address: "192.0.2.25:25".parse().unwrap(),
        seen,
        tlsa: None,
    }
}

fn tls(host: &str, mut c: Certificate) -> Probe {
    c.name_match = crate::probe::covers(&c.names, host);
    probe(
        host,
        Seen::Tls {
            version: "TLSv1.3",
            certificate: c,
        },
    )
}

fn probed(text: &str, probes: Vec<Probe>) -> (Vec<Line>, Vec<MxReport>) {
    let (d, e) = planned(text);
    let mut live = healthy(&d, &e);
    live.mx = Ok(probes.iter().map(|p| p.host.clone()).collect());
    let map: Probes = probes
        .into_iter()
        .map(|p| (p.host.clone(), Ok(vec![p])))
        .collect();
    judge(
        &d,
        Some(&e),
        true,
        &live,
        Some(&map),
        AT,
        Some(crate::model::Vhosts::PerHost),
    )
}

#[test]
fn each_mx_fault_is_a_failure_with_a_fix_and_a_good_mx_is_ok() {
    let good = tls(
        "mx1.example.com",
        certificate(&["mx1.example.com"], 60, Ok(())),
    );
    let cases = [
        (
            tls(
                "a.mx.example.com",
                certificate(&["*.mx.example.com"], -3, Ok(())),
            ),
            "certificate expired on",
        ),
        (
            tls(
                "b.mx.example.com",
                certificate(&["other.example.org"], 60, Ok(())),
            ),
            "certificate names other.example.org, not b.mx.example.com",
        ),
        (
            tls(
                "c.mx.example.com",
                certificate(&["c.mx.example.com"], 60, Err(Distrust::SelfSigned)),
            ),
            "certificate not trusted: self-signed",
        ),
        (
            probe("d.mx.example.com", Seen::NoStarttls),
            "offers no STARTTLS",
        ),
        (
            probe("e.mx.example.com", Seen::TlsTooOld("alert".into())),
            "offers only TLS below 1.2",
        ),
        (
            probe("f.mx.example.com", Seen::Failed(Fault::NoAnswer(2))),
            "no answer within 2 s",
        ),
    ];
    for (bad, expect) in cases {
        let host = bad.host.clone();
        let (lines, mx) = probed(CONFIG, vec![good.clone(), bad]);
        let fail = failing(&lines, "smtp");
        assert!(fail.detail.contains(expect), "{host}: {fail:?}");
        assert!(fail.fix.is_some(), "{host}: {fail:?}");
        assert_eq!(mx.len(), 2);
        assert_eq!(
            (mx[0].host.as_str(), mx[0].status),
            ("mx1.example.com", MxStatus::Ok)
        );
        assert_eq!(
            (mx[1].host.as_str(), mx[1].status),
            (host.as_str(), MxStatus::Fail)
        );
        assert!(
            lines
                .iter()
                .any(|l| l.check == Check::Smtp && l.status == Status::Ok)
        );
    }
}

#[test]
fn a_wildcard_certificate_covers_one_label_and_expiry_soon_warns() {
    let (lines, mx) = probed(
        CONFIG,
        vec![tls(
            "a.mx.example.com",
            certificate(&["*.mx.example.com"], 5, Ok(())),
        )],
    );
    let warn = lines.iter().find(|l| l.check == Check::Smtp).unwrap();
    assert_eq!(warn.status, Status::Warn, "{lines:#?}");
    assert!(warn.detail.contains("(5 day(s) left)"), "{}", warn.detail);
    assert_eq!(mx[0].days_left, Some(5));
    assert_eq!(mx[0].name_match, Some(true));
    assert_eq!(mx[0].tls_version, Some("TLSv1.3"));
    assert_eq!(mx[0].status, MxStatus::Warn);
}

#[test]
fn a_testing_domain_says_whether_its_mx_set_would_pass_enforcement() {
    let testing = CONFIG.replace("\"enforce\"", "\"testing\"");
    let good = tls(
        "mx1.example.com",
        certificate(&["mx1.example.com"], 60, Ok(())),
    );
    let (lines, _) = probed(&testing, vec![good.clone()]);
    let ready = lines.iter().find(|l| l.check == Check::Enforce).unwrap();
    assert_eq!(ready.status, Status::Ok, "{ready:?}");
    let stray = tls("mx9.other.net", certificate(&["mx9.other.net"], 60, Ok(())));
    let (lines, _) = probed(&testing, vec![good, stray]);
    let ready = lines.iter().find(|l| l.check == Check::Enforce).unwrap();
    assert_eq!(ready.status, Status::Warn);
    assert!(
        ready.detail.contains("mx9.other.net matches no mx pattern"),
        "{ready:?}"
    );
    let (lines, _) = probed(CONFIG, vec![]);
    assert!(
        lines.iter().all(|l| l.check != Check::Enforce),
        "enforce domains get no readiness line"
    );
}

#[test]
fn fix_lines_name_only_files_the_build_writes() {
    let (d, e) = planned(CONFIG);
    let mut live = healthy(&d, &e);
    if let Ok(r) = &mut live.https {
        r.status = 404;
    }
    let fix_for = |nginx| {
        judge(&d, Some(&e), true, &live, None, AT, nginx)
            .0
            .into_iter()
            .find(|l| l.check == Check::Https && l.status == Status::Fail)
            .and_then(|l| l.fix)
            .unwrap()
    };
    let per_host = fix_for(Some(crate::model::Vhosts::PerHost));
    assert!(
        per_host.contains("output/nginx/mta-sts.example.com.conf"),
        "{per_host}"
    );
    let shared = fix_for(Some(crate::model::Vhosts::Shared));
    assert!(shared.contains("output/nginx/mta-sts.conf"), "{shared}");
    assert!(!shared.contains("mta-sts.example.com.conf"), "{shared}");
    let cdn = fix_for(None);
    assert!(!cdn.contains("output/nginx"), "{cdn}");
}

#[test]
fn a_worker_custom_domain_is_whatever_cloudflare_made_and_nothing_is_a_fail() {
    let text = format!(
        "[output]\ntargets = [\"cloudflare-worker\"]\n{}",
        CONFIG.replace("policy_cname = \"web.example.net\"\n", "")
    );
    let (d, e) = planned(&text);
    assert_eq!(d.domain.policy_host, crate::model::PolicyHost::Cdn);
    let mut live = healthy(&d, &e);
    // Cloudflare's proxied answer: addresses, no CNAME.
    live.host_cname = Ok(None);
    let host_line = |live: &Live| {
        judge_dns(&d, Some(&e), true, live)
            .into_iter()
            .find(|l| l.check.word() == "host")
            .unwrap()
    };
    let ok = host_line(&live);
    assert_eq!(ok.status, Status::Ok, "{ok:#?}");
    assert!(ok.detail.contains("192.0.2.1 (made by the CDN)"), "{ok:#?}");
    live.host_cname = Ok(Some("example.com.cdn.cloudflare.net".into()));
    assert_eq!(host_line(&live).status, Status::Ok);
    live.host_cname = Ok(None);
    live.host_addrs = Err(crate::dns::DnsError::NoRecords);
    let fail = host_line(&live);
    assert_eq!(fail.status, Status::Fail, "{fail:#?}");
    assert!(
        fail.fix
            .as_deref()
            .unwrap_or("")
            .contains("wrangler deploy"),
        "{fail:#?}"
    );
}
