//! The tables beside the domains: `[nginx]` and `[output]`.

use crate::config::raw::{RawNginx, Sp};
use crate::diag::Problem;
use crate::model::{Nginx, Target, Vhosts};

use super::fields::{Field, field, list};

/// The `[nginx]` table, its defaults filled in.
pub(super) fn nginx(raw: &RawNginx, problems: &mut Vec<Problem>) -> Nginx {
    let d = Nginx::default();
    let listen = list(&raw.listen, "listen", problems, |s| {
        crate::config::nginx::listen(s)
            .map_err(|(label, help)| ("invalid listen line".into(), label, help))
    })
    .set_or(d.listen);
    let vhosts = field(&raw.vhosts, problems, |s| vhosts(s)).set_or(d.vhosts);
    let per_certificate = match field(&raw.hosts_per_certificate, problems, |n| {
        hosts_per_certificate(*n)
    }) {
        Field::Set(n, span) => Some((n, span)),
        _ => None,
    };
    let nginx = Nginx {
        hosts_per_certificate: per_certificate.as_ref().map_or(1, |(n, _)| *n),
        vhosts,
        listen,
        certificate: path(&raw.certificate, "certificate", true, problems).set_or(d.certificate),
        certificate_key: path(&raw.certificate_key, "certificate_key", true, problems)
            .set_or(d.certificate_key),
        webroot: path(&raw.webroot, "webroot", false, problems).set_or(d.webroot),
        map_hash_sizes: raw
            .map_hash_sizes
            .as_ref()
            .map_or(d.map_hash_sizes, |b| b.value),
        require_certificates: raw
            .require_certificates
            .as_ref()
            .map_or(d.require_certificates, |b| b.value),
        acme_webroot: raw.acme_webroot.as_ref().map(|_| {
            path(&raw.acme_webroot, "acme_webroot", false, problems).set_or(String::new())
        }),
        user: user(&raw.user, problems).unwrap_or_else(|| d.user.clone()),
        receiver: receiver(raw, problems),
        acme_listen: list(&raw.acme_listen, "acme_listen", problems, |s| {
            crate::config::nginx::plain_listen(s)
                .map_err(|(label, help)| ("invalid acme_listen line".into(), label, help))
        })
        .set_or(d.acme_listen),
    };
    if let Some((n, span)) = per_certificate.filter(|(n, _)| *n > 1) {
        batch_paths(&nginx, n, span, problems);
    }
    nginx
}

/// A certificate or key path (with `{host}`-style placeholders where `placeholders`).
fn path(
    raw: &Option<Sp<String>>,
    key: &str,
    placeholders: bool,
    problems: &mut Vec<Problem>,
) -> Field<String> {
    field(raw, problems, |s| {
        crate::config::nginx::path(s, placeholders)
            .map(|()| s.clone())
            .map_err(|(label, help)| (format!("invalid {key}"), label, help))
    })
}

fn vhosts(s: &str) -> Result<Vhosts, super::fields::Refusal> {
    match s {
        "per-host" => Ok(Vhosts::PerHost),
        "shared" => Ok(Vhosts::Shared),
        other => Err((
            format!("unknown vhosts layout {other:?}"),
            "not a layout".into(),
            "use \"per-host\" (a server block per host) or \"shared\" (one server for every host; for thousands of domains)".into(),
        )),
    }
}

fn hosts_per_certificate(n: i64) -> Result<usize, super::fields::Refusal> {
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| {
            (
                format!("hosts_per_certificate = {n} is out of range"),
                "not 1 to 100".into(),
                "Let's Encrypt puts at most 100 names on a certificate: use 1 (a certificate per host, the default) up to 100".into(),
            )
        })
}

/// Hosts sharing certificates (`hosts_per_certificate` = `n` above 1) need paths that name
/// the certificate, not the host.
fn batch_paths(nginx: &Nginx, n: usize, span: std::ops::Range<usize>, problems: &mut Vec<Problem>) {
    let named =
        |t: &str| t.contains("{certificate}") && !t.contains("{host}") && !t.contains("{domain}");
    if !named(&nginx.certificate) || !named(&nginx.certificate_key) {
        problems.push(
            Problem::error(
                span,
                format!("hosts_per_certificate = {n} needs the certificate paths to name the certificate, not the host"),
                "hosts share certificates",
            )
            .help("write {certificate} (and no {host} or {domain}) in both paths, e.g. certificate = \"/etc/letsencrypt/live/{certificate}/fullchain.pem\" and certificate_key = \"/etc/letsencrypt/live/{certificate}/privkey.pem\""),
        );
    }
}

/// `[nginx] user`: a user name as nginx's `user` directive takes it, or `None` when unset or
/// invalid (the problem is recorded).
fn user(raw: &Option<Sp<String>>, problems: &mut Vec<Problem>) -> Option<String> {
    match field(raw, problems, |u| {
        let ok = u.len() <= 32
            && u.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && u.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if ok {
            Ok(u.clone())
        } else {
            Err((
                format!("user = {u:?} is not a user name"),
                "not a user name".into(),
                "the user nginx's workers run as (its `user` directive), such as \"www-data\" or \"nginx\"".into(),
            ))
        }
    }) {
        Field::Set(u, _) => Some(u),
        _ => None,
    }
}

/// `receiver_host` and `receiver_upstream`, which go together.
fn receiver(raw: &RawNginx, problems: &mut Vec<Problem>) -> Option<crate::model::Receiver> {
    let host = field(&raw.receiver_host, problems, |h| {
        crate::names::HostName::parse(h)
            .map(|n| n.as_str().to_string())
            .map_err(|e| {
                (
                    format!("receiver_host = {h:?} is not a host name: {e}"),
                    "not a host name".into(),
                    "the host reporters POST to, as in tlsrpt_rua = [\"https://tlsrpt.example.com/v1/tlsrpt\"]".into(),
                )
            })
    });
    let upstream = field(&raw.receiver_upstream, problems, |u| {
        u.parse::<std::net::SocketAddr>()
            .map(|a| a.to_string())
            .map_err(|_| {
                (
                    format!("receiver_upstream = {u:?} is not IP:PORT"),
                    "not IP:PORT".into(),
                    "where `mtasts receive --listen` listens, such as \"127.0.0.1:8425\"".into(),
                )
            })
    });
    match (host, upstream) {
        (Field::Set(host, _), Field::Set(upstream, _)) => {
            Some(crate::model::Receiver { host, upstream })
        }
        (Field::Set(_, span), Field::Unset) | (Field::Unset, Field::Set(_, span)) => {
            problems.push(
                Problem::error(span, "receiver_host and receiver_upstream go together", "only one of the two")
                    .help("set both: the host reporters POST to, and where `mtasts receive --listen` listens"),
            );
            None
        }
        _ => None,
    }
}

/// `[output] targets`: known names, each once, in `Target` order; the default when unset.
pub(super) fn targets(
    raw: &Option<Sp<Vec<Sp<String>>>>,
    problems: &mut Vec<Problem>,
) -> Vec<Target> {
    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    let mut targets = match list(raw, "targets", problems, |name| {
        Target::parse(name).ok_or_else(|| {
            let hint = names
                .iter()
                .find(|k| crate::config::raw::similar(k, name))
                .map_or(String::new(), |k| format!("did you mean {k:?}? "));
            (
                format!("unknown output target {name:?}"),
                "not a target".into(),
                format!("{hint}targets: {}", names.join(", ")),
            )
        })
    }) {
        Field::Set(targets, _) => targets,
        _ => Target::DEFAULT.to_vec(),
    };
    targets.sort();
    targets
}
