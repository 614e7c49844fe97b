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

mod files;

use files::{
    CERTS_JSON, CERTS_TXT, Global, KIND_TARGETS, KINDS, Near, Part, RECORDS_JSON, SHARED_VHOST,
    domain, offer_global, records_json,
};

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
