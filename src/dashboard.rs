//! `mtasts dashboard`: a static, self-contained site of every domain's state. An index with
//! problems first, and a page per domain with its daily sessions as inline SVG (and the same
//! numbers as a table, for screen readers and for copying), its failures by type and MX, its
//! stage and the records to publish. No script, no external URL, light and dark by
//! `prefers-color-scheme`. Every name a reporter chose is HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use crate::report::{DomainSummary, PolicyType, Report, Summaries};

/// Rows per index page: a page of this many renders in a browser in about a second.
pub(crate) const PAGE: usize = 10_000;

/// One domain as the dashboard shows it.
pub(crate) struct DomainView {
    /// A-label name.
    pub name: String,
    /// `none`, `testing` or `enforce` (what is published).
    pub mode: &'static str,
    /// Lifecycle stage from the lock.
    pub stage: &'static str,
    /// The DNS records to publish, as zone-file lines.
    pub records: Vec<String>,
    /// The last `check`'s verdict, if one was given.
    pub check: Option<CheckVerdict>,
    /// The reports' summary, if any report named the domain.
    pub summary: Option<DomainSummary>,
    /// Successful and failed sessions per UTC day.
    pub daily: Daily,
    /// Ready for enforce (testing domains), and why not.
    pub ready: Option<bool>,
    /// What blocks it or needs attention now.
    pub reasons: Vec<String>,
    /// ALARM lines (senders do not see the policy).
    pub alarms: Vec<String>,
    /// The DANE keys of the `[dane]` MX hosts its mx patterns cover, with their dates.
    pub dane: Vec<DaneKeyView>,
}

/// One published DANE key of an MX host, with the date that matters for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaneKeyView {
    /// The MX host.
    pub host: String,
    /// `live`, `next` or `leaving`.
    pub role: &'static str,
    /// TLSA parameters and digest.
    pub tlsa: String,
    /// When its record first went out.
    pub published: DateTime<Utc>,
    /// The next key: from when switching to it is safe; a leaving key: until when it stays.
    pub until: Option<DateTime<Utc>>,
}

impl DomainView {
    /// How urgent: 0 a failing check, 1 an alarm, 2 a check warning, a testing domain not
    /// ready or a regression under enforce, 3 fine. The index lists the lowest first.
    pub(crate) fn severity(&self) -> u8 {
        let check = self.check.as_ref().map(|c| c.status.as_str());
        if check == Some("fail") {
            0
        } else if !self.alarms.is_empty() {
            1
        } else if check == Some("warn") || !self.reasons.is_empty() {
            2
        } else {
            3
        }
    }

    fn verdict(&self) -> &'static str {
        match self.severity() {
            0 => "FAIL",
            1 => "ALARM",
            2 => "attention",
            _ => "ok",
        }
    }
}

/// What the last `check --format json` said of a domain.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckVerdict {
    /// `ok`, `warn` or `fail`: the worst of its checks and MX probes.
    pub status: String,
    /// The checks and probes not ok, each with its detail.
    pub problems: Vec<String>,
    /// Per MX host, the earliest certificate expiry seen (RFC 3339) and the days left.
    pub certificates: Vec<(String, String, i64)>,
}

/// Successful and failed sessions per UTC day.
pub(crate) type Daily = BTreeMap<NaiveDate, (u64, u64)>;

/// Sums the reports and their daily sessions per policy domain, as they stream by.
#[derive(Default)]
pub(crate) struct Collector {
    summaries: Summaries,
    daily: BTreeMap<String, Daily>,
}

impl Collector {
    /// Adds one report.
    pub(crate) fn add(&mut self, report: Report) {
        self.summaries.add(&report);
        let day = report.start.date_naive();
        for p in report
            .policies
            .iter()
            .filter(|p| p.policy_type == PolicyType::Sts)
        {
            let Some(domain) = &p.domain else { continue };
            let e = self
                .daily
                .entry(domain.clone())
                .or_default()
                .entry(day)
                .or_default();
            e.0 = e.0.saturating_add(p.successful);
            e.1 = e.1.saturating_add(p.failed);
        }
    }

    /// The summaries and the daily series, by domain.
    pub(crate) fn finish(self) -> (BTreeMap<String, DomainSummary>, BTreeMap<String, Daily>) {
        let summaries = self
            .summaries
            .finish()
            .into_iter()
            .map(|s| (s.domain.clone(), s))
            .collect();
        (summaries, self.daily)
    }
}

/// Text safe inside HTML elements and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light dark; --ok: #1a7f37; --fail: #cf222e; --warn: #9a6700; --fg: #1f2328; --bg: #ffffff; --line: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --ok: #3fb950; --fail: #f85149; --warn: #d29922; --fg: #e6edf3; --bg: #0d1117; --line: #30363d; } }
body { font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1rem; max-width: 72rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.FAIL, .fail { color: var(--fail); font-weight: 600; } .ALARM { color: var(--fail); }
.attention, .warn { color: var(--warn); } .ok { color: var(--ok); }
svg { width: 100%; height: auto; max-height: 12rem; }
pre { overflow-x: auto; border: 1px solid var(--line); padding: 0.5rem; }
@media (max-width: 40rem) { .wide { display: none; } body { padding: 0.5rem; } th, td { padding: 0.2rem 0.3rem; } }
";

/// A whole page; only the index says when it was made, so that a domain page whose content
/// did not change keeps its bytes (and is not rewritten).
fn page(title: &str, generated: Option<DateTime<Utc>>, body: &str) -> String {
    let footer = generated.map_or(String::new(), |g| {
        format!(
            "<footer><p>Generated by mtasts at {}.</p></footer>\n",
            g.format("%Y-%m-%d %H:%M UTC")
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n{footer}</body>\n</html>\n",
        t = esc(title),
    )
}

/// The index pages: `index.html`, then `index-2.html`... of [`PAGE`] rows each, problems
/// first. `views` must be sorted as they are to be listed.
pub(crate) fn index_pages(
    views: &[&DomainView],
    generated: DateTime<Utc>,
) -> Vec<(String, String)> {
    let pages = views.len().div_ceil(PAGE).max(1);
    let counts = [0u8, 1, 2, 3].map(|s| views.iter().filter(|v| v.severity() == s).count());
    let name = |i: usize| {
        if i == 0 {
            "index.html".to_string()
        } else {
            format!("index-{}.html", i + 1)
        }
    };
    (0..pages)
        .map(|i| {
            let rows = &views[(i * PAGE).min(views.len())..((i + 1) * PAGE).min(views.len())];
            let mut body = format!(
                "<header><h1>MTA-STS dashboard</h1>\n<p>{} domain(s): \
                 <span class=\"FAIL\" data-count=\"fail\">{}</span> failing a check, \
                 <span class=\"ALARM\" data-count=\"alarm\">{}</span> with an alarm, \
                 <span class=\"attention\" data-count=\"attention\">{}</span> needing attention, \
                 <span class=\"ok\" data-count=\"ok\">{}</span> fine.</p></header>\n<main>\n",
                views.len(),
                counts[0],
                counts[1],
                counts[2],
                counts[3]
            );
            if pages > 1 {
                body.push_str("<nav aria-label=\"Pages\"><p>");
                for j in 0..pages {
                    if j == i {
                        let _ = write!(body, "<strong>page {}</strong> ", j + 1);
                    } else {
                        let _ = write!(body, "<a href=\"{}\">page {}</a> ", name(j), j + 1);
                    }
                }
                body.push_str("</p></nav>\n");
            }
            body.push_str(
                "<table>\n<caption>Domains, problems first</caption>\n<thead><tr>\
                 <th scope=\"col\">Domain</th><th scope=\"col\">State</th>\
                 <th scope=\"col\" class=\"wide\">Mode</th><th scope=\"col\" class=\"wide\">Stage</th>\
                 <th scope=\"col\">Sessions OK</th><th scope=\"col\" class=\"wide\">Why</th>\
                 </tr></thead>\n<tbody>\n",
            );
            for v in rows {
                let rate = v.summary.as_ref().map_or("no reports".to_string(), |s| {
                    let total = s.successful.saturating_add(s.failed).max(1) as f64;
                    format!("{:.1}%", s.successful as f64 * 100.0 / total)
                });
                let why = v
                    .check
                    .iter()
                    .flat_map(|c| c.problems.iter())
                    .chain(v.alarms.iter())
                    .chain(v.reasons.iter())
                    .next()
                    .map_or(String::new(), |w| esc(w));
                let _ = writeln!(
                    body,
                    "<tr><th scope=\"row\"><a href=\"domains/{n}.html\">{n}</a></th>\
                     <td class=\"{c}\">{c}</td><td class=\"wide\">{m}</td><td class=\"wide\">{s}</td>\
                     <td class=\"n\">{rate}</td><td class=\"wide\">{why}</td></tr>",
                    n = esc(&v.name),
                    c = v.verdict(),
                    m = v.mode,
                    s = v.stage,
                );
            }
            body.push_str("</tbody>\n</table>\n</main>");
            (name(i), page("MTA-STS dashboard", Some(generated), &body))
        })
        .collect()
}

/// The daily sessions as stacked bars: successful below, failed on top.
fn chart(daily: &Daily) -> String {
    let days = daily.len().max(1);
    let top = daily
        .values()
        .map(|(ok, failed)| ok.saturating_add(*failed))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h) = (24.0 * days as f64, 120.0);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">Sessions per day, successful and failed; the same numbers are in the table below</title>"
    );
    for (i, (day, (ok, failed))) in daily.iter().enumerate() {
        let x = 24.0 * i as f64 + 2.0;
        let ok_h = *ok as f64 / top * (h - 10.0);
        let failed_h = *failed as f64 / top * (h - 10.0);
        let _ = write!(
            svg,
            "<g><title>{day}: {ok} successful, {failed} failed</title>\
             <rect x=\"{x}\" y=\"{:.1}\" width=\"20\" height=\"{ok_h:.1}\" fill=\"var(--ok)\"/>\
             <rect x=\"{x}\" y=\"{:.1}\" width=\"20\" height=\"{failed_h:.1}\" fill=\"var(--fail)\"/></g>",
            h - ok_h,
            h - ok_h - failed_h,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One domain's page: its state, the last check, what needs attention, the reports and the
/// records, each a section of its own.
pub(crate) fn domain_page(v: &DomainView) -> String {
    let mut body = format!(
        "<header><p><a href=\"../index.html\">All domains</a></p>\n<h1>{n}</h1>\n\
         <p>State: <span class=\"{c}\" data-state>{c}</span>. Mode <strong>{m}</strong>, stage {s}.</p></header>\n<main>\n",
        n = esc(&v.name),
        c = v.verdict(),
        m = v.mode,
        s = v.stage,
    );
    if let Some(check) = &v.check {
        check_section(&mut body, check);
    }
    attention_section(&mut body, v);
    reports_section(&mut body, v);
    dane_section(&mut body, v);
    body.push_str("<section><h2>Records to publish</h2>\n<pre>");
    for r in &v.records {
        let _ = writeln!(body, "{}", esc(r));
    }
    body.push_str("</pre></section>\n</main>");
    page(&format!("{} — MTA-STS", v.name), None, &body)
}

/// A data table: its caption, column headers, and rows already written as `<tr>` lines.
fn table(body: &mut String, caption: &str, columns: &[&str], rows: impl Iterator<Item = String>) {
    let _ = write!(body, "<table>\n<caption>{caption}</caption>\n<thead><tr>");
    for c in columns {
        let _ = write!(body, "<th scope=\"col\">{c}</th>");
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        let _ = writeln!(body, "{row}");
    }
    body.push_str("</tbody>\n</table>\n");
}

/// The last check's verdict, its problems, and the MX hosts' certificate expiry.
fn check_section(body: &mut String, check: &CheckVerdict) {
    let _ = write!(
        body,
        "<section><h2>Last check</h2><p class=\"{s}\">{s}</p>",
        s = esc(&check.status)
    );
    if !check.problems.is_empty() {
        body.push_str("<ul>");
        for p in &check.problems {
            let _ = write!(body, "<li>{}</li>", esc(p));
        }
        body.push_str("</ul>");
    }
    if !check.certificates.is_empty() {
        table(
            body,
            "Certificate expiry (MX hosts, as the check saw them)",
            &["Host", "Valid until", "Days left"],
            check.certificates.iter().map(|(host, until, days)| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"n\">{days}</td></tr>",
                    esc(host),
                    esc(until)
                )
            }),
        );
    }
    body.push_str("</section>\n");
}

/// The DANE rollover of the domain's MX hosts: each published key and its date.
fn dane_section(body: &mut String, v: &DomainView) {
    if v.dane.is_empty() {
        return;
    }
    body.push_str("<section><h2>DANE rollover</h2>\n");
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    table(
        body,
        "TLSA keys of the MX hosts, and when the next switch is safe or a leaving key goes",
        &["MX host", "Key", "TLSA", "Published since", "Date"],
        v.dane.iter().map(|k| {
            let date = match (k.role, k.until) {
                ("next", Some(t)) => format!("switching safe from {}", day(t)),
                ("leaving", Some(t)) => format!("published until {}", day(t)),
                _ => String::new(),
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td><code>{}</code></td><td>{}</td><td>{date}</td></tr>",
                esc(&k.host),
                k.role,
                esc(&k.tlsa),
                day(k.published)
            )
        }),
    );
    body.push_str("</section>\n");
}

/// The alarms and the other reasons, when there are any.
fn attention_section(body: &mut String, v: &DomainView) {
    if v.alarms.is_empty() && v.reasons.is_empty() {
        return;
    }
    body.push_str("<section><h2>What needs attention</h2><ul>");
    for a in &v.alarms {
        let _ = write!(body, "<li class=\"ALARM\">ALARM: {}</li>", esc(a));
    }
    for r in &v.reasons {
        let _ = write!(body, "<li>{}</li>", esc(r));
    }
    body.push_str("</ul></section>\n");
}

/// The reports: totals, the daily chart and its numbers, the failures by type and MX.
fn reports_section(body: &mut String, v: &DomainView) {
    let Some(s) = &v.summary else {
        body.push_str(
            "<section><h2>TLS reports</h2><p>No report names this domain.</p></section>\n",
        );
        return;
    };
    let _ = write!(
        body,
        "<section><h2>TLS reports</h2>\n<p>{} report(s) from {} over {} day(s), {} .. {}: \
         <span data-total=\"successful\">{}</span> successful and \
         <span data-total=\"failed\">{}</span> failed session(s).{}</p>\n{}\n",
        s.reports,
        esc(&s
            .organizations
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")),
        s.days,
        s.from.format("%Y-%m-%d"),
        s.to.format("%Y-%m-%d"),
        s.successful,
        s.failed,
        match v.ready {
            Some(true) => " Ready for enforce.",
            Some(false) => " Not ready for enforce yet.",
            None => "",
        },
        chart(&v.daily)
    );
    table(
        body,
        "Sessions per day",
        &["Day", "Successful", "Failed"],
        v.daily.iter().map(|(day, (ok, failed))| {
            format!(
                "<tr><th scope=\"row\">{day}</th><td class=\"n\" data-day-successful>{ok}</td>\
                 <td class=\"n\" data-day-failed>{failed}</td></tr>"
            )
        }),
    );
    if !s.failures.is_empty() {
        table(
            body,
            "Failures by type and MX",
            &["Result", "MX", "Sessions", "Share", "Since"],
            s.failures.iter().map(|f| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}%</td><td>{}</td></tr>",
                    f.result_type,
                    esc(&f.mx),
                    f.count,
                    f.percent,
                    f.since
                )
            }),
        );
    }
    body.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_reporters_are_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
