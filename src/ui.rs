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
