//! `dns`: `dns/<domain>.zone`, the zone fragment of each domain from the `zone.j2` template.

use std::borrow::Cow;

use super::{DomainFiles, Emitter, Kind};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `dns` target.
pub(crate) struct Zone;

const KINDS: &[Kind] = &[Kind {
    class: Class::Dns,
    media_type: "text/dns",
}];

impl Emitter for Zone {
    fn target(&self) -> Target {
        Target::Dns
    }

    fn kinds(&self, _: &Nginx) -> &'static [Kind] {
        KINDS
    }

    fn path(&self, _: usize, d: &DomainFiles<'_>) -> Option<String> {
        Some(format!("dns/{}.zone", d.name))
    }

    fn bytes<'d>(&self, _: usize, d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(Cow::Owned(d.templates.zone(d.inputs())?.into_bytes()))
    }

    /// `dns/dane/<mx host>.zone`: a fragment per host, with a comment per key.
    fn dane_files(&self, hosts: &[crate::dane::HostPlan]) -> Vec<(String, &'static str, Vec<u8>)> {
        hosts
            .iter()
            .map(|h| {
                (
                    format!("dns/dane/{}.zone", h.host),
                    "text/dns",
                    h.zone_text().into_bytes(),
                )
            })
            .collect()
    }
}
