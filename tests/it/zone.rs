//! The generated zone fragments, `$INCLUDE`d into a zone, loaded by real NSD and BIND tools.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{Project, real_tool, run_ok};

/// Three domains: a long TLS-RPT record, an IDN with addresses, mode none without reports.
pub(crate) const CONFIG: &str = r#"
[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"
tlsrpt_rua = ["mailto:tls@example.net"]

[domains."example.com"]
mode = "enforce"
tlsrpt_rua = [
  "mailto:tls-reports-00@reports.example.net", "mailto:tls-reports-01@reports.example.net",
  "mailto:tls-reports-02@reports.example.net", "mailto:tls-reports-03@reports.example.net",
  "mailto:tls-reports-04@reports.example.net", "mailto:tls-reports-05@reports.example.net",
  "https://reports.example.net/v1/tlsrpt",
]

[domains."bücher.example"]
policy_addresses = ["192.0.2.10", "2001:db8::10"]

[domains."legacy.example"]
mode = "none"
tlsrpt_rua = []
"#;

fn wrapper(dir: &Path, domain: &str, fragment: &Path) -> std::path::PathBuf {
    let zone = dir.join(format!("{domain}.wrapper.zone"));
    fs::write(
        &zone,
        format!(
            "$ORIGIN {domain}.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n$INCLUDE {}\n",
            fragment.display()
        ),
    )
    .unwrap();
    zone
}

fn check_all(p: &Project, check: impl Fn(&str, &Path)) {
    let dns = p.path().join("output/dns");
    let mut n = 0;
    for entry in fs::read_dir(&dns).unwrap() {
        let path = entry.unwrap().path();
        let domain = crate::harness::zone_domain(&path);
        check(&domain, &wrapper(p.path(), &domain, &path));
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn gen_08_nsd_checkzone_accepts_every_fragment() {
    let Some(nsd) = real_tool("nsd-checkzone") else {
        return;
    };
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    check_all(&p, |domain, zone| {
        run_ok(Command::new(&nsd).arg(domain).arg(zone));
    });
    // The check can fail: a CNAME beside other data at one owner is refused.
    let bad = p.path().join("bad.zone");
    fs::write(
        &bad,
        "mta-sts.example.com. 60 IN CNAME a.example.net.\nmta-sts.example.com. 60 IN A 192.0.2.1\n",
    )
    .unwrap();
    let out = Command::new(&nsd)
        .arg("example.com")
        .arg(wrapper(p.path(), "example.com", &bad))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "nsd-checkzone accepted CNAME and other data"
    );
}

#[test]
fn gen_08_named_checkzone_accepts_every_fragment_and_reads_the_txt_values_back() {
    let Some(named) = real_tool("named-checkzone") else {
        return;
    };
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let id = p.lock_id("example.com");
    check_all(&p, |domain, zone| {
        let dump = run_ok(
            Command::new(&named)
                .args(["-q", "-k", "fail", "-i", "local", "-D", "-o", "-"])
                .arg(domain)
                .arg(zone),
        );
        let txts: Vec<(String, String)> = dump
            .lines()
            .filter_map(|l| {
                let (head, rdata) = l.split_once(" IN TXT")?;
                let owner = head.split_whitespace().next()?.to_string();
                Some((
                    owner,
                    mtasts::records::txt_value(rdata.trim()).expect("valid TXT rdata"),
                ))
            })
            .collect();
        let sts = txts
            .iter()
            .find(|(o, _)| o.starts_with("_mta-sts."))
            .expect("_mta-sts TXT loaded");
        assert_eq!(sts.0, format!("_mta-sts.{domain}."));
        assert_eq!(sts.1, format!("v=STSv1; id={id}"));
        if domain == "example.com" {
            let rpt = txts
                .iter()
                .find(|(o, _)| o.starts_with("_smtp._tls."))
                .expect("TLS-RPT TXT");
            assert!(
                rpt.1.len() > 255,
                "the long record should need several strings"
            );
            assert!(
                rpt.1.starts_with(
                    "v=TLSRPTv1; rua=mailto:tls-reports-00@reports.example.net,mailto:"
                )
            );
            assert!(rpt.1.ends_with(",https://reports.example.net/v1/tlsrpt"));
        }
        if domain == "legacy.example" {
            assert!(!txts.iter().any(|(o, _)| o.starts_with("_smtp._tls.")));
        }
    });
}
