//! `octodns`: `octodns/<domain>.yaml`, a zone for octoDNS's `YamlProvider`.

use std::borrow::Cow;

use super::{DomainFiles, Emitter, Kind};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `octodns` target.
pub(crate) struct Octodns;

const KINDS: &[Kind] = &[Kind {
    class: Class::Dns,
    media_type: "application/yaml",
}];

impl Emitter for Octodns {
    fn target(&self) -> Target {
        Target::Octodns
    }

    fn kinds(&self, _: &Nginx) -> &'static [Kind] {
        KINDS
    }

    fn path(&self, _: usize, d: &DomainFiles<'_>) -> Option<String> {
        Some(format!("octodns/{}.yaml", d.name))
    }

    fn bytes<'d>(&self, _: usize, d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(Cow::Owned(super::dns::octodns(d.rows()).into_bytes()))
    }

    /// `octodns/dane/<zone>.yaml`: the TLSA records of a zone's MX hosts, for a second
    /// `YamlProvider` source beside `octodns/` (octoDNS merges a zone's sources).
    fn dane_files(&self, hosts: &[crate::dane::HostPlan]) -> Vec<(String, &'static str, Vec<u8>)> {
        super::dane_zones(hosts)
            .into_iter()
            .map(|(zone, rows)| {
                (
                    format!("octodns/dane/{zone}.yaml"),
                    "application/yaml",
                    super::dns::octodns(&rows).into_bytes(),
                )
            })
            .collect()
    }
}
