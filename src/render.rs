//! Templates: built-ins embedded in the binary, each replaceable by a source the caller read
//! (`build::templates` reads them from the template directory). Nothing here touches a file.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::Error;
use crate::model::{Nginx, PolicyHost, Vhosts};
use crate::plan::DomainPlan;

/// Template name of the nginx vhost snippet.
pub const NGINX: &str = "nginx.conf.j2";
/// Template name of the zone fragment.
pub const ZONE: &str = "zone.j2";
/// Template name of the shared nginx configuration (`vhosts = "shared"`).
pub const NGINX_SHARED: &str = "nginx-shared.conf.j2";

/// A template source replacing a built-in: its text, and where it came from (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The built-in it replaces (one of the names in [`BUILTIN`]).
    pub name: &'static str,
    /// The template text.
    pub source: String,
    /// Where it was read from.
    pub origin: String,
}

/// The built-in templates, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    (NGINX, include_str!("../templates/nginx.conf.j2")),
    (ZONE, include_str!("../templates/zone.j2")),
    (
        NGINX_SHARED,
        include_str!("../templates/nginx-shared.conf.j2"),
    ),
];

/// A compiled template set; overrides were read and compiled when it was made.
pub struct Templates {
    env: Environment<'static>,
    origins: Vec<(&'static str, String)>,
    /// sha256 over this release and every template source: part of each domain's input digest.
    digest: Digest,
}

/// Everything one domain's nginx and zone files are rendered from.
pub struct DomainInputs<'a> {
    nginx: NginxContext<'a>,
    zone: ZoneContext<'a>,
}

#[derive(Serialize)]
struct NginxContext<'a> {
    domain: &'a str,
    domain_unicode: String,
    host: String,
    id: &'a str,
    mode: &'a str,
    listen: &'a [String],
    certificate: String,
    certificate_key: String,
    webroot: &'a str,
    root: String,
}

/// One policy host of the shared layout (also the certificate inventory's unit).
#[derive(Debug, Clone, Serialize)]
pub struct HostEntry {
    /// `mta-sts.<domain>`.
    pub host: String,
    /// Certificate path for it.
    pub certificate: String,
    /// Key path for it.
    pub certificate_key: String,
    /// Its document root.
    pub root: String,
}

impl HostEntry {
    /// The entry of one domain under `nginx`'s settings.
    pub fn new(plan: &DomainPlan, nginx: &Nginx) -> HostEntry {
        let domain = &plan.domain.name;
        let host = domain.policy_host();
        let batch = plan.certificate.as_deref();
        HostEntry {
            certificate: Nginx::expand(&nginx.certificate, domain, batch),
            certificate_key: Nginx::expand(&nginx.certificate_key, domain, batch),
            root: format!("{}/{host}", nginx.webroot.trim_end_matches('/')),
            host,
        }
    }
}

#[derive(Serialize)]
struct SharedContext<'a> {
    hosts: &'a [HostEntry],
    listen: &'a [String],
    webroot: &'a str,
    map_hash_max_size: usize,
    map_hash_bucket_size: usize,
}

#[derive(Serialize)]
struct ZoneContext<'a> {
    domain: &'a str,
    domain_unicode: String,
    id: &'a str,
    mode: &'a str,
    records: Vec<crate::records::Record>,
}

impl Templates {
    /// Compiles the built-ins, each replaced by its entry in `overrides` if there is one.
    pub fn compile(overrides: &[Override]) -> Result<Templates, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("default delimiters are valid"),
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.add_filter("nginx_quote", nginx_quote);
        let mut origins = Vec::new();
        let mut digest = Sha256::new();
        digest.update(env!("CARGO_PKG_VERSION").as_bytes());
        for &(name, builtin) in BUILTIN {
            let (source, origin) = match overrides.iter().find(|o| o.name == name) {
                Some(o) => (o.source.clone(), o.origin.clone()),
                None => (builtin.to_string(), format!("built-in {name}")),
            };
            for part in [name, "\0", &source, "\0"] {
                digest.update(part.as_bytes());
            }
            env.add_template_owned(name, source)
                .map_err(|e| template_error(&e, &origin))?;
            origins.push((name, origin));
        }
        Ok(Templates {
            env,
            origins,
            digest: digest.finalize().into(),
        })
    }

    /// The template contexts of one domain.
    pub fn inputs<'a>(&self, plan: &'a DomainPlan, nginx: &'a Nginx) -> DomainInputs<'a> {
        let d = &plan.domain.name;
        let entry = HostEntry::new(plan, nginx);
        let domain_unicode = d.host().to_unicode();
        DomainInputs {
            zone: ZoneContext {
                domain: d.as_str(),
                domain_unicode: domain_unicode.clone(),
                id: &plan.id,
                mode: plan.mode().as_str(),
                records: plan.records(),
            },
            nginx: NginxContext {
                domain: d.as_str(),
                domain_unicode,
                id: &plan.id,
                mode: plan.mode().as_str(),
                listen: &nginx.listen,
                certificate: entry.certificate,
                certificate_key: entry.certificate_key,
                webroot: &nginx.webroot,
                root: entry.root,
                host: entry.host,
            },
        }
    }

    /// sha256 over everything one domain's files are rendered from: this release and the
    /// templates, the `[nginx]` settings, and the domain's name, id, mode and policy bytes, and
    /// what its records are made from (TTL, policy host, report URIs). These are exactly the
    /// fields `inputs` builds its contexts from (keep the two in step), so equal digests render
    /// equal files and an unchanged domain is not rendered again.
    pub fn digest(&self, plan: &DomainPlan, nginx: &Nginx) -> Digest {
        let d = &plan.domain;
        let ttl = d.ttl.to_le_bytes();
        let addresses: Vec<String>;
        let policy = plan.policy();
        let mut fields = nginx_fields(nginx);
        fields.extend([
            d.name.as_str().as_bytes(),
            plan.id.as_bytes(),
            plan.mode().as_str().as_bytes(),
            policy.as_bytes(),
            &ttl,
        ]);
        match &d.policy_host {
            PolicyHost::Cname(target) => {
                fields.extend([b"cname".as_slice(), target.as_str().as_bytes()])
            }
            PolicyHost::Addresses(ips) => {
                addresses = ips.iter().map(ToString::to_string).collect();
                fields.push(b"addresses");
                fields.extend(addresses.iter().map(|a| a.as_bytes()));
            }
            PolicyHost::Cdn => fields.push(b"cdn"),
        }
        fields.push(b"rua");
        fields.extend(d.tlsrpt_rua.iter().map(|r| r.as_bytes()));
        // Only for aliases, so that every other domain's digest stays as it was.
        if let Some(primary) = &d.delegate_to {
            fields.extend([b"delegate_to".as_slice(), primary.as_str().as_bytes()]);
        }
        // Only with SAN batches: the batch names the certificate paths in the nginx text.
        if let Some(batch) = &plan.certificate {
            fields.extend([b"certificate".as_slice(), batch.as_bytes()]);
        }
        self.hash(nginx.listen.len(), fields)
    }

    /// sha256 over everything the files made from all hosts (certificate inventories, the
    /// shared vhost) are rendered from: this release and the templates, the `[nginx]` settings
    /// and the published domains' names, in order.
    pub fn hosts_digest<'a>(
        &self,
        nginx: &'a Nginx,
        names: impl Iterator<Item = &'a str>,
    ) -> Digest {
        let mut fields = nginx_fields(nginx);
        fields.extend(names.map(str::as_bytes));
        self.hash(nginx.listen.len(), fields)
    }

    /// The templates' digest, then `fields`, each length-prefixed so that no two different
    /// field lists hash the same bytes; `listen` is the number of listen fields among them.
    fn hash<'a>(&self, listen: usize, fields: impl IntoIterator<Item = &'a [u8]>) -> Digest {
        let mut hasher = Sha256::new();
        hasher.update(self.digest);
        hasher.update((listen as u64).to_le_bytes());
        for field in fields {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        hasher.finalize().into()
    }

    /// The nginx server block for one domain.
    pub fn nginx(&self, inputs: &DomainInputs) -> Result<String, Error> {
        self.render(NGINX, &inputs.nginx)
    }

    /// The one nginx file of the shared layout, serving `hosts`.
    pub fn nginx_shared(&self, hosts: &[HostEntry], nginx: &Nginx) -> Result<String, Error> {
        let longest = hosts
            .iter()
            .map(|h| h.host.len().max(h.root.len()).max(h.certificate.len()))
            .max()
            .unwrap_or(0);
        // The shared file is one render over every host: its budget grows with them.
        let mut env = self.env.clone();
        env.set_fuel(Some(
            FUEL.saturating_add(FUEL_PER_HOST.saturating_mul(hosts.len() as u64)),
        ));
        render(
            &env,
            self.origin(NGINX_SHARED),
            NGINX_SHARED,
            SharedContext {
                hosts,
                listen: &nginx.listen,
                webroot: &nginx.webroot,
                // Sized so that nginx starts without tuning by hand at any number of hosts.
                map_hash_max_size: (hosts.len() * 2).next_power_of_two().max(2048),
                map_hash_bucket_size: (longest + 64).next_multiple_of(64).max(128),
            },
        )
        .map(|text| {
            if nginx.map_hash_sizes {
                text
            } else {
                without_map_hash_sizes(&text)
            }
        })
    }

    /// The zone fragment for one domain.
    pub fn zone(&self, inputs: &DomainInputs) -> Result<String, Error> {
        self.render(ZONE, &inputs.zone)
    }

    fn render(&self, name: &'static str, ctx: impl Serialize) -> Result<String, Error> {
        render(&self.env, self.origin(name), name, ctx)
    }

    /// Where template `name` came from, for messages.
    fn origin(&self, name: &'static str) -> &str {
        self.origins
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(name, |(_, o)| o.as_str())
    }
}

/// Instructions one render may run (the built-in templates use a few hundred): an override
/// with nested `range()` loops stops with an error instead of hanging `build` and `watch`.
const FUEL: u64 = 1_000_000;
/// What the shared vhost's render may add per host.
const FUEL_PER_HOST: u64 = 10_000;

fn render(
    env: &Environment<'static>,
    origin: &str,
    name: &'static str,
    ctx: impl Serialize,
) -> Result<String, Error> {
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| template_error(&e, origin))
}

/// The `[nginx]` settings, as digest fields: every file of a domain is rendered from them.
/// The shared server's text with its http-level hash size directives (`map_hash_*_size`,
/// `server_names_hash_*_size`) turned into comments that keep the sizes needed: the `http`
/// block including it sets them, and nginx refuses a second one. Done on the rendered text,
/// so that it holds for overridden templates too.
fn without_map_hash_sizes(text: &str) -> String {
    const SIZES: [&str; 4] = [
        "map_hash_max_size ",
        "map_hash_bucket_size ",
        "server_names_hash_max_size ",
        "server_names_hash_bucket_size ",
    ];
    let mut out = String::with_capacity(text.len() + 400);
    for line in text.split_inclusive('\n') {
        if SIZES.iter().any(|s| line.starts_with(s)) {
            out.push_str("# map_hash_sizes = false: the http block must set at least: ");
        }
        out.push_str(line);
    }
    out
}

fn nginx_fields(nginx: &Nginx) -> Vec<&[u8]> {
    let mut fields: Vec<&[u8]> = vec![
        nginx.certificate.as_bytes(),
        nginx.certificate_key.as_bytes(),
        nginx.webroot.as_bytes(),
        match nginx.vhosts {
            Vhosts::PerHost => b"per-host",
            Vhosts::Shared => b"shared",
        },
    ];
    // Only settings away from their defaults count, so that adding a key leaves every
    // recorded digest, and so every manifest, as it was.
    if !nginx.map_hash_sizes {
        fields.push(b"map_hash_sizes = false");
    }
    if nginx.require_certificates {
        fields.push(b"require_certificates = true");
    }
    if nginx.hosts_per_certificate > 1 {
        fields.push(b"hosts_per_certificate");
    }
    if let Some(acme) = &nginx.acme_webroot {
        fields.extend([b"acme_webroot".as_slice(), acme.as_bytes()]);
        fields.extend(nginx.acme_listen.iter().map(|l| l.as_bytes()));
    }
    fields.extend(nginx.listen.iter().map(|l| l.as_bytes()));
    if let Some(r) = &nginx.receiver {
        fields.extend([
            b"receiver".as_slice(),
            r.host.as_bytes(),
            r.upstream.as_bytes(),
        ]);
    }
    fields
}

fn template_error(e: &minijinja::Error, origin: &str) -> Error {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    Error::Template {
        name: origin.to_string(),
        line: e.line().unwrap_or(0),
        message,
    }
}

/// Double-quotes a value for nginx; validated values never hold `"` or `\`, escaped anyway.
fn nginx_quote(value: String) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_override_names_file_and_line() {
        let broken = Override {
            name: ZONE,
            source: "ok\n{{ records }\n".into(),
            origin: "templates/zone.j2".into(),
        };
        let err = Templates::compile(&[broken]).err().unwrap();
        match err {
            Error::Template { name, line, .. } => {
                assert!(
                    name.ends_with("zone.j2") && !name.starts_with("built-in"),
                    "{name}"
                );
                assert_eq!(line, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    /// The digest of the one domain of `settings`, planned on an empty lock at a fixed time.
    fn digest_of(settings: &str, nginx: &str) -> Digest {
        let text = format!("[domains.\"a.example\"]\n{settings}\n[nginx]\n{nginx}\n");
        let (config, problems) = crate::config::parse(&text);
        let config = config.unwrap_or_else(|| panic!("{problems:?}"));
        let now = crate::clock::from_epoch("1764288000").unwrap();
        let plan = crate::plan::plan(config.domains, &crate::lock::Lock::new(), now, &[]);
        Templates::compile(&[])
            .unwrap()
            .digest(&plan.domains[0], &config.nginx)
    }

    #[test]
    fn every_input_of_a_domain_s_files_is_in_its_digest() {
        let base = "mx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n";
        let variants = [
            (base.to_string(), ""),
            (format!("{base}ttl = 300"), ""),
            (format!("{base}tlsrpt_rua = [\"mailto:t@example.net\"]"), ""),
            (format!("{base}max_age = 1209600"), ""),
            (format!("{base}mode = \"enforce\""), ""),
            (format!("{base}id = \"pinned1\""), ""),
            (base.replace("mail.example.net", "other.example.net"), ""),
            (
                base.replace(
                    "policy_cname = \"mail.example.net\"",
                    "policy_addresses = [\"192.0.2.1\"]",
                ),
                "",
            ),
            (base.to_string(), "listen = [\"8443 ssl\"]"),
            (base.to_string(), "certificate = \"/x/{host}.pem\""),
            (base.to_string(), "vhosts = \"shared\""),
        ];
        let digests: Vec<Digest> = variants.iter().map(|(s, n)| digest_of(s, n)).collect();
        assert_eq!(digest_of(base, ""), digests[0], "not deterministic");
        for (i, a) in digests.iter().enumerate() {
            for (j, b) in digests.iter().enumerate().skip(i + 1) {
                assert_ne!(
                    a, b,
                    "{:?} and {:?} share a digest",
                    variants[i], variants[j]
                );
            }
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(nginx_quote("a\"b\\c".into()), r#""a\"b\\c""#);
    }
}
