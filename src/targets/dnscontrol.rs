//! `dnscontrol`: `dnscontrol/<domain>.js`, the records as DNSControl record calls.

use std::borrow::Cow;

use super::{DomainFiles, Emitter, Kind};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `dnscontrol` target.
pub(crate) struct Dnscontrol;

const KINDS: &[Kind] = &[Kind {
    class: Class::Dns,
    media_type: "text/javascript",
}];

impl Emitter for Dnscontrol {
    fn target(&self) -> Target {
        Target::Dnscontrol
    }

    fn kinds(&self, _: &Nginx) -> &'static [Kind] {
        KINDS
    }

    fn path(&self, _: usize, d: &DomainFiles<'_>) -> Option<String> {
        Some(format!("dnscontrol/{}.js", d.name))
    }

    fn bytes<'d>(&self, _: usize, d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(Cow::Owned(
            super::dns::dnscontrol(d.name, d.rows()).into_bytes(),
        ))
    }

    /// `dnscontrol/dane/<zone>.js`: the TLSA records of a zone's MX hosts as a `D_EXTEND`.
    fn dane_files(&self, hosts: &[crate::dane::HostPlan]) -> Vec<(String, &'static str, Vec<u8>)> {
        super::dane_zones(hosts)
            .into_iter()
            .map(|(zone, rows)| {
                (
                    format!("dnscontrol/dane/{zone}.js"),
                    "text/javascript",
                    super::dns::dnscontrol(zone, &rows).into_bytes(),
                )
            })
            .collect()
    }
}
