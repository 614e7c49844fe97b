//! `mtasts check`: the live DNS, HTTPS and MX hosts of each domain against the plan; exit 1 on
//! any failure.

use std::time::Duration;

use super::{Paths, Ui};
use crate::check::{self, Checked, Expiry, Network, Status};
use crate::cli::{CheckArgs, CheckFormat};
use crate::error::Error;
use crate::plan::DomainPlan;
use crate::project::Project;
use crate::ui::printable;

/// Below this many domains a check is over before a bar would say anything.
const PROGRESS_FROM: usize = 200;

/// Checks the selected domains and prints one block per domain.
pub(crate) fn run(ctx: &Paths, args: &CheckArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let Project {
        lock, plan, loaded, ..
    } = Project::load(ctx, ui)?;
    let nginx = (loaded.config.targets.contains(&crate::model::Target::Nginx))
        .then_some(loaded.config.nginx.vhosts);
    let selected: Vec<&DomainPlan> = super::select(&plan, &args.domains)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let net = Network::new(check::Settings {
        nameserver: args.nameserver,
        ca_file: args.ca_file.as_deref(),
        connect_to: args.connect_to.clone(),
        smtp_port: args.smtp_port,
        smtp_connect: args.smtp_connect.clone(),
        timeout,
        smtp: !args.no_smtp,
        trust_anchor: args.trust_anchor.as_deref(),
    })
    .map_err(|e| Error::setup("check's DNS and HTTPS clients", e))?;
    let at = Expiry {
        now: crate::clock::wall(),
        warn_days: i64::from(args.expiry_days),
    };
    let progress = crate::ui::progress_bar(
        args.format == CheckFormat::Text,
        selected.len(),
        PROGRESS_FROM,
        "checking",
    );
    let results = check::check_all(&selected, &plan, &lock, &net, at, &progress, nginx);
    progress.finish_and_clear();
    let results = results.map_err(|e| Error::Resolver {
        server: args.nameserver.map_or_else(
            || "of the system (/etc/resolv.conf)".into(),
            |a| a.to_string(),
        ),
        message: e.0,
    })?;
    let failures = results
        .iter()
        .flat_map(|r| &r.lines)
        .filter(|l| l.status == Status::Fail)
        .count();
    match args.format {
        CheckFormat::Text => print_text(&results, args.no_smtp, ui),
        CheckFormat::Json => {
            // Streamed: a tree of JSON values for a fleet would cost more than the check.
            let doc = Document {
                ok: failures == 0,
                smtp: if args.no_smtp { "skipped" } else { "probed" },
                domains: results
                    .iter()
                    .map(|r| DomainDocument {
                        domain: &r.domain,
                        checks: &r.lines,
                        mx: &r.mx,
                    })
                    .collect(),
            };
            ui.out_streamed(&mut |w| {
                serde_json::to_writer_pretty(w, &doc).map_err(std::io::Error::other)
            });
        }
        CheckFormat::Prometheus => {
            let text = check::prometheus::render(&results, at.now);
            ui.out(text.trim_end());
        }
    }
    if failures > 0 {
        return Err(Error::CheckFailed(failures));
    }
    Ok(())
}

/// `check --format json`.
#[derive(serde::Serialize)]
struct Document<'a> {
    ok: bool,
    smtp: &'static str,
    domains: Vec<DomainDocument<'a>>,
}

#[derive(serde::Serialize)]
struct DomainDocument<'a> {
    domain: &'a str,
    checks: &'a [check::Line],
    mx: &'a [check::MxReport],
}

fn print_text(results: &[Checked], no_smtp: bool, ui: &mut dyn Ui) {
    if no_smtp {
        ui.out("MX hosts not probed (--no-smtp): their STARTTLS and certificates are unchecked");
    }
    for r in results {
        ui.out(&r.domain);
        for l in &r.lines {
            // Details quote TXT records and server answers: escaped for the terminal.
            ui.out(&printable(&format!(
                "  {:7}  {:7}  {}",
                l.status.word(),
                l.check.word(),
                l.detail
            )));
            if let Some(fix) = &l.fix {
                ui.out(&printable(&format!("  {:7}  {:7}  fix: {fix}", "", "")));
            }
        }
    }
    let failed = results
        .iter()
        .filter(|r| r.lines.iter().any(|l| l.status == Status::Fail))
        .count();
    ui.out(&format!(
        "checked {} domain(s): {} without failures, {failed} with failures",
        results.len(),
        results.len() - failed
    ));
}
