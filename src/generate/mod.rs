//! The output tree of a plan, generated per domain on several threads. A domain whose input
//! digest matches the previous manifest keeps its files, unrendered and unread; the others are
//! rendered, hashed, and staged where their bytes differ from what is there.

use indicatif::ProgressBar;

use crate::error::Error;
use crate::manifest::{Digest, DomainEntry, FileEntry};
use crate::model::{Nginx, Target};
use crate::output::{Batch, Class, Previous, Report, Writer};
use crate::plan::{DomainPlan, Plan};
use crate::render::Templates;
use crate::targets::nginx::certificate_ready;
use crate::targets::{AllHosts, Emitter, Global, REGISTRY};

mod files;

use files::{Build, Near, Part, offer_global};

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

/// Generates the whole tree of `plan` through `writer`; also returns the host-set digest.
/// The targets are those of [`REGISTRY`] that `targets` turns on; none is named here but
/// `nginx`, whose certificates decide which hosts it serves (and so enter the digests).
/// Kept whole: the order (domains, then the files made from all of them, then DANE) is the
/// manifest's.
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
    let emitters: Vec<&dyn Emitter> = REGISTRY
        .iter()
        .copied()
        .filter(|e| targets.contains(&e.target()))
        .collect();
    let nginx_on = targets.contains(&Target::Nginx);
    let build = Build {
        kinds: emitters
            .iter()
            .flat_map(|e| {
                e.kinds(nginx)
                    .iter()
                    .enumerate()
                    .map(move |(i, kind)| (*e, i, *kind))
            })
            .collect(),
        nginx,
        templates,
        writer,
        previous,
    };
    let mut parts = in_parts(&build, &published, nginx_on, progress)?;
    let ready: Vec<bool> = if nginx.require_certificates && nginx_on {
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
            .filter(|_| nginx_on)
            .zip(&ready)
            .filter(|(_, ready)| !**ready)
            .map(|(d, _)| d.domain.name.policy_host())
            .collect(),
    };
    // Each kind of file in domain order is nearly in path order: the whole list is then a few
    // long runs, which the writer's stable sort merges instead of comparing every path twenty
    // times.
    for kind in 0..build.kinds.len() {
        for part in &mut parts {
            all.files.append(&mut part.files[kind]);
        }
    }
    for part in parts {
        all.batches.push(part.batch);
        all.domains.extend(part.domains);
    }
    let hosts_digest = hosts_digest(
        &emitters,
        &published,
        &ready,
        &all.domains,
        &plan.dane.hosts,
        nginx,
        templates,
    );
    let hosts = AllHosts::new(&published, &ready, nginx, templates, &plan.dane.hosts);
    let mut batch = globals(
        &emitters,
        &hosts,
        &hosts_digest,
        writer,
        previous,
        &mut all.files,
    )?;
    dane_files(&emitters, plan, writer, &mut batch, &mut all.files)?;
    all.batches.push(batch);
    Ok((all, hosts_digest))
}

/// Every published domain's files, offered on one thread per share of the domains; the
/// shares come back in domain order.
fn in_parts(
    build: &Build<'_>,
    published: &[&DomainPlan],
    nginx_on: bool,
    progress: &ProgressBar,
) -> Result<Vec<Part>, Error> {
    let (nginx, writer) = (build.nginx, build.writer);
    let kinds = build.kinds.len();
    let threads = crate::parallel::threads();
    // Small trees are not worth a thread each.
    let chunk = published.len().div_ceil(threads).max(256);
    std::thread::scope(|s| {
        let workers: Vec<_> = published
            .chunks(chunk)
            .map(|domains| {
                s.spawn(move || {
                    let n = domains.len();
                    let mut part = Part {
                        batch: writer.batch(),
                        files: (0..kinds).map(|_| Vec::with_capacity(n)).collect(),
                        domains: Vec::with_capacity(n),
                        near: Near {
                            inputs: 0,
                            files: vec![0; kinds],
                        },
                    };
                    for d in domains {
                        let ready = nginx_on && certificate_ready(nginx, d);
                        let entry = build.domain(d, ready, &mut part)?;
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
    })
}

/// Offers the TLSA records of the `[dane]` MX hosts, in each enabled DNS target's own files.
fn dane_files(
    emitters: &[&dyn Emitter],
    plan: &Plan,
    writer: &Writer,
    batch: &mut Batch,
    files: &mut Vec<FileEntry>,
) -> Result<(), Error> {
    for e in emitters {
        for (path, media_type, bytes) in e.dane_files(&plan.dane.hosts) {
            files.push(writer.offer(batch, Class::Dns, path, media_type, &bytes)?);
        }
    }
    Ok(())
}

/// The digest of what the files made from every host are made from. A host left out changes
/// the shared server's maps; the CDN and records files hold every domain's policy and records,
/// so then every domain's input digest counts (only then: the default targets' digests stay as
/// they were).
fn hosts_digest(
    emitters: &[&dyn Emitter],
    published: &[&DomainPlan],
    ready: &[bool],
    domains: &[DomainEntry],
    dane: &[crate::dane::HostPlan],
    nginx: &Nginx,
    templates: &Templates,
) -> Digest {
    let policies = emitters.iter().any(|e| e.holds_every_domain()).then(|| {
        let mut all_inputs = Vec::with_capacity(domains.len() * 32);
        for d in domains {
            all_inputs.extend_from_slice(&d.inputs);
        }
        format!("\0policies {}", crate::digest::sha256_hex(&all_inputs))
    });
    // Without [dane] nothing is added, so the digests of such builds stay as they were.
    let dane = (!dane.is_empty()).then(|| {
        let zones: String = dane.iter().map(crate::dane::HostPlan::zone_text).collect();
        format!("\0dane {}", crate::digest::sha256_hex(zones.as_bytes()))
    });
    templates.hosts_digest(
        nginx,
        published
            .iter()
            .zip(ready)
            .flat_map(|(d, ready)| {
                std::iter::once(d.domain.name.as_str())
                    .chain((!ready).then_some("\0left out"))
                    .chain(d.certificate.as_deref())
            })
            .chain(policies.as_deref())
            .chain(dane.as_deref()),
    )
}

/// Offers the enabled targets' files made from every host into `files`: carried unrendered
/// while `hosts_digest` is the previous build's, else made one at a time (at 100,000 hosts
/// some are tens of MB each). Returns their batch.
fn globals(
    emitters: &[&dyn Emitter],
    hosts: &AllHosts<'_>,
    hosts_digest: &Digest,
    writer: &Writer,
    previous: &Previous,
    files: &mut Vec<FileEntry>,
) -> Result<Batch, Error> {
    let globals: Vec<(&dyn Emitter, usize, Global)> = emitters
        .iter()
        .flat_map(|e| {
            e.globals(hosts.nginx)
                .iter()
                .enumerate()
                .map(move |(i, g)| (*e, i, *g))
        })
        .collect();
    let mut batch = writer.batch();
    if previous.trusted() && previous.hosts() == Some(hosts_digest) {
        let kept: Option<Vec<FileEntry>> = globals
            .iter()
            .map(|&(_, _, (_, path, media_type))| previous.entry(path, media_type))
            .collect();
        if let Some(kept) = kept {
            files.extend(kept.into_iter().map(|f| writer.keep(&mut batch, f)));
            return Ok(batch);
        }
    }
    for (target, index, global) in globals {
        let bytes = target.global_bytes(index, hosts)?;
        files.push(offer_global(writer, &mut batch, global, &bytes)?);
    }
    Ok(batch)
}
