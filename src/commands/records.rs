//! `mtasts records`: what to publish in DNS, from the same plan as `build`, in the form asked
//! for; writes nothing.

use super::{Context, Ui};
use crate::cli::{RecordsArgs, RecordsFormat};
use crate::error::Error;
use crate::targets::dns;

/// Plans against the lock and prints the records of the published domains (or those named).
pub fn run(ctx: &Context, args: &RecordsArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let plan = crate::project::Project::load(ctx, ui)?.plan;
    let selected = super::select(&plan, &args.domains)?;
    let published = selected.iter().filter(|d| d.published());
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
        for d in published.clone() {
            let name = d.domain.name.as_str();
            let records = crate::records::for_domain(&d.domain, &d.id);
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
                        json.push_str(&serde_json::to_string(row).map_err(std::io::Error::from)?);
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
    Ok(())
}
