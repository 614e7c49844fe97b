//! The files of one domain in every target (policy, vhost, zone fragment, Pages and Netlify
//! copies, octoDNS and DNSControl files), the kinds they come in, and the global files made
//! once per build.

use crate::error::Error;
use crate::manifest::{DomainEntry, FileEntry};
use crate::model::{Nginx, Target};
use crate::output::{Batch, Class, Previous, Writer};
use crate::plan::DomainPlan;
use crate::render::Templates;
use crate::targets::acme;

/// One worker's share of the tree: its batch, its files by kind (policies, vhosts, zones), and
/// its domains' manifest entries, all in domain order.
pub(super) struct Part {
    pub(super) batch: Batch,
    pub(super) files: [Vec<FileEntry>; KINDS],
    pub(super) domains: Vec<DomainEntry>,
    /// Where the next lookups in the previous manifest probably are: a worker's domains come
    /// in name order, and the manifest lists domains and each kind of file in about that order.
    pub(super) near: Near,
}

/// Positions in the previous manifest's tables: its domains, and each kind of file.
#[derive(Default)]
pub(super) struct Near {
    pub(super) inputs: usize,
    pub(super) files: [usize; KINDS],
}

/// Kinds of file made per domain.
pub(super) const KINDS: usize = 9;
/// `webroot/<host>/.well-known/mta-sts.txt`.
pub(super) const POLICY: usize = 0;
/// `nginx/<host>.conf`.
pub(super) const VHOST: usize = 1;
/// `dns/<domain>.zone`.
pub(super) const ZONE: usize = 2;
/// `github-pages/<host>/.nojekyll`: without it Pages hides `.well-known`.
pub(super) const PAGES_JEKYLL: usize = 3;
/// `github-pages/<host>/CNAME`: the custom domain of the site.
pub(super) const PAGES_CNAME: usize = 4;
/// `github-pages/<host>/.well-known/mta-sts.txt`.
pub(super) const PAGES_POLICY: usize = 5;
/// `netlify/policies/<host>.txt`.
pub(super) const NETLIFY_POLICY: usize = 6;
/// `octodns/<domain>.yaml`.
pub(super) const OCTODNS: usize = 7;
/// `dnscontrol/<domain>.js`.
pub(super) const DNSCONTROL: usize = 8;
/// Per kind: the target that makes it, and whether only per-host vhosts have it.
pub(super) const KIND_TARGETS: [(Target, bool); KINDS] = [
    (Target::Webroot, false),
    (Target::Nginx, true),
    (Target::Dns, false),
    (Target::GithubPages, false),
    (Target::GithubPages, false),
    (Target::GithubPages, false),
    (Target::Netlify, false),
    (Target::Octodns, false),
    (Target::Dnscontrol, false),
];
/// Per kind: the class it goes live with (RFC 8461 §8.1: policies, then vhosts, then DNS).
pub(super) const CLASS: [Class; KINDS] = [
    Class::Policy,
    Class::Nginx,
    Class::Dns,
    Class::Policy,
    Class::Policy,
    Class::Policy,
    Class::Policy,
    Class::Dns,
    Class::Dns,
];
/// Per kind: the media type the manifest lists.
pub(super) const MEDIA: [&str; KINDS] = [
    "text/plain",
    "text/x-nginx-conf",
    "text/dns",
    "text/plain",
    "text/plain",
    "text/plain",
    "text/plain",
    "application/yaml",
    "text/javascript",
];

/// A file made from every host: its class, path and media type.
pub(super) type Global<'a> = (Class, &'a str, &'static str);

/// The `records-json` target's file.
pub(super) const RECORDS_JSON: &str = "dns/records.json";

/// The `records --format json` document of the published domains.
pub(super) fn records_json(published: &[&DomainPlan]) -> Vec<u8> {
    let mut json = b"{\"records\": [".to_vec();
    let mut first = true;
    for d in published {
        for row in rows(d) {
            json.extend_from_slice(if first { b"\n  " } else { b",\n  " });
            first = false;
            serde_json::to_writer(&mut json, &row).expect("a row serialises");
        }
    }
    json.extend_from_slice(b"\n]}\n");
    json
}

pub(super) const SHARED_VHOST: Global = (Class::Nginx, "nginx/mta-sts.conf", "text/x-nginx-conf");
pub(super) const CERTS_TXT: Global = (Class::Other, "certificates.txt", "text/plain");
pub(super) const CERTS_JSON: Global = (Class::Other, "certificates.json", "application/json");

/// Offers one of the files made from every host.
pub(super) fn offer_global(
    writer: &Writer,
    batch: &mut Batch,
    (class, path, media_type): Global<'_>,
    bytes: &[u8],
) -> Result<FileEntry, Error> {
    writer.offer(batch, class, path.into(), media_type, bytes)
}

/// Offers one domain's files (those of the `wanted` kinds) and returns its manifest entry.
#[allow(clippy::too_many_arguments)]
pub(super) fn domain(
    d: &DomainPlan,
    ready: bool,
    wanted: &[bool; KINDS],
    nginx: &Nginx,
    templates: &Templates,
    writer: &Writer,
    previous: &Previous,
    part: &mut Part,
) -> Result<DomainEntry, Error> {
    let name = d.domain.name.as_str();
    let host = d.domain.name.policy_host();
    let entry = DomainEntry {
        domain: name.to_string(),
        id: d.id.clone(),
        mode: d.mode().as_str(),
        inputs: templates.digest(d, nginx),
    };
    // A host waiting for its certificate has other nginx text: its digest says so.
    let entry = if ready || !nginx.require_certificates {
        entry
    } else {
        let mut unready = entry.inputs.to_vec();
        unready.extend_from_slice(b"waiting for its certificate");
        DomainEntry {
            inputs: crate::digest::sha256(&unready),
            ..entry
        }
    };
    let paths: [Option<String>; KINDS] = std::array::from_fn(|kind| {
        // A host waiting for its certificate still gets its port-80 ACME server.
        let vhost = ready || nginx.acme_webroot.is_some();
        let wanted = wanted[kind] && (kind != VHOST || vhost);
        wanted.then(|| match kind {
            POLICY => format!("webroot/{host}/.well-known/mta-sts.txt"),
            VHOST => format!("nginx/{host}.conf"),
            ZONE => format!("dns/{name}.zone"),
            PAGES_JEKYLL => format!("github-pages/{host}/.nojekyll"),
            PAGES_CNAME => format!("github-pages/{host}/CNAME"),
            PAGES_POLICY => format!("github-pages/{host}/.well-known/mta-sts.txt"),
            NETLIFY_POLICY => crate::targets::netlify::policy_path(&host),
            OCTODNS => format!("octodns/{name}.yaml"),
            DNSCONTROL.. => format!("dnscontrol/{name}.js"),
        })
    });
    let batch = &mut part.batch;
    writer.forget_deep_dirs(batch);
    let near = &mut part.near;
    if previous.trusted() && previous.inputs_near(name, &mut near.inputs) == Some(&entry.inputs) {
        let mut kept: [Option<FileEntry>; KINDS] = Default::default();
        let mut all = true;
        for (kind, path) in paths.iter().enumerate() {
            if let Some(path) = path {
                kept[kind] = previous.entry_near(path, MEDIA[kind], &mut near.files[kind]);
                all &= kept[kind].is_some();
            }
        }
        if all {
            for (kind, file) in kept.into_iter().enumerate() {
                if let Some(file) = file {
                    part.files[kind].push(writer.keep(batch, file));
                }
            }
            return Ok(entry);
        }
    }
    let inputs = templates.inputs(d, nginx);
    let policy = d.policy();
    // The DNS-as-code files share the rows of the domain's records.
    let dns_rows = (paths[OCTODNS].is_some() || paths[DNSCONTROL].is_some()).then(|| rows(d));
    let dns_rows = dns_rows.as_deref().unwrap_or_default();
    for (kind, path) in paths.into_iter().enumerate() {
        let Some(path) = path else { continue };
        let rendered;
        let bytes: &[u8] = match kind {
            POLICY | PAGES_POLICY | NETLIFY_POLICY => policy.as_bytes(),
            VHOST => {
                let acme = crate::targets::acme::server(nginx, acme::Hosts::One(&host));
                rendered = if ready {
                    templates.nginx(&inputs)? + &acme
                } else {
                    format!(
                        "# Generated by mtasts for {name}: {host} has no certificate here yet\n\
                         # (require_certificates), so only its port-80 ACME server is published.{acme}"
                    )
                };
                rendered.as_bytes()
            }
            ZONE => {
                rendered = templates.zone(&inputs)?;
                rendered.as_bytes()
            }
            PAGES_JEKYLL => b"",
            PAGES_CNAME => {
                rendered = format!("{host}\n");
                rendered.as_bytes()
            }
            OCTODNS => {
                rendered = crate::targets::dns::octodns(dns_rows);
                rendered.as_bytes()
            }
            DNSCONTROL.. => {
                rendered = crate::targets::dns::dnscontrol(name, dns_rows);
                rendered.as_bytes()
            }
        };
        let file = writer.offer(batch, CLASS[kind], path, MEDIA[kind], bytes)?;
        part.files[kind].push(file);
    }
    Ok(entry)
}

/// The rows of a domain's DNS records.
pub(super) fn rows(d: &DomainPlan) -> Vec<crate::targets::dns::Row> {
    let records = crate::records::for_domain(&d.domain, &d.id);
    crate::targets::dns::rows(d.domain.name.as_str(), &records)
}
