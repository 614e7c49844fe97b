//! Judging planted live states against the plan.

use super::*;
use crate::clock::from_epoch;
use crate::records;
use crate::state::Lock;
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
        }),
        mx: Ok(vec!["mx1.example.com".into(), "a.mx.example.com".into()]),
        tlsrpt_txt: Ok(vec!["v=TLSRPTv1; rua=mailto:tls@example.com".into()]),
    }
}

fn statuses(lines: &[Line]) -> Vec<(&'static str, Status)> {
    lines.iter().map(|l| (l.check, l.status)).collect()
}

fn failing<'a>(lines: &'a [Line], check: &str) -> &'a Line {
    lines
        .iter()
        .find(|l| l.check == check && l.status == Status::Fail)
        .unwrap_or_else(|| panic!("no failing {check}: {lines:#?}"))
}

#[test]
fn a_healthy_deployment_is_all_ok() {
    let (d, e) = planned(CONFIG);
    let lines = judge(&d, Some(&e), true, &healthy(&d, &e));
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
    });
    live.mx = Ok(vec![
        "mx1.example.com".into(),
        "rogue.example.org".into(),
        "a.b.mx.example.com".into(),
    ]);
    live.tlsrpt_txt = Err(DnsError::NoRecords);
    live.host_cname = Ok(None);
    live.host_addrs = Err(DnsError::NoRecords);
    let lines = judge(&d, Some(&e), true, &live);
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
        judge(&d2, Some(&e2), true, &live)
    };
    let deploy = |lines: Vec<Line>| lines.into_iter().find(|l| l.check == "deploy").unwrap();
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
        lf.iter().find(|l| l.check == "policy").unwrap().status,
        Status::Warn
    );
    assert_eq!(deploy(lf).status, Status::Ok);
}
