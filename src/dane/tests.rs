//! The rollover as a table of steps: keys in, records and warnings out, at given times.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::names::{DomainName, HostName};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn host() -> Dane {
    Dane {
        host: HostName::parse("mx1.example.com").unwrap(),
        certificate: "cert.pem".into(),
        next_key: None,
        usage: DaneUsage::DaneEe,
        ttl: 3600,
        zone: DomainName::parse("example.com").unwrap(),
    }
}

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

/// One build: `live` and `next` digests at `hours`, over `lock`; returns the new lock.
fn step(
    lock: &BTreeMap<String, DaneEntry>,
    live: &str,
    next: Option<&str>,
    hours: i64,
) -> (DanePlan, BTreeMap<String, DaneEntry>) {
    let d = host();
    let digests = Digests {
        live: live.into(),
        next: next.map(String::from),
    };
    let plan = plan(&[(&d, digests)], lock, at(hours));
    let lock = plan.lock.clone();
    (plan, lock)
}

fn published(p: &DanePlan) -> Vec<(&str, KeyRole)> {
    p.hosts[0]
        .keys
        .iter()
        .map(|k| (&k.sha256[..1], k.role))
        .collect()
}

fn kinds(p: &DanePlan) -> Vec<WarningKind> {
    p.warnings.iter().map(|w| w.kind).collect()
}

#[test]
fn a_rollover_onto_the_prepublished_key_keeps_the_old_one_two_ttls_then_drops_it() {
    // Day one: the live key and the next one go out together.
    let (p, lock) = step(&BTreeMap::new(), A, Some(B), 0);
    assert_eq!(published(&p), [("a", KeyRole::Live), ("b", KeyRole::Next)]);
    assert!(p.warnings.is_empty() && p.changed);
    assert_eq!(p.hosts[0].safe_from(p.hosts[0].next().unwrap()), at(2));
    // The same inputs later change nothing.
    let (p, same) = step(&lock, A, Some(B), 24);
    assert!(!p.changed && same == lock);
    // A month later the certificate is renewed onto B and C is the next key.
    let (p, lock) = step(&lock, B, Some(C), 720);
    assert_eq!(
        published(&p),
        [
            ("b", KeyRole::Live),
            ("c", KeyRole::Next),
            ("a", KeyRole::Leaving)
        ]
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        p.hosts[0].keys[0].published,
        at(0),
        "B keeps its first date"
    );
    assert_eq!(p.hosts[0].keys[2].retired, Some(at(720)));
    // Within two TTLs A stays; after them it leaves the output by itself.
    let (p, lock) = step(&lock, B, Some(C), 721);
    assert_eq!(published(&p).len(), 3);
    let (p, _) = step(&lock, B, Some(C), 722);
    assert_eq!(published(&p), [("b", KeyRole::Live), ("c", KeyRole::Next)]);
    assert!(p.changed);
}

#[test]
fn a_key_never_published_is_loud_and_an_early_switch_is_named_with_its_safe_date() {
    let (_, lock) = step(&BTreeMap::new(), A, Some(B), 0);
    // Renewed onto C, which no TLSA record ever named: mail is breaking now.
    let (p, _) = step(&lock, C, Some(B), 5);
    assert_eq!(kinds(&p), [WarningKind::DaneUnpublishedKey]);
    assert!(p.warnings[0].text.contains("MAIL IS BREAKING NOW"));
    // A alone first; B published at hour 10 is not safe before hour 12 (two TTLs of an
    // hour), when no cache can hold the set of A alone any more.
    let (_, lock) = step(&BTreeMap::new(), A, None, 0);
    let (_, lock) = step(&lock, A, Some(B), 10);
    let (p, _) = step(&lock, B, None, 11);
    assert_eq!(
        kinds(&p),
        [WarningKind::DaneEarlySwitch, WarningKind::DaneNoNextKey]
    );
    assert_eq!(p.warnings[0].until, Some(at(12)));
    let (p, _) = step(&lock, B, Some(C), 12);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Published together on the first day, B was in every set a cache could hold.
    let (_, lock) = step(&BTreeMap::new(), A, Some(B), 0);
    let (p, _) = step(&lock, B, Some(C), 1);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn no_next_key_is_a_warning_and_the_first_publication_is_not_a_switch() {
    let (p, lock) = step(&BTreeMap::new(), A, None, 0);
    assert_eq!(kinds(&p), [WarningKind::DaneNoNextKey]);
    let (p, _) = step(&lock, A, None, 0);
    assert_eq!(kinds(&p), [WarningKind::DaneNoNextKey]);
}

#[test]
fn a_longer_ttl_once_published_keeps_leaving_keys_for_its_two_ttls() {
    let (_, lock) = step(&BTreeMap::new(), A, Some(B), 0);
    let mut lock = lock;
    lock.get_mut("mx1.example.com").unwrap().ttl_high = 7200;
    let (p, lock) = step(&lock, B, Some(C), 10);
    assert_eq!(p.hosts[0].ttl_high, 7200);
    let (p, _) = step(&lock, B, Some(C), 13);
    assert_eq!(published(&p).len(), 3, "four hours not yet over");
}

#[test]
fn the_zone_fragment_names_each_key() {
    let (p, _) = step(&BTreeMap::new(), A, Some(B), 0);
    let text = p.hosts[0].zone_text();
    assert!(text.contains(&format!(
        "_25._tcp.mx1.example.com.\t3600\tIN\tTLSA\t3 1 1 {A}"
    )));
    assert!(text.contains("; next key, published since 2026-12-01T00:00:00Z"));
}
