//! The output tree of a plan, generated per domain on several threads. A domain whose input
//! digest matches the previous manifest keeps its files, unrendered and unread; the others are
//! rendered, hashed, and staged where their bytes differ from what is there.

use indicatif::ProgressBar;

use crate::error::Error;
use crate::manifest::{Digest, DomainEntry, FileEntry};
use crate::model::{Nginx, Target, Vhosts};
use crate::output::{Batch, Class, Previous, Report, Writer};
use crate::plan::{DomainPlan, Plan};
use crate::render::{HostEntry, Templates};
use crate::targets::{acme, cloudflare, netlify};

/// Everything a build offered to its writer: the batches to finish, and the manifest.
pub struct Generated {
    /// One per worker, in domain order.
    pub batches: Vec<Batch>,
    /// Every generated file but the manifest.
    pub files: Vec<FileEntry>,
    /// Every published domain, in name order.
    pub domains: Vec<DomainEntry>,
    /// Policy hosts left out of the nginx output: their certificate is not there yet.
    pub left_out: Vec<String>,
}

/// What a tree is made from.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    /// The plan to publish.
    pub plan: &'a Plan,
    /// nginx settings.
    pub nginx: &'a Nginx,
    /// What to write.
    pub targets: &'a [Target],
    /// The templates.
    pub templates: &'a Templates,
}

/// Writes (or, for a dry run, compares) the whole tree of `plan` under `out`, against what
/// `previous` recorded there.
pub fn write_tree(
    sources: &Sources<'_>,
    out: &std::path::Path,
    previous: &Previous,
    dry_run: bool,
    progress: &ProgressBar,
) -> Result<Report, Error> {
    let writer = Writer::new(out, previous, dry_run)?;
    write_with(sources, writer, previous, progress).map(|(report, _)| report)
}

/// `write_tree` that also returns the manifest it wrote, if it wrote one, as the next build's
/// `Previous` (for `watch`, which need not read it back).
pub fn write_tree_remembering(
    sources: &Sources<'_>,
    out: &std::path::Path,
    previous: &Previous,
    progress: &ProgressBar,
) -> Result<(Report, Option<Previous>), Error> {
    let writer = Writer::new(out, previous, false)?.remembering();
    write_with(sources, writer, previous, progress)
}

fn write_with(
    sources: &Sources<'_>,
    writer: Writer,
    previous: &Previous,
    progress: &ProgressBar,
) -> Result<(Report, Option<Previous>), Error> {
    let Sources {
        plan,
        nginx,
        targets,
        templates,
    } = *sources;
    let (generated, hosts) =
        generate(plan, nginx, targets, templates, &writer, previous, progress)?;
    let (mut report, next) = writer.finish(
        generated.batches,
        generated.files,
        &generated.domains,
        &hosts,
    )?;
    report.left_out = generated.left_out;
    Ok((report, next))
}

/// Whether the certificate and key `nginx` names for `name` exist here, when that is required
/// (links followed: certbot's `live/` files are links).
fn certificate_ready(nginx: &Nginx, d: &DomainPlan) -> bool {
    !nginx.require_certificates
        || [&nginx.certificate, &nginx.certificate_key]
            .iter()
            .all(|path| {
                std::path::Path::new(&Nginx::expand(
                    path,
                    &d.domain.name,
                    d.certificate.as_deref(),
                ))
                .is_file()
            })
}

/// Generates the whole tree of `plan` through `writer`; also returns the host-set digest.
fn generate(
    plan: &Plan,
    nginx: &Nginx,
    targets: &[Target],
    templates: &Templates,
    writer: &Writer,
    previous: &Previous,
    progress: &ProgressBar,
) -> Result<(Generated, Digest), Error> {
    let published: Vec<&DomainPlan> = plan.domains.iter().filter(|d| d.published()).collect();
    let on = |t: Target| targets.contains(&t);
    let per_host = nginx.vhosts == Vhosts::PerHost;
    let wanted: [bool; KINDS] =
        KIND_TARGETS.map(|(target, per_host_only)| on(target) && (!per_host_only || per_host));
    let wanted = &wanted;
    let threads = crate::parallel::threads();
    // Small trees are not worth a thread each.
    let chunk = published.len().div_ceil(threads).max(256);
    let mut parts = std::thread::scope(|s| {
        let workers: Vec<_> = published
            .chunks(chunk)
            .map(|domains| {
                s.spawn(move || {
                    let n = domains.len();
                    let mut part = Part {
                        batch: writer.batch(),
                        files: std::array::from_fn(|kind| {
                            Vec::with_capacity(if wanted[kind] { n } else { 0 })
                        }),
                        domains: Vec::with_capacity(n),
                        near: Near::default(),
                    };
                    for d in domains {
                        let ready = certificate_ready(nginx, d);
                        let ready = ready && on(Target::Nginx);
                        let entry = domain(
                            d, ready, wanted, nginx, templates, writer, previous, &mut part,
                        )?;
                        part.domains.push(entry);
                        progress.inc(1);
                    }
                    Ok::<_, Error>(part)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let ready: Vec<bool> = if nginx.require_certificates && on(Target::Nginx) {
        published
            .iter()
            .map(|d| certificate_ready(nginx, d))
            .collect()
    } else {
        vec![true; published.len()]
    };
    let mut all = Generated {
        batches: Vec::with_capacity(parts.len() + 1),
        files: Vec::with_capacity(published.len() * 3 + 3),
        domains: Vec::with_capacity(published.len()),
        left_out: published
            .iter()
            .filter(|_| on(Target::Nginx))
            .zip(&ready)
            .filter(|(_, ready)| !**ready)
            .map(|(d, _)| d.domain.name.policy_host())
            .collect(),
    };
    // Each kind of file in domain order is nearly in path order: the whole list is then a few
    // long runs, which the writer's stable sort merges instead of comparing every path twenty
    // times.
    for kind in 0..KINDS {
        for part in &mut parts {
            all.files.append(&mut part.files[kind]);
        }
    }
    for part in parts {
        all.batches.push(part.batch);
        all.domains.extend(part.domains);
    }
    let cdn = on(Target::CloudflareWorker) || on(Target::Netlify) || on(Target::RecordsJson);
    // The files made from every host: carried unrendered while what they are made from is
    // unchanged. A host left out changes the shared server's maps; the CDN and records files
    // hold every domain's policy and records, so then every domain's input digest counts
    // (only then: the default targets' digests stay as they were).
    let policies = cdn.then(|| {
        let mut all_inputs = Vec::with_capacity(all.domains.len() * 32);
        for d in &all.domains {
            all_inputs.extend_from_slice(&d.inputs);
        }
        format!("\0policies {}", crate::digest::sha256_hex(&all_inputs))
    });
    let hosts_digest = templates.hosts_digest(
        nginx,
        published
            .iter()
            .zip(&ready)
            .flat_map(|(d, ready)| {
                std::iter::once(d.domain.name.as_str())
                    .chain((!ready).then_some("\0left out"))
                    .chain(d.certificate.as_deref())
            })
            .chain(policies.as_deref()),
    );
    let nginx_on = on(Target::Nginx);
    let shared = nginx_on && nginx.vhosts == Vhosts::Shared;
    let globals: [(bool, Global<'_>); 8] = [
        (
            on(Target::CloudflareWorker),
            (Class::Policy, cloudflare::WORKER, "text/javascript"),
        ),
        (
            on(Target::CloudflareWorker),
            (Class::Policy, cloudflare::WRANGLER, "application/toml"),
        ),
        (
            on(Target::Netlify),
            (Class::Policy, netlify::REDIRECTS, "text/plain"),
        ),
        (
            on(Target::Netlify),
            (Class::Policy, netlify::HEADERS, "text/plain"),
        ),
        (
            on(Target::RecordsJson),
            (Class::Dns, RECORDS_JSON, "application/json"),
        ),
        (shared, SHARED_VHOST),
        (nginx_on, CERTS_TXT),
        (nginx_on, CERTS_JSON),
    ];
    let mut batch = writer.batch();
    if previous.trusted() && previous.hosts() == Some(&hosts_digest) {
        let kept: Option<Vec<FileEntry>> = globals
            .iter()
            .filter(|g| g.0)
            .map(|&(_, (_, path, media_type))| previous.entry(path, media_type))
            .collect();
        if let Some(kept) = kept {
            all.files
                .extend(kept.into_iter().map(|f| writer.keep(&mut batch, f)));
            all.batches.push(batch);
            return Ok((all, hosts_digest));
        }
    }
    // The CDN targets serve every policy from one file: made only when asked for.
    let hosted: Vec<crate::targets::Hosted> = if on(Target::CloudflareWorker) || on(Target::Netlify)
    {
        published
            .iter()
            .map(|d| crate::targets::Hosted {
                host: d.domain.name.policy_host(),
                policy: d.policy(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let [worker, wrangler, redirects, headers, records, ..] = globals;
    if worker.0 {
        let text = cloudflare::worker(&hosted);
        all.files
            .push(offer_global(writer, &mut batch, worker.1, text.as_bytes())?);
        let text = cloudflare::wrangler(&hosted);
        all.files.push(offer_global(
            writer,
            &mut batch,
            wrangler.1,
            text.as_bytes(),
        )?);
    }
    if redirects.0 {
        let text = netlify::redirects(&hosted);
        all.files.push(offer_global(
            writer,
            &mut batch,
            redirects.1,
            text.as_bytes(),
        )?);
        let text = netlify::headers();
        all.files.push(offer_global(
            writer,
            &mut batch,
            headers.1,
            text.as_bytes(),
        )?);
    }
    drop(hosted);
    if records.0 {
        let json = records_json(&published);
        all.files
            .push(offer_global(writer, &mut batch, records.1, &json)?);
    }
    if !nginx_on {
        all.batches.push(batch);
        return Ok((all, hosts_digest));
    }
    if shared {
        let hosts: Vec<HostEntry> = published
            .iter()
            .zip(&ready)
            .filter(|(_, ready)| **ready)
            .map(|(d, _)| HostEntry::new(d, nginx))
            .collect();
        let every: Vec<String> = if nginx.acme_webroot.is_some() {
            published
                .iter()
                .map(|d| d.domain.name.policy_host())
                .collect()
        } else {
            Vec::new()
        };
        let text = templates.nginx_shared(&hosts, nginx)?
            + &crate::targets::acme::server(nginx, acme::Hosts::All(&every));
        all.files.push(offer_global(
            writer,
            &mut batch,
            SHARED_VHOST,
            text.as_bytes(),
        )?);
    }
    // One inventory text at a time: at 100,000 hosts they are tens of MB each.
    let certificates = crate::targets::inventory::Certificates::of(&published, nginx);
    let txt = certificates.text();
    all.files
        .push(offer_global(writer, &mut batch, CERTS_TXT, txt.as_bytes())?);
    drop(txt);
    let json = certificates.json();
    all.files
        .push(offer_global(writer, &mut batch, CERTS_JSON, &json)?);
    all.batches.push(batch);
    Ok((all, hosts_digest))
}

/// One worker's share of the tree: its batch, its files by kind (policies, vhosts, zones), and
/// its domains' manifest entries, all in domain order.
struct Part {
    batch: Batch,
    files: [Vec<FileEntry>; KINDS],
    domains: Vec<DomainEntry>,
    /// Where the next lookups in the previous manifest probably are: a worker's domains come
    /// in name order, and the manifest lists domains and each kind of file in about that order.
    near: Near,
}

/// Positions in the previous manifest's tables: its domains, and each kind of file.
#[derive(Default)]
struct Near {
    inputs: usize,
    files: [usize; KINDS],
}

/// Kinds of file made per domain.
const KINDS: usize = 9;
/// `webroot/<host>/.well-known/mta-sts.txt`.
const POLICY: usize = 0;
/// `nginx/<host>.conf`.
const VHOST: usize = 1;
/// `dns/<domain>.zone`.
const ZONE: usize = 2;
/// `github-pages/<host>/.nojekyll`: without it Pages hides `.well-known`.
const PAGES_JEKYLL: usize = 3;
/// `github-pages/<host>/CNAME`: the custom domain of the site.
const PAGES_CNAME: usize = 4;
/// `github-pages/<host>/.well-known/mta-sts.txt`.
const PAGES_POLICY: usize = 5;
/// `netlify/policies/<host>.txt`.
const NETLIFY_POLICY: usize = 6;
/// `octodns/<domain>.yaml`.
const OCTODNS: usize = 7;
/// `dnscontrol/<domain>.js`.
const DNSCONTROL: usize = 8;
/// Per kind: the target that makes it, and whether only per-host vhosts have it.
const KIND_TARGETS: [(Target, bool); KINDS] = [
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
const CLASS: [Class; KINDS] = [
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
const MEDIA: [&str; KINDS] = [
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
type Global<'a> = (Class, &'a str, &'static str);

/// The `records-json` target's file.
const RECORDS_JSON: &str = "dns/records.json";

/// The `records --format json` document of the published domains.
fn records_json(published: &[&DomainPlan]) -> Vec<u8> {
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

const SHARED_VHOST: Global = (Class::Nginx, "nginx/mta-sts.conf", "text/x-nginx-conf");
const CERTS_TXT: Global = (Class::Other, "certificates.txt", "text/plain");
const CERTS_JSON: Global = (Class::Other, "certificates.json", "application/json");

/// Offers one of the files made from every host.
fn offer_global(
    writer: &Writer,
    batch: &mut Batch,
    (class, path, media_type): Global<'_>,
    bytes: &[u8],
) -> Result<FileEntry, Error> {
    writer.offer(batch, class, path.into(), media_type, bytes)
}

/// Offers one domain's files (those of the `wanted` kinds) and returns its manifest entry.
#[allow(clippy::too_many_arguments)]
fn domain(
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
fn rows(d: &DomainPlan) -> Vec<crate::targets::dns::Row> {
    let records = crate::records::for_domain(&d.domain, &d.id);
    crate::targets::dns::rows(d.domain.name.as_str(), &records)
}
