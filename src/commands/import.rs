//! `mtasts import`: each named domain's live deployment as a config table pinning its live id,
//! printed, or with `--write` appended to the config after the whole result validates.

use std::sync::Arc;
use std::time::Duration;

use super::{Paths, Ui};
use crate::cli::ImportArgs;
use crate::error::Error;
use crate::names::DomainName;

/// Reads every domain, then prints or appends the tables.
pub(crate) fn run(ctx: &Paths, args: &ImportArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let domains: Vec<DomainName> = args
        .domains
        .iter()
        .map(|d| {
            DomainName::parse(d).map_err(|e| {
                Error::Setup(format!(
                    "{}: not a domain name: {} ({})",
                    crate::ui::printable(d),
                    e.message,
                    e.help
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    // With --write, an invalid or clashing config is refused before any network traffic.
    let existing = if args.write {
        Some(existing_config(ctx, &domains)?)
    } else {
        None
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let dns = Arc::new(
        crate::dns::Dns::new(args.nameserver, timeout)
            .map_err(|e| Error::setup("the resolver", e))?,
    );
    let fetcher = crate::fetch::Fetcher::new(
        dns.clone(),
        args.ca_file.as_deref(),
        args.connect_to.clone(),
        timeout,
    )
    .map_err(|e| Error::setup("the HTTPS client", e))?;
    let today = crate::clock::now()?.format("%Y-%m-%d").to_string();
    let mut tables = Vec::with_capacity(domains.len());
    for domain in &domains {
        let imported =
            crate::import::read(&dns, &fetcher, domain).map_err(|e| Error::Resolver {
                server: args.nameserver.map_or_else(
                    || "of the system (/etc/resolv.conf)".into(),
                    |a| a.to_string(),
                ),
                message: e.message,
            })?;
        for note in &imported.notes {
            ui.warn(&format!("{domain}: {note}"));
        }
        tables.push(imported.table(&today));
    }
    let text = tables.join("\n");
    match existing {
        Some(old) => {
            append(ctx, &old, &text)?;
            ui.out(&format!(
                "appended {} table(s) to {}; run `mtasts build`: it publishes the live ids",
                tables.len(),
                ctx.config_name
            ));
        }
        None => ui.out(text.trim_end()),
    }
    Ok(())
}

/// The config's text (empty when there is none yet), after checking that it is valid (a config
/// of `[defaults]` and `[nginx]` with no domain yet is fine: the import supplies them) and names
/// none of `domains`.
fn existing_config(ctx: &Paths, domains: &[DomainName]) -> Result<String, Error> {
    let text = match crate::config::load(&ctx.config, &ctx.config_name) {
        Ok(loaded) => {
            let clash: Vec<&str> = domains
                .iter()
                .filter(|d| loaded.config.domains.iter().any(|c| &c.name == *d))
                .map(DomainName::as_str)
                .collect();
            if !clash.is_empty() {
                return Err(Error::Setup(format!(
                    "{} already configured in {}: nothing was written; import only domains the config does not have (or print the table without --write and compare)",
                    clash.join(", "),
                    ctx.config_name
                )));
            }
            loaded.file.text
        }
        Err(Error::NoConfig(_)) => return Ok(String::new()),
        Err(Error::Invalid { file, problems })
            if problems
                .iter()
                .filter(|p| p.level == crate::diag::Level::Error)
                .all(|p| p.message == crate::config::NO_DOMAINS) =>
        {
            file.text
        }
        Err(e) => return Err(e),
    };
    Ok(text.to_string())
}

/// Replaces the config with `old` + `tables` (atomically), once the whole text validates.
fn append(ctx: &Paths, old: &str, tables: &str) -> Result<(), Error> {
    let mut text = old.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(tables);
    if let (None, problems) = crate::config::parse(&text) {
        return Err(Error::Invalid {
            file: crate::diag::SourceFile::new(&ctx.config_name, text),
            problems,
        });
    }
    crate::output::stage_atomic(&ctx.config, |w| w.write_all(text.as_bytes()))?.commit()
}
