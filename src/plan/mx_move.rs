//! An MX move planned by date (RFC 8461 §8.3): publish a policy listing the old and the new
//! hosts, switch the DNS MX once no sender can hold a policy without the new hosts, then drop
//! the old hosts once no sender delivers to them. Where the move stands is read from the lock,
//! so the same command, run again, says what is next and from when.

use chrono::{DateTime, Utc};

use super::{after, day};
use crate::lock::Entry;
use crate::names::MxPattern;

/// Where a move stands, with the dates that matter.
#[derive(Debug, PartialEq, Eq)]
pub enum Stage {
    /// The policy listing both old and new hosts is not built yet: build it now.
    PublishBoth {
        /// The `mx` list to write (published hosts, then the new ones).
        both: Vec<String>,
        /// The earliest DNS switch if that policy is published now.
        switch_from: DateTime<Utc>,
    },
    /// Both are published; senders may still hold a policy without the new hosts.
    WaitToSwitch {
        /// When the DNS MX may point at the new hosts.
        switch_from: DateTime<Utc>,
    },
    /// The DNS MX may point at the new hosts; once it does (and its TTL passed), drop the old.
    Switch {
        /// Since when switching is safe.
        since: DateTime<Utc>,
        /// The `mx` list to write after the switch.
        after: Vec<String>,
    },
    /// Nothing left to do: the published policy lists the new hosts and none of the old.
    Done,
}

/// What a move needs to know about the domain.
pub struct Move<'a> {
    /// The published policy (the lock's entry), if any.
    pub published: Option<&'a Entry>,
    /// Hosts (or patterns) to add.
    pub add: &'a [MxPattern],
    /// Hosts (or patterns) to remove.
    pub remove: &'a [MxPattern],
    /// The TTL of the domain's records, seconds: DNS answers live this long in caches.
    pub ttl: u32,
}

/// The stage of the move at `now`. Without a published policy there is nothing senders hold:
/// the move is just a config edit, reported as `PublishBoth` at `now`.
pub fn stage(m: &Move<'_>, now: DateTime<Utc>) -> Stage {
    let published: Vec<String> = m.published.map(|e| e.mx.to_vec()).unwrap_or_default();
    let has = |p: &MxPattern| published.iter().any(|s| *s == p.to_string());
    // Senders may hold any earlier policy for up to the largest max_age ever published, and
    // see the new TXT id only once the old record's TTL has passed.
    let hold = m.published.map_or(0, |e| e.max_age_high);
    if !m.add.iter().all(has) {
        let mut both = published.clone();
        both.extend(
            m.add
                .iter()
                .map(ToString::to_string)
                .filter(|a| !published.contains(a)),
        );
        return Stage::PublishBoth {
            both,
            switch_from: after(after(now, hold), m.ttl),
        };
    }
    if !m.remove.iter().any(has) {
        return Stage::Done;
    }
    let since = m.published.map_or(now, |e| e.published);
    let switch_from = after(after(since, hold), m.ttl);
    if now < switch_from {
        return Stage::WaitToSwitch { switch_from };
    }
    Stage::Switch {
        since: switch_from,
        after: published
            .iter()
            .filter(|p| !m.remove.iter().any(|r| r.to_string() == **p))
            .cloned()
            .collect(),
    }
}

/// The steps of `stage` for `domain`, as lines a person follows.
pub fn steps(domain: &str, stage: &Stage, m: &Move<'_>) -> Vec<String> {
    let list = |mx: &[String]| {
        format!(
            "mx = [{}]",
            mx.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let new: Vec<String> = m.add.iter().map(ToString::to_string).collect();
    let old: Vec<String> = m.remove.iter().map(ToString::to_string).collect();
    match stage {
        Stage::PublishBoth { both, switch_from } => vec![
            format!(
                "1. now: in [domains.\"{domain}\"] set {} (old and new) and mx_leaving = [{}] (so that status follows the move), run mtasts build, deploy the policy, then publish the new _mta-sts id",
                list(both),
                old.iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "2. from {} (if step 1 is published now; run this command again after the build for the exact date): point the MX records of {domain} at {}",
                day(*switch_from),
                new.join(", ")
            ),
            format!(
                "3. once the MX records have changed and {} s (their TTL) have passed: remove {} from mx, build and deploy",
                m.ttl,
                old.join(", ")
            ),
        ],
        Stage::WaitToSwitch { switch_from } => vec![
            "1. done: the policy lists the old and the new hosts".to_string(),
            format!(
                "2. from {}: point the MX records of {domain} at {} (before then a sender may still hold a policy without them and, in enforce mode, refuse them)",
                day(*switch_from),
                new.join(", ")
            ),
            format!(
                "3. once the MX records have changed and {} s (their TTL) have passed: remove {} from mx, build and deploy",
                m.ttl,
                old.join(", ")
            ),
        ],
        Stage::Switch { since, after } => vec![
            "1. done: the policy lists the old and the new hosts".to_string(),
            format!(
                "2. now (safe since {}): point the MX records of {domain} at {}",
                day(*since),
                new.join(", ")
            ),
            format!(
                "3. once the MX records have changed and {} s (their TTL) have passed: set {} and remove mx_leaving, build and deploy",
                m.ttl,
                list(after)
            ),
        ],
        Stage::Done => vec![format!(
            "done: the published policy of {domain} lists {} and none of {}",
            new.join(", "),
            old.join(", ")
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mx: &[&str], published: i64, max_age_high: u32) -> Entry {
        let text = format!(
            "version = 1\n[domains.\"a.example\"]\nid = \"1\"\npolicy_sha256 = \"{sha}\"\nstage = \"active\"\nmode = \"enforce\"\nmax_age = {max_age_high}\nmx = [{}]\npublished = \"{}\"\nmax_age_high = {max_age_high}\n",
            mx.iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", "),
            DateTime::from_timestamp(published, 0).unwrap().to_rfc3339(),
            sha = "0".repeat(64)
        );
        let lock = crate::lock::Lock::parse(&text, "domains.lock").unwrap();
        lock.domains["a.example"].clone()
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    fn pats(s: &[&str]) -> Vec<MxPattern> {
        s.iter().map(|p| MxPattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn a_move_walks_publish_wait_switch_done() {
        let (add, remove) = (pats(&["new.example.net"]), pats(&["old.example.net"]));
        let week = 604_800;
        let old = entry(&["old.example.net"], 0, week);
        let m = |e| Move {
            published: Some(e),
            add: &add,
            remove: &remove,
            ttl: 3600,
        };
        assert_eq!(
            stage(&m(&old), at(100)),
            Stage::PublishBoth {
                both: vec!["old.example.net".into(), "new.example.net".into()],
                switch_from: at(100 + week as i64 + 3600),
            }
        );
        let both = entry(&["old.example.net", "new.example.net"], 1000, week);
        let from = at(1000 + week as i64 + 3600);
        assert_eq!(
            stage(&m(&both), at(2000)),
            Stage::WaitToSwitch { switch_from: from }
        );
        assert_eq!(
            stage(&m(&both), from),
            Stage::Switch {
                since: from,
                after: vec!["new.example.net".into()],
            }
        );
        let moved = entry(&["new.example.net"], 9_000_000, week);
        assert_eq!(stage(&m(&moved), at(9_000_001)), Stage::Done);
    }
}
