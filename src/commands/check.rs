//! `mtasts check`: the live DNS and HTTPS of each domain against the plan, concurrently with a
//! bound, each lookup and request with a timeout; exit 1 on any failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Context, Ui};
use crate::check::{self, Line, Status};
use crate::cli::{CheckArgs, Format};
use crate::config;
use crate::dns::Dns;
use crate::error::Error;
use crate::fetch::Fetcher;
use crate::plan::{self, DomainPlan};
use crate::state::Lock;

/// Domains checked at the same time.
const PARALLEL: usize = 8;

/// Checks the selected domains and prints one block per domain.
pub fn run(ctx: &Context, args: &CheckArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let loaded = config::load(&ctx.config, &ctx.config_name)?;
    let (lock_path, lock_name) = ctx.lock();
    let lock = Lock::load(&lock_path, &lock_name)?.unwrap_or_default();
    let now = crate::clock::now()?;
    let plan = plan::plan(loaded.config.domains.clone(), &lock, now, &[]);
    let selected: Vec<&DomainPlan> = super::select(&plan, &args.domains)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let dns = Arc::new(Dns::new(args.nameserver, timeout).map_err(Error::Setup)?);
    let fetcher = Fetcher::new(
        dns.clone(),
        args.ca_file.as_deref(),
        args.connect_to.clone(),
        timeout,
    )
    .map_err(Error::Setup)?;
    let results = check_all(&selected, &plan, &lock, &dns, &fetcher);
    let failures = results
        .iter()
        .flat_map(|(_, l)| l)
        .filter(|l| l.status == Status::Fail)
        .count();
    match args.format {
        Format::Text => print_text(&results, ui),
        Format::Json => {
            let domains: Vec<_> = results
                .iter()
                .map(|(d, lines)| serde_json::json!({ "domain": d, "checks": lines }))
                .collect();
            ui.out(
                &serde_json::to_string_pretty(
                    &serde_json::json!({ "ok": failures == 0, "domains": domains }),
                )
                .expect("check results serialise"),
            );
        }
    }
    if failures > 0 {
        return Err(Error::CheckFailed(failures));
    }
    Ok(())
}

/// Every selected domain's verdicts, in input order, `PARALLEL` at a time.
fn check_all(
    selected: &[&DomainPlan],
    plan: &plan::Plan,
    lock: &Lock,
    dns: &Dns,
    fetcher: &Fetcher,
) -> Vec<(String, Vec<Line>)> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, String, Vec<Line>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARALLEL.min(selected.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(d) = selected.get(i) else { break };
                        let name = d.domain.name.to_string();
                        let lines = if d.published() {
                            let built = !plan.lock_changes.contains(&name);
                            let live = check::observe(dns, fetcher, &name);
                            check::judge(d, lock.domains.get(&name), built, &live)
                        } else {
                            vec![Line {
                                check: "stage",
                                status: Status::Note,
                                detail: format!(
                                    "{}: nothing is published, nothing to check",
                                    d.stage.as_str()
                                ),
                                fix: None,
                            }]
                        };
                        done.push((i, name, lines));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, d, l)| (d, l)).collect()
}

fn print_text(results: &[(String, Vec<Line>)], ui: &mut dyn Ui) {
    for (domain, lines) in results {
        ui.out(domain);
        for l in lines {
            ui.out(&format!(
                "  {:7}  {:6}  {}",
                l.status.word(),
                l.check,
                l.detail
            ));
            if let Some(fix) = &l.fix {
                ui.out(&format!("  {:7}  {:6}  fix: {fix}", "", ""));
            }
        }
    }
    let failed = results
        .iter()
        .filter(|(_, l)| l.iter().any(|l| l.status == Status::Fail))
        .count();
    ui.out(&format!(
        "checked {} domain(s): {} without failures, {failed} with failures",
        results.len(),
        results.len() - failed
    ));
}
