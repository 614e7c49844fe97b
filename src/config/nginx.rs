//! `[nginx]` values that reach nginx configuration text: listen lines and paths.

type Refusal = (String, String);

/// `listen` flags that make sense on a policy host; anything else is refused.
const FLAGS: &[&str] = &[
    "ssl",
    "http2",
    "quic",
    "default_server",
    "reuseport",
    "deferred",
    "bind",
    "proxy_protocol",
];
const VALUED_FLAGS: &[&str] = &[
    "ipv6only",
    "backlog",
    "rcvbuf",
    "sndbuf",
    "fastopen",
    "so_keepalive",
];

/// Checks one `listen` line: `PORT`, `ADDR:PORT`, `[V6]:PORT` or `*:PORT`, then flags incl. `ssl`.
pub(crate) fn listen(line: &str) -> Result<String, Refusal> {
    let flags = listen_flags(line, "443 ssl")?;
    if !flags.iter().any(|f| *f == "ssl" || *f == "quic") {
        return Err((
            "the policy host must be served over HTTPS".into(),
            format!("add the ssl flag: \"{line} ssl\""),
        ));
    }
    Ok(line.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
}

/// Checks one `acme_listen` line: like `listen`, for plain HTTP (no `ssl`, `quic`, `http2`).
pub(crate) fn plain_listen(line: &str) -> Result<String, Refusal> {
    let flags = listen_flags(line, "80")?;
    if let Some(tls) = flags.iter().find(|f| ["ssl", "quic", "http2"].contains(f)) {
        return Err((
            format!("the flag {tls:?} has no place on the port-80 server"),
            "ACME HTTP-01 is plain HTTP: write for example \"80\" or \"[::]:80 ipv6only=on\""
                .into(),
        ));
    }
    Ok(line.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
}

/// The address and port of a listen line checked, and the names of its known flags; an
/// unknown or unsafe flag is refused. `example` is what an empty line should look like.
fn listen_flags<'l>(line: &'l str, example: &str) -> Result<Vec<&'l str>, Refusal> {
    let mut words = line.split_ascii_whitespace();
    let Some(address) = words.next() else {
        return Err((
            "empty listen line".into(),
            format!("write for example \"{example}\""),
        ));
    };
    address_port(address)?;
    let mut flags = Vec::new();
    for word in words {
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        let known = if value.is_empty() {
            FLAGS.contains(&name)
        } else {
            VALUED_FLAGS.contains(&name)
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b':')
        };
        if !known {
            return Err((
                format!("unknown or unsafe listen flag {word:?}"),
                format!(
                    "allowed flags: {}, and {}=VALUE",
                    FLAGS.join(", "),
                    VALUED_FLAGS.join("=, ")
                ),
            ));
        }
        flags.push(name);
    }
    Ok(flags)
}

fn address_port(address: &str) -> Result<(), Refusal> {
    let bad = || {
        (
            format!("{address:?} is not an address and port"),
            "write PORT, IPV4:PORT, [IPV6]:PORT or *:PORT, e.g. \"443 ssl\" or \"[::]:443 ssl\""
                .into(),
        )
    };
    let port = match address.rsplit_once(':') {
        None => address,
        Some((host, port)) => {
            let ok = host == "*"
                || host.parse::<std::net::Ipv4Addr>().is_ok()
                || host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
            if !ok {
                return Err(bad());
            }
            port
        }
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(bad()),
    }
}

/// Checks a path that is written into nginx configuration inside double quotes.
pub(crate) fn path(value: &str, placeholders: bool) -> Result<(), Refusal> {
    if value.is_empty() {
        return Err(("empty path".into(), "write an absolute path".into()));
    }
    let stripped = if placeholders {
        value
            .replace("{host}", "")
            .replace("{domain}", "")
            .replace("{certificate}", "")
    } else {
        value.to_string()
    };
    if let Some(c) = stripped
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || "\"\\$;#{}'`".contains(*c))
    {
        let what = if c.is_ascii_control() {
            format!("control character U+{:04X}", c as u32)
        } else {
            format!("{c:?}")
        };
        let help = if c == '{' || c == '}' {
            "the only placeholders are {host} (mta-sts.<domain>), {domain} and {certificate} (the certificate's name: the host, or its batch with hosts_per_certificate)"
        } else {
            "paths may not contain quotes, backslashes, '$', ';', '#', braces, control or non-ASCII characters, so no value can add an nginx directive"
        };
        return Err((format!("the path contains {what}"), help.into()));
    }
    if !placeholders && !value.starts_with('/') {
        return Err((
            "not an absolute path".into(),
            "write the directory where output/webroot is deployed, e.g. \"/var/www/mta-sts\""
                .into(),
        ));
    }
    if value.split('/').any(|part| part == "..") {
        return Err((
            "the path contains \"..\"".into(),
            "write the path without parent-directory steps".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_lines() {
        assert_eq!(listen("443   ssl").unwrap(), "443 ssl");
        assert!(listen("[::]:443 ssl ipv6only=on").is_ok());
        assert!(listen("127.0.0.1:8443 ssl http2 default_server").is_ok());
        assert!(listen("*:443 ssl").is_ok());
        for bad in [
            "443",
            "",
            "443 ssl; return 301 x",
            "443 ssl { }",
            "host.example:443 ssl",
            "[::1:443 ssl",
            "99999 ssl",
            "0 ssl",
            "unix:/tmp/x ssl",
            "443 ssl backlog=1;x",
        ] {
            assert!(listen(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths() {
        assert!(path("/etc/ssl/{host}/fullchain.pem", true).is_ok());
        assert!(path("/var/www/mta-sts", false).is_ok());
        assert!(path("/var/www/my sites", false).is_ok());
        for (bad, ph) in [
            ("/x\";\n ssl_certificate /y", true),
            ("/etc/{hostname}/a", true),
            ("/etc/$ssl_server_name", true),
            ("relative/dir", false),
            ("/var/www/{host}", false),
            ("/var/../etc", false),
            ("/x\\y", true),
            ("/x#y", true),
        ] {
            assert!(path(bad, ph).is_err(), "{bad:?} accepted");
        }
    }
}
