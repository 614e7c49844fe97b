//! TLS-RPT `rua` URIs (RFC 8460 §3): only `mailto:` and `https:`, with `,` `!` `;` encoded.

use crate::names::{HostName, NameError};

/// Validates one report URI and returns it with a lower-case scheme.
pub(crate) fn report_uri(input: &str) -> Result<String, NameError> {
    let (scheme, rest) = match input.split_once(':') {
        Some((s, r)) if s.eq_ignore_ascii_case("mailto") => ("mailto", r),
        Some((s, r)) if s.eq_ignore_ascii_case("https") => ("https", r),
        Some((s, _)) if s.eq_ignore_ascii_case("http") => {
            return Err(err(
                "http: is not a TLS-RPT scheme",
                "RFC 8460 §3 supports only mailto: and https:; use https://",
            ));
        }
        _ if input.contains('@') && !input.contains("//") => {
            return Err(err(
                "the URI has no scheme",
                format!("write \"mailto:{input}\""),
            ));
        }
        _ => {
            return Err(err(
                "unsupported URI scheme",
                "RFC 8460 §3 supports only mailto: and https: URIs",
            ));
        }
    };
    if !input.is_ascii() {
        return Err(err(
            "the URI contains non-ASCII characters",
            match ascii_host_hint(scheme, rest) {
                Some(hint) => format!("write the host in A-label form: {hint}"),
                None => "percent-encode them, and write host names as A-labels (xn--...)".into(),
            },
        ));
    }
    if let Some(c) = input
        .chars()
        .find(|c| !uri_char(*c) && !matches!(c, ',' | '!' | ';'))
    {
        let shown = if c.is_ascii_control() {
            format!("control character U+{:04X}", c as u32)
        } else {
            format!("{c:?}")
        };
        return Err(err(
            format!("the URI contains {shown}"),
            "URIs (RFC 3986) cannot contain spaces, quotes, backslashes or control characters; percent-encode them",
        ));
    }
    if let Some(c) = input.chars().find(|c| matches!(c, ',' | '!' | ';')) {
        let encoded = input
            .replace(',', "%2C")
            .replace('!', "%21")
            .replace(';', "%3B");
        let why = if c == ',' && scheme == "mailto" {
            "; for two addresses write two list entries"
        } else {
            ""
        };
        return Err(err(
            format!("{c:?} must be percent-encoded inside a TLS-RPT URI"),
            format!("RFC 8460 §3: write \"{encoded}\"{why}"),
        ));
    }
    if !percent_escapes_ok(input) {
        return Err(err(
            "a '%' is not followed by two hex digits",
            "write a literal '%' as %25",
        ));
    }
    match scheme {
        "mailto" => mailto(rest)?,
        _ => https(rest)?,
    }
    Ok(format!("{scheme}:{rest}"))
}

fn mailto(rest: &str) -> Result<(), NameError> {
    let addr = rest.split('?').next().unwrap_or_default();
    let Some((local, host)) = addr.rsplit_once('@') else {
        return Err(err(
            "mailto: needs an address such as tlsrpt@example.com",
            "write \"mailto:tlsrpt@example.com\"",
        ));
    };
    if local.is_empty() {
        return Err(err(
            "the address has an empty local part",
            "write \"mailto:tlsrpt@example.com\"",
        ));
    }
    host_part(host)
}

fn https(rest: &str) -> Result<(), NameError> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(err(
            "https: URI without \"//\"",
            "write \"https://reports.example.com/tlsrpt\"",
        ));
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(err(
            "credentials in a report URI are published in DNS for everyone",
            "remove the user:password@ part",
        ));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) => {
            if !port.parse::<u16>().is_ok_and(|p| p > 0) {
                return Err(err(
                    format!("invalid port {port:?}"),
                    "use a port from 1 to 65535",
                ));
            }
            host
        }
        None => authority,
    };
    host_part(host)
}

fn host_part(host: &str) -> Result<(), NameError> {
    HostName::parse(host).map(|_| ()).map_err(|e| NameError {
        message: format!("host {host:?}: {}", e.message),
        help: e.help,
    })
}

fn ascii_host_hint(scheme: &str, rest: &str) -> Option<String> {
    let (prefix, host_and_more) = if scheme == "mailto" {
        let (local, host) = rest.rsplit_once('@')?;
        (format!("mailto:{local}@"), host)
    } else {
        ("https://".to_string(), rest.strip_prefix("//")?)
    };
    let end = host_and_more
        .find(['/', '?', '#', ':'])
        .unwrap_or(host_and_more.len());
    let ascii = HostName::parse(&host_and_more[..end]).ok()?;
    Some(format!("\"{prefix}{ascii}{}\"", &host_and_more[end..]))
}

/// RFC 3986 characters, less the ones RFC 8460 requires encoded (checked before).
fn uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~%:/?#[]@$&'()*+=".contains(c)
}

fn percent_escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn err(message: impl Into<String>, help: impl Into<String>) -> NameError {
    NameError {
        message: message.into(),
        help: help.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpt_02_accepts_mailto_and_https() {
        assert_eq!(
            report_uri("mailto:tls@example.com").unwrap(),
            "mailto:tls@example.com"
        );
        assert_eq!(
            report_uri("MAILTO:tls@example.com").unwrap(),
            "mailto:tls@example.com"
        );
        assert_eq!(
            report_uri("https://reports.example.com:8443/v1/tlsrpt?x=1").unwrap(),
            "https://reports.example.com:8443/v1/tlsrpt?x=1"
        );
        assert!(report_uri("mailto:a%2Cb@example.com").is_ok());
    }

    #[test]
    fn rpt_02_rejects_other_schemes_and_bare_addresses() {
        assert!(
            report_uri("http://r.example.com/")
                .unwrap_err()
                .help
                .contains("https")
        );
        assert!(
            report_uri("postmaster@example.com")
                .unwrap_err()
                .help
                .contains("mailto:postmaster@example.com")
        );
        assert!(report_uri("ftp://x.example.com").is_err());
    }

    #[test]
    fn rpt_04_raw_separators_are_refused_with_the_encoded_form() {
        let e = report_uri("mailto:a,b@example.com").unwrap_err();
        assert!(e.help.contains("mailto:a%2Cb@example.com"), "{}", e.help);
        assert!(report_uri("mailto:a@example.com;x").is_err());
        assert!(report_uri("https://r.example.com/!x").is_err());
    }

    #[test]
    fn non_ascii_host_gets_its_a_label_form() {
        let e = report_uri("mailto:tls@bücher.example").unwrap_err();
        assert!(
            e.help.contains("mailto:tls@xn--bcher-kva.example"),
            "{}",
            e.help
        );
    }

    #[test]
    fn injection_characters_are_refused() {
        for bad in [
            "mailto:a\"@example.com",
            "mailto:a b@example.com",
            "mailto:a\\@example.com",
            "mailto:a@example.com\n_x IN TXT",
            "https://exa mple.com/",
            "mailto:a@exa_mple.com",
            "https://user:pw@example.com/",
            "https://example.com:0/",
            "mailto:@example.com",
            "mailto:a%zz@example.com",
        ] {
            assert!(report_uri(bad).is_err(), "{bad:?} accepted");
        }
    }
}
