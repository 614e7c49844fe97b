//! A lock rebuilt from the output's manifest when `domains.lock` is lost: the ids the manifest
//! says were published are kept (so unchanged policies keep their ids and the zone fragments
//! stay as they are), and every testing/enforce domain it names is guarded against removal as
//! a lock would guard it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Entry, Lock, Stage};
use crate::model::Mode;

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    files: Vec<File<'a>>,
    #[serde(default, borrow)]
    domains: Vec<Published<'a>>,
}

#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    sha256: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Published<'a> {
    #[serde(borrow)]
    domain: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    mode: Mode,
}

/// The largest max_age a policy may have: what a lost policy is assumed to have had, so that
/// no sender's cache is cut short.
const LONGEST: u32 = 31_557_600;

/// The lock the manifest in `out` implies, or `None` when there is no manifest naming a
/// published domain. A domain's policy file, when it is still the one the manifest lists,
/// gives its max_age and mx; without it the longest max_age is assumed.
pub fn from_manifest(out: &Path, now: DateTime<Utc>) -> Option<Lock> {
    let bytes = std::fs::read(out.join(crate::manifest::PATH)).ok()?;
    let doc: Doc = serde_json::from_slice(&bytes).ok()?;
    let shas: BTreeMap<&str, &str> = doc
        .files
        .iter()
        .map(|f| (f.path.as_ref(), f.sha256.as_ref()))
        .collect();
    let mut lock = Lock::new();
    for d in &doc.domains {
        let valid = crate::names::DomainName::parse(&d.domain)
            .is_ok_and(|n| n.as_str() == d.domain)
            && crate::model::valid_id(&d.id);
        if !valid {
            continue;
        }
        let path = format!("webroot/mta-sts.{}/.well-known/mta-sts.txt", d.domain);
        let Some(&sha) = shas.get(path.as_str()) else {
            continue;
        };
        let policy = std::fs::read(out.join(&path))
            .ok()
            .filter(|b| crate::digest::sha256_hex(b) == sha)
            .and_then(|b| crate::policy::parse(&b).ok());
        let (max_age, mx) = policy.map_or((LONGEST, Vec::new()), |p| (p.max_age, p.mx));
        lock.domains.insert(
            d.domain.to_string(),
            Entry {
                id: Arc::from(d.id.as_ref()),
                policy_sha256: Arc::from(sha),
                stage: Stage::Active,
                mode: d.mode,
                max_age,
                mx: mx.into(),
                published: now,
                max_age_high: max_age,
                sts_ended: None,
                retiring_since: None,
                remove_after: None,
                previous_id: None,
                previous_sha256: None,
                pin: None,
                certificate: None,
                notices: Arc::default(),
            },
        );
    }
    (!lock.domains.is_empty()).then_some(lock)
}
