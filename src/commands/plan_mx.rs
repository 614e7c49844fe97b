//! `mtasts plan-mx`: the dated steps of moving a domain's MX hosts, from where the lock says
//! the move stands.

use super::{Paths, Ui};
use crate::cli::PlanMxArgs;
use crate::error::Error;
use crate::names::MxPattern;
use crate::plan::mx_move::{Move, Stage, stage, steps};

/// Prints the steps left.
pub(crate) fn run(ctx: &Paths, args: &PlanMxArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let project = crate::project::Project::load(ctx, ui)?;
    let d = *super::select(&project.plan, std::slice::from_ref(&args.domain))?
        .first()
        .ok_or_else(|| Error::Setup(format!("{} is not configured", args.domain)))?;
    let patterns = |hosts: &[String]| {
        hosts
            .iter()
            .map(|h| {
                MxPattern::parse(h).map_err(|e| {
                    Error::Setup(format!(
                        "{}: not an MX host or pattern: {} ({})",
                        crate::ui::printable(h),
                        e.message,
                        e.help
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let (add, remove) = (patterns(&args.add)?, patterns(&args.remove)?);
    let name = d.domain.name.as_str();
    let published = project.lock.domains.get(name);
    let configured: Vec<String> = d.domain.mx.iter().map(ToString::to_string).collect();
    if published.is_some_and(|e| *e.mx != *configured) {
        ui.warn(&format!(
            "{name}: the config's mx ({}) is not what the last build published; the steps count from the published policy, so build first if the config is the step you meant",
            configured.join(", ")
        ));
    }
    let m = Move {
        published,
        add: &add,
        remove: &remove,
        ttl: d.domain.ttl,
    };
    let at = stage(&m, project.now);
    // A finished move no longer lists the hosts it removed; before that, each must be there.
    if let Some(unknown) = remove.iter().filter(|_| at != Stage::Done).find(|r| {
        !configured.contains(&r.to_string())
            && !published.is_some_and(|e| e.mx.contains(&r.to_string()))
    }) {
        return Err(Error::Setup(format!(
            "{unknown} is not among the mx of {name} ({}): nothing to remove",
            configured.join(", ")
        )));
    }
    if d.mode() == crate::model::Mode::Testing {
        ui.out(&format!(
            "{name} is in testing mode: senders report but do not refuse, so the dates are for clean reports and for a later enforce"
        ));
    }
    for line in steps(name, &at, &m) {
        ui.out(&line);
    }
    Ok(())
}
