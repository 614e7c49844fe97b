//! Alias domains (RFC 8461 §8.2): the primary's policy by delegation, with their own policy
//! host, and the same guards as a domain when they leave.

use crate::harness::Project;

const CONFIG: &str = r#"
[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[domains."example.com"]
mode = "enforce"
aliases = ["example.net"]
"#;

#[test]
fn an_alias_follows_its_primary_s_id_and_policy_and_publishes_a_cname() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let policy = |d: &str| {
        p.read(&format!(
            "output/webroot/mta-sts.{d}/.well-known/mta-sts.txt"
        ))
    };
    assert_eq!(policy("example.net"), policy("example.com"));
    let records = p.run(&["records", "example.net"]).ok();
    assert!(
        records.contains("_mta-sts  CNAME    3600  _mta-sts.example.com.\n"),
        "{records}"
    );
    assert!(
        p.read("output/certificates.txt")
            .contains("mta-sts.example.net")
    );
    // A new policy for the primary: the alias gets the same bytes, and the same id, later.
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let out = p
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1764374400")])
        .ok();
    assert!(
        out.contains("example.com  testing  id 20251129000000  (changed)"),
        "{out}"
    );
    assert!(
        out.contains("example.net  testing  id 20251129000000  (changed)"),
        "{out}"
    );
    assert_eq!(policy("example.net"), policy("example.com"));
    assert_eq!(p.lock_id("example.net"), p.lock_id("example.com"));
}

#[test]
fn an_alias_that_is_a_domain_or_listed_twice_or_a_default_is_an_error() {
    let p = Project::new(&format!(
        "{CONFIG}\n[domains.\"example.net\"]\n\n[domains.\"example.org\"]\naliases = [\"example.net\", \"a.example\", \"a.example\"]\n"
    ));
    let err = p.run(&["validate"]).fails();
    assert!(
        err.contains("example.net is both an alias and a domain"),
        "{err}"
    );
    assert!(err.contains("alias a.example is listed twice"), "{err}");
    let p =
        Project::new(&CONFIG.replace("[defaults]\n", "[defaults]\naliases = [\"x.example\"]\n"));
    let err = p.run(&["validate"]).fails();
    assert!(err.contains("`aliases` cannot be a default"), "{err}");
}

#[test]
fn removing_an_alias_is_refused_while_senders_may_hold_its_policy() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    p.write(
        "domains.toml",
        &CONFIG.replace("aliases = [\"example.net\"]\n", ""),
    );
    let err = p.run(&["build"]).fails();
    assert!(
        err.contains("example.net was removed from the config"),
        "{err}"
    );
    assert!(p.path().join("output/webroot/mta-sts.example.net").is_dir());
    let run = p.run(&["build", "--forget", "example.net"]);
    run.ok();
    assert!(!p.path().join("output/webroot/mta-sts.example.net").exists());
}
