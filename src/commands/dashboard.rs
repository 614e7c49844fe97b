//! `mtasts dashboard`: the static site of every domain's state, from the plan, the report store
//! and (optionally) a `check --format json` result.

use std::path::{Path, PathBuf};

use super::{Paths, Ui};
use crate::cli::DashboardArgs;
use crate::dashboard::{self, CheckVerdict, Collector, DomainView};
use crate::error::Error;
use crate::model::Mode;
use crate::project::Project;

/// Writes the pages that changed and removes the pages of domains no longer configured.
pub(crate) fn run(ctx: &Paths, args: &DashboardArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let Project {
        plan, now, lock, ..
    } = Project::load(ctx, ui)?;
    let mut store = crate::report::store::open(&args.store, ctx.config_dir())?;
    let mut collector = Collector::default();
    store.reports(chrono::DateTime::<chrono::Utc>::MIN_UTC, &mut |r| {
        collector.add(r)
    })?;
    let (mut summaries, mut daily) = collector.finish();
    let checks = match &args.check {
        Some(file) => verdicts(file)?,
        None => Default::default(),
    };
    let mut views: Vec<DomainView> = plan
        .domains
        .iter()
        .map(|d| {
            let name = d.domain.name.as_str();
            let mut view = view(d, &plan, &lock, summaries.remove(name), args.days);
            view.check = checks.get(name).cloned();
            view.daily = daily.remove(name).unwrap_or_default();
            view
        })
        .collect();
    views.sort_by(|a, b| a.severity().cmp(&b.severity()).then(a.name.cmp(&b.name)));
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| ctx.config_dir().join("output/dashboard"));
    let pages_dir = out.join("domains");
    std::fs::create_dir_all(&pages_dir).map_err(Error::io(&pages_dir))?;
    let listed: Vec<&DomainView> = views.iter().collect();
    let index = dashboard::index_pages(&listed, now);
    let mut outcomes: Vec<Result<bool, Error>> = index
        .iter()
        .map(|(name, text)| write_if_changed(&out.join(name), text.as_bytes()))
        .collect();
    // Pages are rendered and compared on every core: at 100,000 domains this is I/O.
    outcomes.extend(crate::parallel::pool(
        &views,
        crate::parallel::threads(),
        |v| {
            let path = pages_dir.join(format!("{}.html", v.name));
            write_if_changed(&path, dashboard::domain_page(v).as_bytes())
        },
    ));
    let mut written = 0usize;
    for outcome in outcomes {
        written += usize::from(outcome?);
    }
    let unchanged = index.len() + views.len() - written;
    let removed = prune(&out, &views, index.len())?;
    ui.out(&format!(
        "dashboard: {written} page(s) written, {unchanged} unchanged, {removed} removed in {}",
        out.display()
    ));
    Ok(())
}

/// The verdict per domain in a `check --format json` result: the worst status of its checks
/// and MX probes, and the details of those not ok.
fn verdicts(file: &Path) -> Result<std::collections::HashMap<String, CheckVerdict>, Error> {
    let text = std::fs::read_to_string(file).map_err(Error::io(file))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::setup(format!("--check {}: not check's JSON", file.display()), e))?;
    let mut out = std::collections::HashMap::new();
    for d in doc["domains"].as_array().into_iter().flatten() {
        let Some(name) = d["domain"].as_str() else {
            continue;
        };
        let mut worst = "ok";
        let mut problems = Vec::new();
        let mut certificates: std::collections::BTreeMap<String, (String, i64)> =
            std::collections::BTreeMap::new();
        for m in d["mx"].as_array().into_iter().flatten() {
            if let (Some(host), Some(until), Some(days)) = (
                m["host"].as_str(),
                m["not_after"].as_str(),
                m["days_left"].as_i64(),
            ) {
                let e = certificates
                    .entry(host.to_string())
                    .or_insert((until.to_string(), days));
                if days < e.1 {
                    *e = (until.to_string(), days);
                }
            }
        }
        for c in d["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(d["mx"].as_array().into_iter().flatten())
        {
            let status = c["status"].as_str().unwrap_or("ok");
            if status == "fail" || (status == "warn" && worst == "ok") {
                worst = if status == "fail" { "fail" } else { "warn" };
            }
            if status != "ok" {
                problems.push(format!(
                    "{}: {}",
                    c["check"].as_str().or(c["host"].as_str()).unwrap_or(""),
                    c["detail"].as_str().unwrap_or("")
                ));
            }
        }
        out.insert(
            name.to_string(),
            CheckVerdict {
                status: worst.to_string(),
                problems,
                certificates: certificates
                    .into_iter()
                    .map(|(host, (until, days))| (host, until, days))
                    .collect(),
            },
        );
    }
    Ok(out)
}

/// Writes `bytes` to `path` unless it already holds them (a temp file beside it, renamed
/// over it, so a web server never serves half a page); says whether it wrote. No fsync: a
/// page lost to a power cut is written again by the next run.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, Error> {
    use std::io::Write as _;
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(crate::output::TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The web server reads the pages as another user.
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(Error::io(dir))?;
    tmp.write_all(bytes).map_err(Error::io(path))?;
    tmp.persist(path).map_err(|e| Error::io(path)(e.error))?;
    Ok(true)
}

/// Removes the pages of domains no longer listed and index pages past the last one.
fn prune(out: &Path, views: &[DomainView], pages: usize) -> Result<usize, Error> {
    let keep: std::collections::HashSet<PathBuf> = views
        .iter()
        .map(|v| out.join(format!("domains/{}.html", v.name)))
        .collect();
    let mut removed = 0;
    let domains = out.join("domains");
    for entry in std::fs::read_dir(&domains).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "html") && !keep.contains(&path) {
            std::fs::remove_file(&path).map_err(Error::io(&path))?;
            removed += 1;
        }
    }
    for n in (pages + 1).max(2).. {
        let path = out.join(format!("index-{n}.html"));
        if !path.exists() {
            break;
        }
        std::fs::remove_file(&path).map_err(Error::io(&path))?;
        removed += 1;
    }
    Ok(removed)
}

/// What the dashboard shows of `d`: its state, records, reasons, alarms and DANE keys (its
/// check verdict and daily sessions are the caller's to fill in).
fn view(
    d: &crate::plan::DomainPlan,
    plan: &crate::plan::Plan,
    lock: &crate::lock::Lock,
    summary: Option<crate::report::DomainSummary>,
    days: usize,
) -> DomainView {
    let mode = if d.domain.retire {
        Mode::None
    } else {
        d.domain.mode
    };
    let name = d.domain.name.as_str().to_string();
    let (ready, mut reasons) = summary.as_ref().map_or((None, Vec::new()), |s| {
        crate::report::readiness(s, mode, days)
    });
    // The `_mta-sts` id comes from the lock only, as in `records`: never one made up from the
    // clock for a domain no build has written.
    let lock_id = lock.domains.get(name.as_str()).map(|e| e.id.to_string());
    match &lock_id {
        None => reasons.push(
            "never built: run `mtasts build` and deploy the policy; its _mta-sts record exists only then".into(),
        ),
        Some(_) if plan.due.contains(&name) => reasons.push(
            "a scheduled transition is due: run `mtasts build` and deploy".into(),
        ),
        Some(_) if !plan.built(&name) => reasons.push(
            "the config changed since the last build: run `mtasts build` and deploy, then publish the new id".into(),
        ),
        Some(_) => {}
    }
    let alarms = summary
        .as_ref()
        .map_or(Vec::new(), |s| crate::report::alarms(s, mode));
    let (dane_warnings, dane) = dane_of(&plan.dane, &d.domain);
    reasons.extend(dane_warnings);
    DomainView {
        mode: mode.as_str(),
        stage: d.stage.as_str(),
        records: d
            .records()
            .iter()
            .filter_map(|r| {
                let rdata = if r.owner.starts_with("_mta-sts.") && r.rtype == "TXT" {
                    format!("\"v=STSv1; id={}\"", lock_id.as_deref()?)
                } else {
                    r.rdata.clone()
                };
                Some(format!("{} {} IN {} {rdata}", r.owner, r.ttl, r.rtype))
            })
            .collect(),
        check: None,
        daily: Default::default(),
        summary,
        ready,
        reasons,
        alarms,
        dane,
        name,
    }
}

/// The DANE warnings and keys of the `[dane]` hosts that `domain`'s mx patterns cover.
fn dane_of(
    dane: &crate::dane::DanePlan,
    domain: &crate::model::Domain,
) -> (Vec<String>, Vec<dashboard::DaneKeyView>) {
    let hosts: Vec<&crate::dane::HostPlan> = dane
        .hosts
        .iter()
        .filter(|h| domain.mx.iter().any(|p| p.matches(&h.host)))
        .collect();
    let warnings = dane
        .warnings
        .iter()
        .filter(|w| hosts.iter().any(|h| h.host == w.domain))
        .map(|w| w.text.clone())
        .collect();
    (warnings, hosts.iter().flat_map(|h| dane_keys(h)).collect())
}

/// Each published key of `h`, with the date that matters for it.
fn dane_keys(h: &crate::dane::HostPlan) -> Vec<dashboard::DaneKeyView> {
    h.keys
        .iter()
        .map(|k| dashboard::DaneKeyView {
            host: h.host.clone(),
            role: k.role.as_str(),
            tlsa: format!("{} {}", k.tlsa, k.sha256),
            published: k.published,
            until: match k.role {
                crate::lock::KeyRole::Next => Some(h.safe_from(k)),
                crate::lock::KeyRole::Leaving => k.retired.map(|t| t + h.hold()),
                crate::lock::KeyRole::Live => None,
            },
        })
        .collect()
}
