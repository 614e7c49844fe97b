//! The fuzz targets' bodies, shared by the libFuzzer binaries (`cargo fuzz run NAME`, nightly)
//! and by the stable harness that runs each for a bounded time in `cargo test`
//! (`tests/it/fuzz.rs`). Each takes raw bytes; a panic is a finding.

/// A target's body: raw bytes in, a panic is a finding.
pub(crate) type Target = fn(&[u8]);

/// Every target, by name (the name of its corpus directory and of its `cargo fuzz` binary).
pub(crate) const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("config_fast", config_fast),
    ("lock_fast", lock_fast),
    ("manifest_fast", manifest_fast),
    ("policy", policy),
    ("records", records),
    ("report", report),
    ("email", email),
    ("smtp", smtp),
    ("https", https),
];

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The config loader on arbitrary text: never a panic; whatever validates plans and renders,
/// and every policy it renders parses back.
pub(crate) fn config(bytes: &[u8]) {
    let Some(text) = text(bytes) else { return };
    let (config, _) = mtasts::config::parse(text);
    let Some(config) = config else { return };
    let now = mtasts::clock::from_epoch("1764288000").unwrap();
    let plan = mtasts::plan::plan(config.domains, &mtasts::lock::Lock::new(), now, &[]);
    let templates = mtasts::render::Templates::compile(&[]).unwrap();
    for d in plan.domains.iter().filter(|d| d.published()) {
        mtasts::policy::parse(d.policy().as_bytes()).unwrap();
        let inputs = templates.inputs(d, &config.nginx);
        templates.nginx(&inputs).unwrap();
        templates.zone(&inputs).unwrap();
    }
}

/// Differential: the fast config reader either declines or reads exactly what the TOML parser
/// reads.
pub(crate) fn config_fast(bytes: &[u8]) {
    let Some(text) = text(bytes) else { return };
    if let Err(e) = mtasts::config::fast_reader_agrees(text) {
        panic!("{text:?}: {e}");
    }
}

/// Differential: the fast lock reader either declines or reads exactly what the TOML parser
/// reads.
pub(crate) fn lock_fast(bytes: &[u8]) {
    let Some(text) = text(bytes) else { return };
    if let Err(e) = mtasts::lock::Lock::fast_reader_agrees(text) {
        panic!("{text:?}: {e}");
    }
}

/// Differential: the manifest's block reader either declines or reads exactly what serde_json
/// reads, whatever the block size (the first byte).
pub(crate) fn manifest_fast(bytes: &[u8]) {
    let Some((block, bytes)) = bytes.split_first() else {
        return;
    };
    if let Err(e) = mtasts::manifest::fast_reader_agrees(bytes, usize::from(*block) + 1) {
        panic!("{:?}: {e}", String::from_utf8_lossy(bytes));
    }
}

/// The strict policy parser on arbitrary bytes: never a panic.
pub(crate) fn policy(bytes: &[u8]) {
    let _ = mtasts::policy::parse(bytes);
}

/// The TXT record parsers and the zone-string reader on arbitrary text: never a panic, and the
/// zone string of any text reads back as that text.
pub(crate) fn records(bytes: &[u8]) {
    let Some(text) = text(bytes) else { return };
    let _ = mtasts::records::parse_sts(text);
    let _ = mtasts::records::parse_tlsrpt(text);
    if let Some(value) = mtasts::records::txt_value(text) {
        let _ = mtasts::records::txt_rdata(&value);
    }
    assert_eq!(
        mtasts::records::txt_value(&mtasts::records::txt_rdata(text)).as_deref(),
        Some(text)
    );
}

/// One JSON report, parsed and summed twice over: never a panic, and no sum below a count it
/// holds (sums saturate, never wrap).
pub(crate) fn report(bytes: &[u8]) {
    let Ok(report) = mtasts::report::parse(bytes) else {
        return;
    };
    let mut twice = report.clone();
    twice.report_id.push_str("-again");
    let summaries = mtasts::report::summarise(&[report.clone(), twice]);
    for p in &report.policies {
        let Some(domain) = &p.domain else { continue };
        let s = summaries.iter().find(|s| &s.domain == domain).unwrap();
        assert!(s.successful >= p.successful && s.failed >= p.failed);
    }
}

/// The email reader (MIME, base64, gzip, then JSON) on arbitrary bytes: never a panic.
pub(crate) fn email(bytes: &[u8]) {
    if let Ok(reports) = mtasts::report::reports_in(bytes, true, None) {
        let _ = mtasts::report::summarise(&reports);
    }
}

/// The SMTP reply reader on whatever a server sends up to STARTTLS: a verdict, never a panic.
pub(crate) fn smtp(bytes: &[u8]) {
    let _ = mtasts::probe::dialogue(bytes);
}

/// `check`'s judging of an HTTPS answer and of TXT records a hostile server and DNS chose:
/// status (first two bytes), then content type, TXT record and body separated by NUL bytes.
pub(crate) fn https(bytes: &[u8]) {
    use mtasts::check::{Expiry, Live, judge};
    let Some((status, rest)) = bytes.split_first_chunk::<2>() else {
        return;
    };
    let mut fields = rest.splitn(3, |b| *b == 0);
    let mut field = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (content_type, txt) = (field(), field());
    let body = rest
        .splitn(3, |b| *b == 0)
        .nth(2)
        .unwrap_or_default()
        .to_vec();
    let config = "[domains.\"example.com\"]\nmode = \"enforce\"\nmx = [\"mx.example.com\"]\npolicy_cname = \"web.example.net\"\ntlsrpt_rua = [\"mailto:tls@example.com\"]\n";
    let (Some(config), _) = mtasts::config::parse(config) else {
        unreachable!("the fixed config is valid")
    };
    let now = mtasts::clock::from_epoch("1764288000").unwrap();
    let plan = mtasts::plan::plan(config.domains, &mtasts::lock::Lock::new(), now, &[]);
    let d = &plan.domains[0];
    let entry = plan.lock.domains.get("example.com");
    let answer = mtasts::fetch::Response {
        status: u16::from_be_bytes(*status),
        content_type: Some(content_type),
        location: None,
        body: body.clone(),
        too_large: false,
        chain: Vec::new(),
    };
    let live = Live {
        sts_txt: Ok(vec![txt.clone()]),
        host_cname: Ok(Some(txt.clone())),
        host_addrs: Ok(vec![
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ]),
        https: Ok(answer.clone()),
        mx: Ok(vec![txt.clone(), "mx.example.com".into()]),
        tlsrpt_txt: Ok(vec![txt]),
        certificate: None,
        per_address: vec![
            ("192.0.2.1".parse().unwrap(), Ok(answer.clone())),
            (
                "2001:db8::1".parse().unwrap(),
                Ok(mtasts::fetch::Response {
                    body: body.iter().rev().copied().collect(),
                    ..answer
                }),
            ),
        ],
    };
    let at = Expiry {
        now: 1_764_288_000,
        warn_days: 14,
    };
    let _ = judge(
        d,
        entry,
        true,
        &live,
        None,
        at,
        Some(mtasts::model::Vhosts::Shared),
    );
}
