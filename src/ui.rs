//! Where the library and commands send what a person (or a script) should see; `app`
//! implements it for the terminal.

use crate::diag::{Problem, SourceFile};

/// Where commands send what a person (or a script) should see.
pub trait Ui {
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
pub fn progress_bar(show: bool, total: usize, from: usize, doing: &str) -> indicatif::ProgressBar {
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
