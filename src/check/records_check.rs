//! The DNS records: the `_mta-sts` TXT (or an alias's CNAME to it), MX coverage by the
//! policy's patterns, and the TLS-RPT record.

use crate::dns::DnsError;
use crate::model::Mode;
use crate::plan::DomainPlan;
use crate::records::{self};

use super::{Check, Line, Status, fix, line, records_of};

pub(super) fn sts_txt(
    txt: &Result<Vec<String>, DnsError>,
    name: &str,
    txt_line: &str,
    out: &mut Vec<Line>,
) -> Option<String> {
    let owner = format!("_mta-sts.{name}");
    let records = match txt {
        Ok(r) => r,
        Err(DnsError::NoRecords) => {
            out.push(fix(
                line(
                    Check::Txt,
                    Status::Fail,
                    format!("no TXT record at {owner}"),
                ),
                format!("publish {txt_line}"),
            ));
            return None;
        }
        Err(e) => {
            out.push(line(Check::Txt, Status::Fail, format!("{owner}: {e}")));
            return None;
        }
    };
    let (sts, other): (Vec<&String>, Vec<&String>) =
        records.iter().partition(|r| r.starts_with("v=STSv1"));
    if !other.is_empty() {
        out.push(line(
            Check::Txt,
            Status::Note,
            format!(
                "{} unrelated TXT record(s) at {owner} (ignored by senders)",
                other.len()
            ),
        ));
    }
    match sts.as_slice() {
        [] => {
            out.push(fix(
                line(
                    Check::Txt,
                    Status::Fail,
                    format!("no v=STSv1 record at {owner}"),
                ),
                format!("publish {txt_line}"),
            ));
            None
        }
        [one] => match records::parse_sts(one) {
            Ok(id) => {
                out.push(line(Check::Txt, Status::Ok, format!("{owner}: \"{one}\"")));
                Some(id)
            }
            Err(e) => {
                out.push(fix(
                    line(
                        Check::Txt,
                        Status::Fail,
                        format!("{owner}: \"{one}\" is invalid: {e}"),
                    ),
                    format!("replace it with {txt_line}"),
                ));
                None
            }
        },
        many => {
            out.push(fix(
                line(Check::Txt, Status::Fail, format!("{} v=STSv1 records at {owner}: senders then see no policy at all (RFC 8461 §3.1)", many.len())),
                format!("keep only {txt_line}"),
            ));
            None
        }
    }
}

pub(super) fn mx_coverage(d: &DomainPlan, mx: &Result<Vec<String>, DnsError>, out: &mut Vec<Line>) {
    let mode = d.mode();
    if mode == Mode::None {
        return;
    }
    let name = d.domain.name.as_str();
    let hosts = match mx {
        Ok(h) => h,
        Err(DnsError::NoRecords) => {
            out.push(line(
                Check::Mx,
                Status::Warn,
                format!("{name} has no MX records"),
            ));
            return;
        }
        Err(e) => {
            out.push(line(Check::Mx, Status::Fail, format!("MX of {name}: {e}")));
            return;
        }
    };
    let mut clean = true;
    for host in hosts
        .iter()
        .filter(|h| !d.domain.mx.iter().any(|p| p.matches(h)))
    {
        clean = false;
        let (status, why) = if mode == Mode::Enforce {
            (Status::Fail, "senders will refuse to deliver to it")
        } else {
            (Status::Warn, "senders will report failures for it")
        };
        out.push(fix(
            line(
                Check::Mx,
                status,
                format!("MX host {host} matches no mx pattern of the {mode} policy: {why}"),
            ),
            format!(
                "add \"{host}\" (or a *. pattern covering it) to mx of {name}, build and deploy"
            ),
        ));
    }
    for pattern in d
        .domain
        .mx
        .iter()
        .filter(|p| !hosts.iter().any(|h| p.matches(h)))
    {
        clean = false;
        out.push(line(
            Check::Mx,
            Status::Warn,
            format!("mx pattern {pattern} matches no live MX host"),
        ));
    }
    if clean {
        out.push(line(
            Check::Mx,
            Status::Ok,
            format!("every MX host ({}) matches a pattern", hosts.join(", ")),
        ));
    }
}

pub(super) fn tlsrpt(d: &DomainPlan, txt: &Result<Vec<String>, DnsError>, out: &mut Vec<Line>) {
    let name = d.domain.name.as_str();
    let owner = format!("_smtp._tls.{name}");
    let want = records_of(d, &format!("{owner}."));
    let found: Vec<&String> = match txt {
        Ok(r) => r.iter().filter(|r| r.starts_with("v=TLSRPTv1")).collect(),
        Err(DnsError::NoRecords) => Vec::new(),
        Err(e) => {
            out.push(line(Check::Tlsrpt, Status::Fail, format!("{owner}: {e}")));
            return;
        }
    };
    if d.domain.tlsrpt_rua.is_empty() {
        if !found.is_empty() {
            out.push(line(
                Check::Tlsrpt,
                Status::Note,
                format!("{owner} has a TLS-RPT record although none is configured"),
            ));
        }
        return;
    }
    let verdict = match found.as_slice() {
        [] => fix(
            line(
                Check::Tlsrpt,
                Status::Fail,
                format!("no TLS-RPT record at {owner}"),
            ),
            format!("publish {want}"),
        ),
        [one] => match records::parse_tlsrpt(one) {
            Ok(rua) if *rua == *d.domain.tlsrpt_rua => {
                line(Check::Tlsrpt, Status::Ok, format!("{owner}: \"{one}\""))
            }
            Ok(rua) => fix(
                line(
                    Check::Tlsrpt,
                    Status::Fail,
                    format!(
                        "{owner} sends reports to {}, not to the configured URIs",
                        rua.join(",")
                    ),
                ),
                format!("publish {want}"),
            ),
            Err(e) => fix(
                line(
                    Check::Tlsrpt,
                    Status::Fail,
                    format!("{owner}: \"{one}\" is invalid: {e}"),
                ),
                format!("replace it with {want}"),
            ),
        },
        many => fix(
            line(
                Check::Tlsrpt,
                Status::Fail,
                format!(
                    "{} v=TLSRPTv1 records at {owner}: senders then report nowhere (RFC 8460 §3)",
                    many.len()
                ),
            ),
            format!("keep only {want}"),
        ),
    };
    out.push(verdict);
}
