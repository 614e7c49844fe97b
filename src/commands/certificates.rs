//! `mtasts certificates`: per certificate the nginx output expects, the policy hosts it must
//! cover and the exact ACME command, as an argv array (never a shell string), that obtains or
//! renews it over HTTP-01 into `[nginx] acme_webroot`.

use serde::Serialize;

use super::{Paths, Ui};
use crate::cli::{AcmeClient, CertificatesArgs, Format};
use crate::error::Error;
use crate::targets::inventory::Certificates;

/// One certificate: its name, hosts, paths and command.
#[derive(Serialize)]
struct Certificate<'a> {
    name: &'a str,
    hosts: &'a [String],
    certificate: &'a str,
    certificate_key: &'a str,
    command: Vec<String>,
}

/// Prints every certificate with its command.
pub(crate) fn run(ctx: &Paths, args: &CertificatesArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let crate::project::Project { loaded, plan, .. } = crate::project::Project::load(ctx, ui)?;
    let nginx = &loaded.config.nginx;
    let webroot = nginx.acme_webroot.as_deref().ok_or_else(|| {
        Error::Setup(
            "the commands answer HTTP-01 challenges from [nginx] acme_webroot, which is not set: \
             set it (see docs/nginx.md) and deploy the nginx output first"
                .into(),
        )
    })?;
    let published: Vec<_> = plan.domains.iter().filter(|d| d.published()).collect();
    let inventory = Certificates::of(&published, nginx);
    if args.client == AcmeClient::Lego && nginx.hosts_per_certificate > 1 {
        return Err(Error::Setup(
            "lego names a certificate's files after its first host, which changes as batches fill, \
             so SAN batches (hosts_per_certificate above 1) need certbot, whose --cert-name keeps \
             the batch name: use --client certbot"
                .into(),
        ));
    }
    if args.client == AcmeClient::Lego && args.email.is_none() {
        return Err(Error::Setup(
            "lego registers its ACME account with an e-mail address: pass --email ADDRESS".into(),
        ));
    }
    // Every command must put the files exactly where nginx loads them: checked for all
    // before any is printed.
    let placed: Vec<Vec<String>> = inventory
        .each()
        .map(|(name, certificate, key, _)| placement(args.client, &name, certificate, key))
        .collect::<Result<_, _>>()?;
    let account = Account {
        client: args.client,
        email: args.email.as_deref(),
        server: args.server.as_deref(),
    };
    let format = args.format;
    ui.out_streamed(&mut |w| {
        if format == Format::Json {
            w.write_all(b"{\"certificates\": [")?;
        }
        for (i, ((name, certificate, key, hosts), place)) in
            inventory.each().zip(&placed).enumerate()
        {
            let cert = Certificate {
                name: &name,
                hosts: &hosts,
                certificate,
                certificate_key: key,
                command: command(&account, webroot, &name, place, &hosts),
            };
            match format {
                Format::Json => {
                    w.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
                    serde_json::to_writer(&mut *w, &cert).map_err(std::io::Error::from)?;
                }
                Format::Text => {
                    if i > 0 {
                        w.write_all(b"\n")?;
                    }
                    writeln!(w, "{}: {}", cert.name, hosts.join(" "))?;
                    writeln!(w, "  certificate {certificate}")?;
                    writeln!(w, "  key         {key}")?;
                    write!(w, "  command     {}", shown(&cert.command))?;
                }
            }
        }
        if format == Format::Json {
            w.write_all(b"\n]}")?;
        }
        Ok(())
    });
    Ok(())
}

/// Which client, under which ACME account and directory.
struct Account<'a> {
    client: AcmeClient,
    email: Option<&'a str>,
    server: Option<&'a str>,
}

/// certbot's default `--config-dir`.
const CERTBOT_DIR: &str = "/etc/letsencrypt";

/// The options that make `client` write the certificate `name` exactly to `certificate` and
/// `key`, or why it cannot: certbot writes `<config-dir>/live/<cert-name>/fullchain.pem` and
/// `privkey.pem`, lego `<path>/certificates/<first host>.crt` and `.key`. A command that put
/// the files elsewhere would leave nginx on the old certificate (or, with
/// `require_certificates`, the host out) with no error anywhere.
fn placement(
    client: AcmeClient,
    name: &str,
    certificate: &str,
    key: &str,
) -> Result<Vec<String>, Error> {
    let (wanted_cert, wanted_key, option, default) = match client {
        AcmeClient::Certbot => (
            format!("/live/{name}/fullchain.pem"),
            format!("/live/{name}/privkey.pem"),
            "--config-dir",
            Some(CERTBOT_DIR),
        ),
        AcmeClient::Lego => (
            format!("/certificates/{name}.crt"),
            format!("/certificates/{name}.key"),
            "--path",
            None,
        ),
    };
    let dir = certificate
        .strip_suffix(&wanted_cert)
        .filter(|d| !d.is_empty() && key.strip_suffix(&wanted_key) == Some(*d));
    match dir {
        Some(d) if Some(d) == default => Ok(Vec::new()),
        Some(d) => Ok(vec![option.to_string(), d.to_string()]),
        None => {
            let (client, layout, example) = match client {
                AcmeClient::Certbot => (
                    "certbot",
                    "<config-dir>/live/<cert-name>/fullchain.pem and privkey.pem",
                    "certificate = \"/etc/letsencrypt/live/{certificate}/fullchain.pem\" and certificate_key = \"/etc/letsencrypt/live/{certificate}/privkey.pem\"",
                ),
                AcmeClient::Lego => (
                    "lego",
                    "<path>/certificates/<host>.crt and .key",
                    "certificate = \"/var/lib/lego/certificates/{host}.crt\" and certificate_key = \"/var/lib/lego/certificates/{host}.key\"",
                ),
            };
            Err(Error::Setup(format!(
                "{client} writes the certificate {name} to {layout}, but [nginx] points at {certificate} and {key}: no {client} command puts it there, and nginx would keep loading the old files. Set {example} in [nginx] (or use the other --client)"
            )))
        }
    }
}

/// The argv that obtains (or renews) the certificate of `hosts` over HTTP-01, with `place`
/// (the options that put its files where nginx loads them).
fn command(
    account: &Account<'_>,
    webroot: &str,
    name: &str,
    place: &[String],
    hosts: &[String],
) -> Vec<String> {
    let mut argv: Vec<String> = match account.client {
        AcmeClient::Certbot => [
            "certbot",
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--keep-until-expiring",
            "--webroot",
            "--webroot-path",
            webroot,
            "--cert-name",
            name,
        ]
        .map(String::from)
        .to_vec(),
        AcmeClient::Lego => ["lego", "--accept-tos", "--http", "--http.webroot", webroot]
            .map(String::from)
            .to_vec(),
    };
    argv.extend(place.iter().cloned());
    match (account.client, account.email) {
        (AcmeClient::Certbot, None) => argv.push("--register-unsafely-without-email".into()),
        (AcmeClient::Certbot, Some(email)) => argv.extend(["--email".into(), email.into()]),
        (AcmeClient::Lego, Some(email)) => argv.extend(["--email".into(), email.into()]),
        (AcmeClient::Lego, None) => {}
    }
    if let Some(server) = account.server {
        argv.extend(["--server".into(), server.into()]);
    }
    for host in hosts {
        argv.extend(["-d".to_string(), host.clone()]);
    }
    if account.client == AcmeClient::Lego {
        argv.push("run".into());
    }
    argv
}

/// An argv for reading: words with characters a shell would treat specially are single-quoted
/// (names and paths are validated, so this is for display, never for a shell).
fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@".contains(&b))
            {
                a.clone()
            } else {
                format!("'{a}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
