//! `domains.lock`: the ids we published and the policy bytes they name; plus the process lock.

mod codec;
mod fast;
mod process;
pub mod recover;

pub use process::WorkLock;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Mode;

/// Format version written by this build of mtasts.
pub const LOCK_VERSION: u32 = 1;

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// Per `[dane]` MX host, the TLSA digests it publishes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dane: BTreeMap<String, DaneEntry>,
    /// Per domain (A-label), sorted.
    #[serde(default)]
    pub domains: BTreeMap<String, Entry>,
}

/// Where a domain is in its MTA-STS life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Its configured policy is published.
    Active,
    /// `retire = true`: a `mode: none` policy is published until every older policy expired.
    Retiring,
    /// Retirement completed; nothing is published any more.
    Retired,
    /// Left the config when no testing/enforce policy of it could be cached any more.
    Removed,
}

impl Stage {
    /// The lower-case name used in the lock and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Active => "active",
            Stage::Retiring => "retiring",
            Stage::Retired => "retired",
            Stage::Removed => "removed",
        }
    }
}

/// A warning that matters until a date (for example while senders may hold an older policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// When it stops mattering.
    pub until: DateTime<Utc>,
    /// What to keep in mind (shared with the entry of the next lock).
    pub text: std::sync::Arc<str>,
}

/// What was last published for one domain, and the history lifecycle rules need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The `_mta-sts` TXT id (shared with the entry of the next lock while it is unchanged).
    pub id: std::sync::Arc<str>,
    /// sha256 (hex) of the policy bytes the id names.
    pub policy_sha256: std::sync::Arc<str>,
    /// Lifecycle stage.
    pub stage: Stage,
    /// Mode of the policy the id names.
    pub mode: Mode,
    /// max_age of the policy the id names.
    pub max_age: u32,
    /// mx patterns of the policy the id names (shared by the entries that list the same ones).
    pub mx: std::sync::Arc<[String]>,
    /// When the policy the id names was first published.
    pub published: DateTime<Utc>,
    /// Largest max_age published since the domain last became active (RFC 8461 §8.3 step 3).
    pub max_age_high: u32,
    /// When a testing/enforce policy was last replaced by a `mode: none` one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_ended: Option<DateTime<Utc>>,
    /// When retirement started (the `mode: none` policy went out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_since: Option<DateTime<Utc>>,
    /// When a retiring domain's records and files may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_after: Option<DateTime<Utc>>,
    /// The id this one replaced: a sender may still see it while a deployment is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<std::sync::Arc<str>>,
    /// sha256 of the policy `previous_id` named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha256: Option<std::sync::Arc<str>>,
    /// The pinned `id` of the config that this policy was published under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The certificate (SAN batch of `[nginx] hosts_per_certificate`) the policy host is in;
    /// kept so that adding domains never reshuffles the batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<std::sync::Arc<str>>,
    /// Warnings that still matter until their date (shared with the entry of the next lock
    /// while they are the same).
    #[serde(default, skip_serializing_if = "<[Notice]>::is_empty")]
    pub notices: std::sync::Arc<[Notice]>,
}

impl Lock {
    /// An empty lock of the current version.
    pub fn new() -> Lock {
        Lock {
            version: LOCK_VERSION,
            dane: BTreeMap::new(),
            domains: BTreeMap::new(),
        }
    }
}

/// The TLSA digests one MX host publishes, with their history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaneEntry {
    /// The zone the records go into.
    pub zone: String,
    /// The largest TTL its TLSA records were published with.
    pub ttl_high: u32,
    /// Every digest published: the live key, the next key, then those leaving.
    pub keys: Vec<DaneKey>,
}

/// One published TLSA digest (never a key: a digest of its public half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaneKey {
    /// TLSA usage, selector and matching type (`3 1 1` or `2 1 1`).
    pub tlsa: String,
    /// SHA-256 (hex) of the key's SubjectPublicKeyInfo.
    pub sha256: String,
    /// What the key is now.
    pub role: KeyRole,
    /// When its record first went out.
    pub published: DateTime<Utc>,
    /// When it stopped being the live or next key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<DateTime<Utc>>,
}

/// What a published DANE key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// The certificate in use has it.
    Live,
    /// Published ahead for the next certificate.
    Next,
    /// Neither any more; published until two TTLs after it left.
    Leaving,
}

impl KeyRole {
    /// The lower-case name the lock and messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Live => "live",
            KeyRole::Next => "next",
            KeyRole::Leaving => "leaving",
        }
    }
}

#[cfg(test)]
mod tests;
