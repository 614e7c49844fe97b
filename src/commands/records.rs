//! `mtasts records`: what to publish in DNS, from the same plan as `build`, in the form asked
//! for; writes nothing.

use super::{Paths, Ui};
use crate::cli::{RecordsArgs, RecordsFormat};
use crate::error::Error;
use crate::plan::DomainPlan;
use crate::targets::dns;

/// How far a domain's records are from what the lock says is published.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Built {
    /// Built as configured: the lock's id is the plan's.
    Yes,
    /// The config changed since the last build: the lock's id, marked pending.
    Pending,
    /// Never built: no id exists, so no `_mta-sts` record is printed.
    Never,
}

/// One row of `--format json`, with `"pending": true` when its domain's config changed since
/// the last build.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    row: &'a dns::Row,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
}

/// Prints the records of the published domains (or those named). The `_mta-sts` id comes from
/// `domains.lock` only: a printed id is one a build wrote, never one made up from the clock.
/// Kept whole: one streaming loop writes every format, the per-format text one match in it.
pub(crate) fn run(ctx: &Paths, args: &RecordsArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let project = crate::project::Project::load(ctx, ui)?;
    let plan = &project.plan;
    let selected = super::select(plan, &args.domains)?;
    let published: Vec<(&DomainPlan, Built, &str)> = selected
        .iter()
        .filter(|d| d.published())
        .map(|d| {
            let name = d.domain.name.as_str();
            match project.lock.domains.get(name) {
                Some(e) if plan.lock_changes.iter().all(|c| c != name) && *e.id == *d.id => {
                    (*d, Built::Yes, &*e.id)
                }
                Some(e) => (*d, Built::Pending, &*e.id),
                None => (*d, Built::Never, ""),
            }
        })
        .collect();
    let named = |which: Built| -> Vec<&str> {
        published
            .iter()
            .filter(|(_, b, _)| *b == which)
            .map(|(d, _, _)| d.domain.name.as_str())
            .collect()
    };
    let (pending, never) = (named(Built::Pending), named(Built::Never));
    let dane_pending = plan.dane.changed && args.domains.is_empty();
    warn_unbuilt(&pending, &never, dane_pending, ui);
    // Streamed domain by domain: at 100,000 domains the whole text is tens of MB.
    ui.out_streamed(&mut |w| {
        let mut first = true;
        let mut held = false;
        match args.format {
            RecordsFormat::Json => w.write_all(b"{\"records\": [")?,
            RecordsFormat::Csv => {
                w.write_all(dns::CSV_HEADER.trim_end().as_bytes())?;
                held = true;
            }
            _ => {}
        }
        let domains = published.iter().map(|&(d, built, id)| {
            let name = d.domain.name.as_str();
            let mut records = crate::records::for_domain(&d.domain, id);
            if built == Built::Never {
                let sts = format!("_mta-sts.{name}.");
                records.retain(|r| r.owner != sts);
            }
            (name, records, built == Built::Pending)
        });
        let dane = dane_items(plan, args);
        for (name, records, pending) in domains.chain(dane) {
            let rows = dns::rows(name, &records);
            let text = match args.format {
                RecordsFormat::Text => {
                    let sep = if first { "" } else { "\n" };
                    format!("{sep}{}", dns::text(&rows))
                }
                RecordsFormat::Zone => dns::zone(&records),
                RecordsFormat::Csv => dns::csv(&rows),
                RecordsFormat::Octodns => format!("# zone {name}.\n{}", dns::octodns(&rows)),
                RecordsFormat::Dnscontrol => dns::dnscontrol(name, &rows),
                RecordsFormat::Json => {
                    let mut json = String::new();
                    for row in &rows {
                        json.push_str(if first { "\n  " } else { ",\n  " });
                        first = false;
                        let row = JsonRow { row, pending };
                        json.push_str(&serde_json::to_string(&row).map_err(std::io::Error::from)?);
                    }
                    json
                }
            };
            first = false;
            // The stream ends without a line break, which `out_streamed` adds: each chunk's
            // last one is written when the next chunk comes.
            if held {
                w.write_all(b"\n")?;
            }
            held = text.ends_with('\n');
            w.write_all(text.strip_suffix('\n').unwrap_or(&text).as_bytes())?;
        }
        if args.format == RecordsFormat::Json {
            w.write_all(b"\n]}")?;
        }
        Ok(())
    });
    if args.locked && !(pending.is_empty() && never.is_empty() && !dane_pending) {
        return Err(Error::LockedWouldChange {
            lock: ctx.lock().0,
            domains: pending
                .iter()
                .chain(&never)
                .map(|d| d.to_string())
                .collect(),
        });
    }
    Ok(())
}

/// Says which records are not what the last build published: domains whose config changed
/// (`pending`), domains never built, and `[dane]` keys that changed.
fn warn_unbuilt(pending: &[&str], never: &[&str], dane_pending: bool, ui: &mut dyn Ui) {
    if !pending.is_empty() {
        ui.warn(&format!(
            "{}: the config changed since the last build; their _mta-sts record shows the id domains.lock holds (pending): run `mtasts build`, deploy the policy, then publish the new id",
            some(pending)
        ));
    }
    if !never.is_empty() {
        ui.warn(&format!(
            "{}: never built, so no _mta-sts record is printed (an id exists only once a build writes it): run `mtasts build` and deploy the policy first",
            some(never)
        ));
    }
    if dane_pending {
        ui.warn(
            "the [dane] keys changed since the last build; the TLSA records shown are the next build's (pending): run `mtasts build` and publish output/dns/dane/",
        );
    }
}

/// The [dane] hosts' TLSA records, under their zones, when no domain is named: (zone,
/// records, pending).
fn dane_items<'p>(
    plan: &'p crate::plan::Plan,
    args: &RecordsArgs,
) -> impl Iterator<Item = (&'p str, Vec<crate::records::Record>, bool)> {
    let all = args.domains.is_empty();
    plan.dane
        .hosts
        .iter()
        .filter(move |_| all)
        .map(|h| (h.zone.as_str(), h.records(), plan.dane.changed))
}

/// `names` for one line: the count and at most three of them.
fn some(names: &[&str]) -> String {
    match names {
        [one] => (*one).to_string(),
        _ => {
            let shown = names[..names.len().min(super::NAMED)].join(", ");
            let more = names.len().saturating_sub(super::NAMED);
            if more > 0 {
                format!("{} domains ({shown} and {more} more)", names.len())
            } else {
                format!("{} domains ({shown})", names.len())
            }
        }
    }
}
