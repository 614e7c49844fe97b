//! Where the library and commands send what a person (or a script) should see; `app`
//! implements it for the terminal.

use crate::diag::{Problem, SourceFile};

/// Where commands send what a person (or a script) should see.
pub(crate) trait Ui {
    /// A line of the command's result (stdout).
    fn out(&mut self, line: &str);
    /// A result too large to build as one string first, streamed by `write` to stdout; a
    /// newline follows it.
    fn out_streamed(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    );
    /// A located warning about a source file (stderr).
    fn problem(&mut self, problem: &Problem, file: &SourceFile);
    /// A free-standing warning (stderr).
    fn warn(&mut self, message: &str);
    /// A failure that does not end the command (`watch` keeps going), shown like a fatal one.
    fn error(&mut self, error: &crate::error::Error);
}

/// A bar counting domains on stderr, when `show` and stderr is a terminal and there are at least
/// `from` of them (fewer are over before a bar would say anything); hidden otherwise.
pub(crate) fn progress_bar(
    show: bool,
    total: usize,
    from: usize,
    doing: &str,
) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || total < from || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} domains ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(doing.to_string());
    bar
}

/// `text` safe to print on a terminal: control characters (ESC, CR, LF, the C1 set, ...) and
/// bidirectional overrides from names a report, a DNS answer or a server chose are shown escaped
/// (`\u{1b}`), so they cannot move the cursor, rewrite a line or forge one.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(printable("mx.example.com"), "mx.example.com");
        assert_eq!(
            printable("evil\u{1b}[2Jok\r\nFAKE\u{202e}"),
            "evil\\u{1b}[2Jok\\u{d}\\u{a}FAKE\\u{202e}"
        );
        assert_eq!(printable("bücher.example"), "bücher.example");
    }
}
