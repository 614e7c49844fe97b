//! SAN batches (`[nginx] hosts_per_certificate`): which certificate each policy host is in.
//! A host keeps the batch its lock entry names while that batch has room; a host without one
//! joins the last batch with room, or opens the next, so adding domains never moves a host and
//! renewals stay incremental. Batches are named `mtasts-0001`, `mtasts-0002`, ...

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Plan;

/// The name of batch `n`.
fn name(n: u32) -> Arc<str> {
    format!("mtasts-{n:04}").into()
}

/// The number in a batch name this module made.
fn number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("mtasts-")?;
    (digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
        .filter(|n| *n > 0)
}

/// Gives every published domain of `plan` its batch (none when `per_certificate` is 1), in the
/// plan and in its lock; entries whose batch changed join `lock_changes`.
pub fn assign(plan: &mut Plan, per_certificate: usize) {
    let mut chosen: Vec<Option<Arc<str>>> = vec![None; plan.domains.len()];
    if per_certificate > 1 {
        let mut load: BTreeMap<u32, usize> = BTreeMap::new();
        let mut waiting = Vec::new();
        for (i, d) in plan.domains.iter().enumerate() {
            if !d.published() {
                continue;
            }
            let kept = d.certificate.as_deref().and_then(number).filter(|n| {
                let l = load.entry(*n).or_default();
                *l < per_certificate && {
                    *l += 1;
                    true
                }
            });
            match kept {
                Some(n) => chosen[i] = Some(name(n)),
                None => waiting.push(i),
            }
        }
        for i in waiting {
            let last = load.iter().next_back().map(|(n, l)| (*n, *l));
            let n = match last {
                Some((n, l)) if l < per_certificate => n,
                Some((n, _)) => n + 1,
                None => 1,
            };
            *load.entry(n).or_default() += 1;
            chosen[i] = Some(name(n));
        }
    }
    for (d, batch) in plan.domains.iter_mut().zip(chosen) {
        let key = d.domain.name.as_str();
        if let Some(entry) = plan.lock.domains.get_mut(key)
            && entry.certificate != batch
        {
            entry.certificate = batch.clone();
            if !plan.lock_changes.iter().any(|c| c == key) {
                plan.lock_changes.push(key.to_string());
            }
        }
        d.certificate = batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_epoch;
    use crate::lock::Lock;

    fn planned(names: &[&str], lock: &Lock, per: usize) -> Plan {
        let mut text = String::from(
            "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        );
        for n in names {
            text.push_str(&format!("[domains.\"{n}\"]\n"));
        }
        let (config, problems) = crate::config::parse(&text);
        let config = config.unwrap_or_else(|| panic!("{problems:?}"));
        let mut p = crate::plan::plan(config.domains, lock, from_epoch("1764288000").unwrap(), &[]);
        assign(&mut p, per);
        p
    }

    fn batches(p: &Plan) -> Vec<(String, String)> {
        p.domains
            .iter()
            .map(|d| {
                (
                    d.domain.name.to_string(),
                    d.certificate.as_deref().unwrap_or("-").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn new_hosts_join_the_last_batch_with_room_and_nobody_moves() {
        let first = planned(&["b.example", "d.example", "f.example"], &Lock::new(), 2);
        assert_eq!(
            batches(&first),
            [
                ("b.example".into(), "mtasts-0001".into()),
                ("d.example".into(), "mtasts-0001".into()),
                ("f.example".into(), "mtasts-0002".into()),
            ]
        );
        // Two domains sorting before the others arrive: they fill batch 2, then open batch 3.
        let second = planned(
            &[
                "a.example",
                "b.example",
                "c.example",
                "d.example",
                "f.example",
            ],
            &first.lock,
            2,
        );
        assert_eq!(
            batches(&second),
            [
                ("a.example".into(), "mtasts-0002".into()),
                ("b.example".into(), "mtasts-0001".into()),
                ("c.example".into(), "mtasts-0003".into()),
                ("d.example".into(), "mtasts-0001".into()),
                ("f.example".into(), "mtasts-0002".into()),
            ]
        );
        assert_eq!(
            second.lock.domains["b.example"].certificate.as_deref(),
            Some("mtasts-0001")
        );
        // A domain leaving frees its place without moving anyone.
        let third = planned(
            &["a.example", "b.example", "c.example", "f.example"],
            &second.lock,
            2,
        );
        assert_eq!(
            batches(&third)
                .into_iter()
                .filter(|(d, _)| d != "d.example")
                .collect::<Vec<_>>(),
            batches(&second)
                .into_iter()
                .filter(|(d, _)| d != "d.example")
                .collect::<Vec<_>>()
        );
        // One host per certificate: no batch in the plan or the lock.
        let single = planned(&["a.example", "b.example"], &second.lock, 1);
        assert!(single.domains.iter().all(|d| d.certificate.is_none()));
        assert!(
            single
                .lock
                .domains
                .values()
                .all(|e| e.certificate.is_none())
        );
    }

    #[test]
    fn a_smaller_batch_size_moves_only_the_overflow() {
        let names = ["a.example", "b.example", "c.example", "d.example"];
        let four = planned(&names, &Lock::new(), 4);
        assert!(
            four.domains
                .iter()
                .all(|d| d.certificate.as_deref() == Some("mtasts-0001"))
        );
        let two = planned(&names, &four.lock, 2);
        assert_eq!(
            batches(&two)
                .into_iter()
                .map(|(_, b)| b)
                .collect::<Vec<_>>(),
            ["mtasts-0001", "mtasts-0001", "mtasts-0002", "mtasts-0002"]
        );
        assert_eq!(number("mtasts-0012"), Some(12));
        assert_eq!(number("mtasts-12"), None);
        assert_eq!(number("other"), None);
    }
}
