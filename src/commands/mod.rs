//! Thin adapters from parsed arguments to the library; they report through [`Ui`].

pub(crate) mod build;
pub(crate) mod certificates;
pub(crate) mod check;
pub(crate) mod dashboard;
pub(crate) mod generated;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod plan_mx;
pub(crate) mod receive;
pub(crate) mod records;
pub(crate) mod report;
pub(crate) mod status;
pub(crate) mod templates;
pub(crate) mod validate;
pub(crate) mod watch;

pub(crate) use crate::paths::Paths;
pub(crate) use crate::ui::Ui;

/// Names shown for a group of warnings; the rest are counted.
const NAMED: usize = 3;

/// Prints a plan's warnings (notes on stdout, warnings on stderr). Warnings of one kind with
/// one cause (the text after `<domain>: `) are one line, with their count and at most three
/// domains: 3,000 domains sharing a wildcard mx make one line, not 3,000.
pub(crate) fn show_warnings(warnings: &[crate::plan::Warning], ui: &mut dyn Ui) {
    let mut groups: Vec<(&crate::plan::Warning, &str, Vec<&str>)> = Vec::new();
    let mut index: std::collections::HashMap<(crate::plan::WarningKind, &str), usize> =
        std::collections::HashMap::new();
    for w in warnings {
        let cause = w
            .text
            .strip_prefix(w.domain.as_str())
            .and_then(|t| t.strip_prefix(": "))
            .unwrap_or(&w.text);
        let at = *index.entry((w.kind, cause)).or_insert_with(|| {
            groups.push((w, cause, Vec::new()));
            groups.len() - 1
        });
        groups[at].2.push(&w.domain);
    }
    for (first, cause, domains) in groups {
        let line = match domains.len() {
            1 => first.text.clone(),
            n => {
                let names = domains[..n.min(NAMED)].join(", ");
                let more = if n > NAMED {
                    format!(" and {} more", n - NAMED)
                } else {
                    String::new()
                };
                format!("{n} domains ({names}{more}): {cause}")
            }
        };
        if first.kind.is_note() {
            ui.out(&line);
        } else {
            ui.warn(&line);
        }
    }
}

/// The planned domains named on the command line (A-labels or U-labels), in plan order; all of
/// them when none is named. A name not configured is an error naming it.
pub(crate) fn select<'p>(
    plan: &'p crate::plan::Plan,
    names: &[String],
) -> Result<Vec<&'p crate::plan::DomainPlan>, crate::error::Error> {
    let wanted: Vec<String> = names
        .iter()
        .map(|d| crate::names::normalise_domain(d))
        .collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| {
            !plan
                .domains
                .iter()
                .any(|d| d.domain.name.as_str() == w.as_str())
        })
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(crate::error::Error::NotConfigured(unknown));
    }
    Ok(plan
        .domains
        .iter()
        .filter(|d| wanted.is_empty() || wanted.iter().any(|w| w == d.domain.name.as_str()))
        .collect())
}
