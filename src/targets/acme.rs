//! The port-80 server of `[nginx] acme_webroot`: ACME HTTP-01 challenges for the policy hosts,
//! answered from that directory; everything else on port 80 is a 404, never a redirect, since
//! the policy is served over HTTPS only (RFC 8461 §3.3). Appended to the generated nginx text,
//! so that configurations without it keep their bytes and digests.

use std::fmt::Write as _;

use crate::model::Nginx;

/// Which hosts a port-80 server answers for.
pub(crate) enum Hosts<'a> {
    /// One host (the per-host layout).
    One(&'a str),
    /// Every policy host, those waiting for their certificate included (the shared layout).
    All(&'a [String]),
}

/// The server block, or nothing when `acme_webroot` is unset.
pub(crate) fn server(nginx: &Nginx, hosts: Hosts<'_>) -> String {
    let Some(webroot) = &nginx.acme_webroot else {
        return String::new();
    };
    let mut text = String::from(
        "\n# ACME HTTP-01 ([nginx] acme_webroot): challenges only. Everything else on port 80 is a\n\
         # 404: the policy is served over HTTPS only (RFC 8461 section 3.3).\n",
    );
    if let Hosts::All(all) = &hosts {
        // Its own map: a host still waiting for its certificate is not in the TLS maps, and
        // needs this server most.
        text.push_str("map $host $mtasts_acme {\n    default \"\";\n");
        for host in *all {
            let _ = writeln!(text, "    {host} 1;");
        }
        text.push_str("}\n\n");
    }
    text.push_str("server {\n");
    for line in &nginx.acme_listen {
        let _ = writeln!(text, "    listen {line};");
    }
    // Exact names, as on port 443: the operator's `*.example.com` redirect to HTTPS or a
    // `default_server` would win over `mta-sts.*` and take the challenge away.
    let (name, guard) = match hosts {
        Hosts::One(host) => (format!(" {host}"), ""),
        Hosts::All([]) => (" \"\"".to_string(), ""),
        Hosts::All(all) => (
            all.iter().fold(String::new(), |mut s, h| {
                let _ = write!(s, "\n        {h}");
                s
            }),
            // This server may still be the implicit default of its address.
            "        if ($mtasts_acme = \"\") {\n            return 404;\n        }\n",
        ),
    };
    let _ = write!(
        text,
        "    server_name{name};\n\n    location ^~ /.well-known/acme-challenge/ {{\n{guard}\
         \x20       root \"{webroot}\";\n        default_type text/plain;\n        try_files $uri =404;\n    }}\n\n\
         \x20   location / {{\n        return 404;\n    }}\n}}\n"
    );
    text
}
