//! `mtasts build`: one library build, printed as a summary or as JSON.

use serde::Serialize;

use super::{Paths, Ui};
use crate::build::{Built, Options};
use crate::cli::{BuildArgs, Format};
use crate::error::Error;
use crate::model::Target;
use crate::plan::{self, Change};

/// Runs one build (or dry run) under the work lock and reports through `ui`.
pub(crate) fn run(ctx: &Paths, args: &BuildArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let built = crate::build::build(ctx, &options(args), ui)?;
    match args.format {
        Format::Text if args.quiet => {
            let warnings: Vec<plan::Warning> = built
                .plan
                .warnings
                .iter()
                .filter(|w| !w.kind.is_note())
                .cloned()
                .collect();
            super::show_warnings(&warnings, ui);
        }
        Format::Text => text(&built, ui),
        Format::Json => ui.out_streamed(&mut |w| json(&built, w)),
    }
    // The process ends here: letting exit free 100,000 domains' worth of small allocations
    // is faster than dropping them one by one.
    std::mem::forget(built);
    Ok(())
}

/// The library's options from the command line.
fn options(args: &BuildArgs) -> Options {
    Options {
        output: args.output.clone(),
        locked: args.locked,
        dry_run: args.dry_run,
        verify: args.verify,
        forget: args.forget.clone(),
        wait: args.wait,
        progress: !args.quiet && args.format == Format::Text,
    }
}

/// New or changed domains listed by name in the text summary; the rest are counted.
const LISTED: usize = 50;

/// The summary a person reads.
/// One line per part of the summary, in the order a person reads them.
fn text(built: &Built, ui: &mut dyn Ui) {
    let count = |c: Change| built.plan.domains.iter().filter(|d| d.change == c).count();
    let width = built
        .plan
        .domains
        .iter()
        .filter(|d| d.change != Change::Unchanged)
        .take(LISTED)
        .map(|d| d.domain.name.as_str().len())
        .max()
        .unwrap_or(0);
    let changed = built.plan.domains.len() - count(Change::Unchanged);
    for d in built
        .plan
        .domains
        .iter()
        .filter(|d| d.change != Change::Unchanged)
        .take(LISTED)
    {
        let change = if d.change == Change::New {
            "new"
        } else {
            "changed"
        };
        ui.out(&format!(
            "{:width$}  {:7}  id {}  ({change})",
            d.domain.name.as_str(),
            d.mode().as_str(),
            d.id
        ));
    }
    super::show_warnings(&built.plan.warnings, ui);
    if changed > LISTED {
        ui.out(&format!(
            "... and {} more new or changed domain(s) (--format json lists all)",
            changed - LISTED
        ));
    }
    let verb = if built.dry_run {
        "would write"
    } else {
        "wrote"
    };
    if built.dry_run {
        for p in &built.report.written {
            ui.out(&format!("would write {p}"));
        }
        for p in &built.report.removed {
            ui.out(&format!("would remove {p}"));
        }
    }
    if !built.dry_run {
        for p in built.report.repaired.iter().take(LISTED) {
            ui.out(&format!(
                "repaired {p}: deleted, replaced or edited since the last build"
            ));
        }
        if built.report.repaired.len() > LISTED {
            ui.out(&format!(
                "... and {} more repaired file(s) (--format json lists all)",
                built.report.repaired.len() - LISTED
            ));
        }
    }
    let repaired = match built.report.repaired.len() {
        0 => String::new(),
        n => format!(" ({n} repaired)"),
    };
    ui.out(&format!(
        "{} domain(s): {} new, {} changed, {} unchanged; {verb} {} file(s){repaired}, {} unchanged, {} removed in {}{} ({} ms)",
        built.plan.domains.len(),
        count(Change::New),
        count(Change::Changed),
        count(Change::Unchanged),
        built.report.written.len(),
        built.report.unchanged,
        built.report.removed.len(),
        built.out.display(),
        if built.lock_changed && !built.dry_run { "; lock updated" } else { "" },
        built.millis,
    ));
    if count(Change::Unchanged) < built.plan.domains.len() && !built.dry_run {
        ui.out(&next_steps(&built.targets));
    }
}

/// What to do after a build that changed something, for the targets it built: policies first,
/// DNS second (RFC 8461 §8.1).
fn next_steps(targets: &[Target]) -> String {
    let steps: Vec<&str> = targets
        .iter()
        .filter_map(|t| {
            crate::targets::REGISTRY
                .iter()
                .find(|e| e.target() == *t)?
                .deploy_step()
        })
        .collect();
    let policies = match steps.split_last() {
        None => "publish the policies".to_string(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    if targets.contains(&Target::Dns) {
        format!(
            "next: {policies}, then publish the dns/ records (RFC 8461 §8.1: policy first, TXT id second)"
        )
    } else {
        format!(
            "next: {policies}, then publish each domain's _mta-sts TXT record with its new id (RFC 8461 §8.1: policy first, TXT id second)"
        )
    }
}

/// The summary as pretty JSON (keys sorted, as `serde_json::Value` would give them),
/// streamed: at 100,000 domains it is tens of MB.
fn json(built: &Built, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    /// One domain's line of the summary.
    #[derive(Serialize)]
    struct Domain<'a> {
        change: Change,
        changed: bool,
        domain: &'a str,
        id: &'a str,
        mode: &'static str,
        remove_after: Option<chrono::DateTime<chrono::Utc>>,
        stage: &'static str,
    }
    /// Every domain, serialised as they are visited.
    struct Domains<'a>(&'a [plan::DomainPlan]);
    impl Serialize for Domains<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|d| Domain {
                change: d.change,
                changed: d.change != Change::Unchanged,
                domain: d.domain.name.as_str(),
                id: &d.id,
                mode: d.mode().as_str(),
                remove_after: d.remove_after,
                stage: d.stage.as_str(),
            }))
        }
    }
    #[derive(Serialize)]
    struct Files<'a> {
        removed: &'a [String],
        repaired: &'a [String],
        unchanged: usize,
        written: &'a [String],
    }
    #[derive(Serialize)]
    struct Summary<'a> {
        domains: Domains<'a>,
        dry_run: bool,
        files: Files<'a>,
        /// Policy hosts left out of the nginx output until their certificate exists.
        left_out_of_nginx: &'a [String],
        lock_changed: bool,
        output: String,
        warnings: &'a [plan::Warning],
    }
    let summary = Summary {
        domains: Domains(&built.plan.domains),
        dry_run: built.dry_run,
        files: Files {
            removed: &built.report.removed,
            repaired: &built.report.repaired,
            unchanged: built.report.unchanged,
            written: &built.report.written,
        },
        left_out_of_nginx: &built.report.left_out,
        lock_changed: built.lock_changed,
        output: built.out.display().to_string(),
        warnings: &built.plan.warnings,
    };
    // serde_json makes many small writes: buffered here, they are not each a virtual call.
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    serde_json::to_writer_pretty(&mut w, &summary).map_err(std::io::Error::from)?;
    std::io::Write::flush(&mut w)
}
