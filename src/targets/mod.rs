//! The output targets. Each is one file here implementing [`Emitter`]: the files it makes for
//! every published domain (its [`Kind`]s) and the files it makes once from every host (its
//! [`Global`]s). `generate` knows no target by name: it runs those of [`REGISTRY`] that
//! `[output] targets` turns on. A new target is a new file and one line in [`REGISTRY`].

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;
use crate::plan::DomainPlan;
use crate::render::{DomainInputs, Templates};

pub(crate) mod acme;
pub(crate) mod cloudflare;
pub(crate) mod cloudfront;
pub(crate) mod dns;
pub(crate) mod dnscontrol;
pub(crate) mod github_pages;
pub(crate) mod inventory;
pub(crate) mod netlify;
pub(crate) mod nginx;
pub(crate) mod octodns;
pub(crate) mod records_json;
pub(crate) mod webroot;
pub(crate) mod zone;

/// Every target, in the order a build writes them.
pub(crate) const REGISTRY: &[&dyn Emitter] = &[
    &webroot::Webroot,
    &nginx::NginxTarget,
    &zone::Zone,
    &cloudflare::Worker,
    &cloudfront::Function,
    &netlify::Site,
    &github_pages::Pages,
    &octodns::Octodns,
    &dnscontrol::Dnscontrol,
    &records_json::RecordsJson,
];

/// One kind of file a target makes per published domain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    /// When it goes live (RFC 8461 §8.1: policies, then vhosts, then DNS).
    pub class: Class,
    /// The media type the manifest lists.
    pub media_type: &'static str,
}

/// A file a target makes once from every host: its class, path and media type.
pub(crate) type Global = (Class, &'static str, &'static str);

/// One output target.
pub(crate) trait Emitter: Sync {
    /// The `[output] targets` name that turns it on.
    fn target(&self) -> Target;

    /// The kinds of file it makes per published domain under `nginx`'s settings.
    fn kinds(&self, _nginx: &Nginx) -> &'static [Kind] {
        &[]
    }

    /// The path (relative to the output directory) of `d`'s file of kind `kind` (an index into
    /// [`Emitter::kinds`]), or `None` when `d` has none.
    fn path(&self, _kind: usize, _d: &DomainFiles<'_>) -> Option<String> {
        None
    }

    /// The bytes of `d`'s file of kind `kind`.
    fn bytes<'d>(&self, _kind: usize, _d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(Cow::Borrowed(b""))
    }

    /// The files it makes once from every host.
    fn globals(&self, _nginx: &Nginx) -> &'static [Global] {
        &[]
    }

    /// The bytes of global file `index` (into [`Emitter::globals`]).
    fn global_bytes(&self, _index: usize, _all: &AllHosts<'_>) -> Result<Vec<u8>, Error> {
        Ok(Vec::new())
    }

    /// Whether its global files hold every domain's policy or records, so that they change
    /// whenever any domain's inputs do.
    fn holds_every_domain(&self) -> bool {
        false
    }

    /// What to do with its files after a build that changed something, before the DNS records
    /// go out (RFC 8461 §8.1); `None` for the DNS targets themselves.
    fn deploy_step(&self) -> Option<&'static str> {
        None
    }

    /// Its files of the `[dane]` MX hosts' TLSA records (path, media type, bytes); none by
    /// default. The DNS targets write them apart from the domains' files, as the records
    /// belong to the MX hosts' zones.
    fn dane_files(&self, _hosts: &[crate::dane::HostPlan]) -> Vec<(String, &'static str, Vec<u8>)> {
        Vec::new()
    }

    /// What only the user can remove on this target once a domain's retirement completed
    /// (the build already dropped its files); `None` when the next deploy removes all of it.
    fn retired_step(&self) -> Option<&'static str> {
        None
    }
}

/// One published domain, as its targets' files are made from it; what several kinds share
/// (the template contexts, the policy, the DNS rows) is made once, on first use.
pub(crate) struct DomainFiles<'a> {
    /// The domain's plan.
    pub d: &'a DomainPlan,
    /// The domain (A-labels).
    pub name: &'a str,
    /// Its policy host.
    pub host: String,
    /// nginx settings.
    pub nginx: &'a Nginx,
    /// The templates.
    pub templates: &'a Templates,
    /// Whether nginx gets its vhost (its certificate is there, or none is required).
    pub ready: bool,
    inputs: OnceCell<DomainInputs<'a>>,
    policy: OnceCell<String>,
    rows: OnceCell<Vec<dns::Row>>,
}

impl<'a> DomainFiles<'a> {
    /// The files of `d`.
    pub(crate) fn new(
        d: &'a DomainPlan,
        nginx: &'a Nginx,
        templates: &'a Templates,
        ready: bool,
    ) -> DomainFiles<'a> {
        DomainFiles {
            d,
            name: d.domain.name.as_str(),
            host: d.domain.name.policy_host(),
            nginx,
            templates,
            ready,
            inputs: OnceCell::new(),
            policy: OnceCell::new(),
            rows: OnceCell::new(),
        }
    }

    /// The template contexts.
    pub(crate) fn inputs(&self) -> &DomainInputs<'a> {
        self.inputs
            .get_or_init(|| self.templates.inputs(self.d, self.nginx))
    }

    /// The policy file's text.
    pub(crate) fn policy(&self) -> &str {
        self.policy.get_or_init(|| self.d.policy())
    }

    /// The rows of the domain's DNS records.
    pub(crate) fn rows(&self) -> &[dns::Row] {
        self.rows.get_or_init(|| rows(self.d))
    }
}

/// The rows of a domain's DNS records.
pub(crate) fn rows(d: &DomainPlan) -> Vec<dns::Row> {
    let records = crate::records::for_domain(&d.domain, &d.id);
    dns::rows(d.domain.name.as_str(), &records)
}

/// The rows of a `[dane]` MX host's TLSA records, under its zone.
pub(crate) fn dane_rows(h: &crate::dane::HostPlan) -> Vec<dns::Row> {
    dns::rows(&h.zone, &h.records())
}

/// The TLSA rows of `hosts` per zone, in zone order: one file per zone for the targets whose
/// files are zones.
pub(crate) fn dane_zones(hosts: &[crate::dane::HostPlan]) -> Vec<(&str, Vec<dns::Row>)> {
    let mut zones: std::collections::BTreeMap<&str, Vec<dns::Row>> = Default::default();
    for h in hosts {
        zones
            .entry(h.zone.as_str())
            .or_default()
            .extend(dane_rows(h));
    }
    zones.into_iter().collect()
}

/// Every published domain, as the global files are made from them.
pub(crate) struct AllHosts<'a> {
    /// The published domains, in name order.
    pub published: &'a [&'a DomainPlan],
    /// Per domain, whether nginx gets its vhost.
    pub ready: &'a [bool],
    /// nginx settings.
    pub nginx: &'a Nginx,
    /// The templates.
    pub templates: &'a Templates,
    /// The `[dane]` MX hosts' TLSA records.
    pub dane: &'a [crate::dane::HostPlan],
    hosted: OnceCell<Vec<Hosted>>,
    certificates: OnceCell<inventory::Certificates<'a>>,
}

impl<'a> AllHosts<'a> {
    /// The hosts of `published`.
    pub(crate) fn new(
        published: &'a [&'a DomainPlan],
        ready: &'a [bool],
        nginx: &'a Nginx,
        templates: &'a Templates,
        dane: &'a [crate::dane::HostPlan],
    ) -> AllHosts<'a> {
        AllHosts {
            published,
            ready,
            nginx,
            templates,
            dane,
            hosted: OnceCell::new(),
            certificates: OnceCell::new(),
        }
    }

    /// The certificate inventory of every host, made once for its text and its JSON.
    pub(crate) fn certificates(&self) -> &inventory::Certificates<'a> {
        self.certificates
            .get_or_init(|| inventory::Certificates::of(self.published, self.nginx))
    }

    /// Every policy host and its policy, made once for the targets that serve them all.
    pub(crate) fn hosted(&self) -> &[Hosted] {
        self.hosted.get_or_init(|| {
            self.published
                .iter()
                .map(|d| Hosted {
                    host: d.domain.name.policy_host(),
                    policy: d.policy(),
                })
                .collect()
        })
    }
}

/// One published policy host and the bytes it serves.
pub(crate) struct Hosted {
    /// `mta-sts.<domain>` (A-labels).
    pub host: String,
    /// The policy file's bytes.
    pub policy: String,
}

/// The policy path every host serves (RFC 8461 §3.2).
pub(crate) const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
