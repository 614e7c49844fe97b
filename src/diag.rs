//! Located problems (file, span, label, help) and how they are shown to a person.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The input is rejected.
    Error,
    /// The input is accepted, but a person should look.
    Warning,
}

/// One finding about a source file, pointing at the bytes it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub level: Level,
    /// One line saying what is wrong.
    pub message: String,
    /// Byte range in the source the problem is about.
    pub span: Range<usize>,
    /// Short text shown under the span.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// A second place worth showing (for example where a duplicate was first defined).
    pub also: Option<(Range<usize>, String)>,
}

impl Problem {
    /// An error at `span`.
    pub fn error(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            level: Level::Error,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            also: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Problem {
            level: Level::Warning,
            ..Problem::error(span, message, label)
        }
    }

    /// Adds the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a second labelled place.
    pub fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.also = Some((span, label.into()));
        self
    }
}

/// A source file as the user named it, shared by all problems found in it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (shown in diagnostics).
    pub name: String,
    /// The text that spans point into.
    pub text: Arc<str>,
}

impl SourceFile {
    /// Wraps a file's text under the name the user gave it.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// A problem bound to its source, ready for a miette handler.
#[derive(Debug)]
pub(crate) struct Located<'a> {
    problem: &'a Problem,
    source: NamedSource<Arc<str>>,
}

impl<'a> Located<'a> {
    /// Binds `problem` to `file`; the shown name carries `:line:col` of the span.
    pub(crate) fn new(problem: &'a Problem, file: &SourceFile) -> Self {
        Located {
            problem,
            source: NamedSource::new(file.name.clone(), file.text.clone()),
        }
    }
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Located<'_> {}

impl Diagnostic for Located<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.problem.level {
            Level::Error => miette::Severity::Error,
            Level::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let main = LabeledSpan::new_primary_with_span(
            Some(self.problem.label.clone()),
            self.problem.span.clone(),
        );
        let also = self
            .problem
            .also
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), span.clone()));
        Some(Box::new(std::iter::once(main).chain(also)))
    }
}

/// Renders any diagnostic the same way everywhere: no colour unless stderr is a terminal.
pub(crate) fn render(diagnostic: &dyn Diagnostic) -> String {
    use std::io::IsTerminal;
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

/// Renders a problem with a `file:line:col: level: message` headline, then the annotated source.
pub(crate) fn render_problem(problem: &Problem, file: &SourceFile) -> String {
    let (line, col) = file.line_col(problem.span.start);
    let level = match problem.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    format!(
        "{}:{line}:{col}: {level}: {}\n{}",
        file.name,
        problem.message,
        render(&Located::new(problem, file))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let f = SourceFile::new("x.toml", "a = 1\n[domains.\"bü\"]\nmode = 3\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        let off = f.text.find("mode").unwrap();
        assert_eq!(f.line_col(off), (3, 1));
        let off = f.text.find(']').unwrap();
        assert_eq!(f.line_col(off), (2, 14));
    }

    #[test]
    fn rendered_problem_names_file_line_col_label_and_help() {
        let f = SourceFile::new("domains.toml", "[defaults]\nmode = \"strict\"\n");
        let start = f.text.find("\"strict\"").unwrap();
        let p = Problem::error(start..start + 8, "unknown mode", "not a mode")
            .help("use one of: none, testing, enforce");
        let out = render_problem(&p, &f);
        assert!(
            out.starts_with("domains.toml:2:8: error: unknown mode\n"),
            "{out}"
        );
        assert!(out.contains("not a mode"), "{out}");
        assert!(out.contains("use one of: none, testing, enforce"), "{out}");
    }
}
