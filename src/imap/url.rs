//! What `--imap` and `--imap-done` say: the mailbox URL (RFC 3986 by the url crate, RFC 5092's
//! percent-decoding) and what to do with a message once read.

use super::ImapError;

/// Where reports are read: `imaps://USER@HOST[:PORT]/MAILBOX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The login name (`%40` in the URL for an `@` in it; a literal `@` works too).
    pub user: String,
    /// Server host name or IP address.
    pub host: String,
    /// Port (993 unless given).
    pub port: u16,
    /// Mailbox name (`INBOX` unless given).
    pub mailbox: String,
}

impl std::str::FromStr for Mailbox {
    type Err = ImapError;

    fn from_str(s: &str) -> Result<Mailbox, ImapError> {
        let bad = |why: &'static str| ImapError::Url {
            url: s.to_string(),
            why,
        };
        if !s.starts_with("imaps://") {
            return Err(bad(
                "only imaps:// (TLS from the first byte) is read, so that the password never crosses the network in clear",
            ));
        }
        // RFC 3986 by the url crate; the user and mailbox are percent-decoded (RFC 5092), so
        // `reports%40example.net` is the user `reports@example.net` and `TLS%20Reports` a
        // mailbox with a space.
        let url =
            url::Url::parse(s).map_err(|_| bad("not a URL: imaps://USER@HOST[:PORT]/MAILBOX"))?;
        let decode = |v: &str| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| bad("the user or mailbox is not UTF-8 once decoded"))
        };
        if url.username().is_empty() {
            return Err(bad("no USER@"));
        }
        if url.password().is_some() {
            return Err(bad(
                "a password in the URL would show in `ps` and shell history: use MTASTS_IMAP_PASSWORD or --imap-password-file",
            ));
        }
        let user = decode(url.username())?;
        let host = url
            .host_str()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let path = decode(url.path().trim_start_matches('/'))?;
        let mailbox = if path.is_empty() {
            "INBOX".to_string()
        } else {
            path
        };
        let plain = |v: &str| !v.is_empty() && v.chars().all(|c| !c.is_control() && c != '"');
        if !plain(&user) || !plain(&host) || !plain(&mailbox) {
            return Err(bad(
                "empty or unusual characters in the user, host or mailbox",
            ));
        }
        Ok(Mailbox {
            user,
            host,
            port: url.port().unwrap_or(993),
            mailbox,
        })
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "imaps://{}@{host}:{}/{}",
            self.user, self.port, self.mailbox
        )
    }
}

/// What to do with a message once its reports were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Leave it as it is.
    Keep,
    /// Flag it `\Seen`.
    Seen,
    /// Move it to this mailbox (a run can be interrupted and rerun without counting it twice).
    Move(String),
}

impl std::str::FromStr for Done {
    type Err = ImapError;

    fn from_str(s: &str) -> Result<Done, ImapError> {
        match s {
            "keep" => Ok(Done::Keep),
            "seen" => Ok(Done::Seen),
            _ => match s.strip_prefix("move:") {
                Some(f)
                    if !f.is_empty() && f.bytes().all(|b| b.is_ascii_graphic() && b != b'"') =>
                {
                    Ok(Done::Move(f.to_string()))
                }
                _ => Err(ImapError::Done(s.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Mailbox, String> {
        s.parse::<Mailbox>().map_err(|e| e.to_string())
    }

    #[test]
    fn imap_urls_are_read_by_rfc_3986_with_the_user_and_mailbox_decoded() {
        let m = parse("imaps://reports%40example.net@IMAP.example.net/TLS%20Reports").unwrap();
        assert_eq!(
            (m.user.as_str(), m.host.as_str(), m.port, m.mailbox.as_str()),
            (
                "reports@example.net",
                "imap.example.net",
                993,
                "TLS Reports"
            )
        );
        let m = parse("imaps://u@[2001:db8::1]:9993").unwrap();
        assert_eq!(
            (m.host.as_str(), m.port, m.mailbox.as_str()),
            ("2001:db8::1", 9993, "INBOX")
        );
        assert_eq!(m.to_string(), "imaps://u@[2001:db8::1]:9993/INBOX");
        for (bad, why) in [
            ("imap://u@h/INBOX", "only imaps://"),
            ("imaps://h/INBOX", "no USER@"),
            ("imaps://u:secret@h/INBOX", "a password in the URL"),
            ("imaps://u@h:99999/INBOX", "not a URL"),
            ("imaps://u@h/a%22b", "unusual characters"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
