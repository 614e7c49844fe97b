//! Dispatch: the one place that prints diagnostics and chooses exit codes.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command, TemplatesCommand};
use crate::commands::{self, Context, Ui};
use crate::diag::{self, Level, Problem, SourceFile};
use crate::error::Error;

/// Runs a parsed command line; 0 on success, 1 on any failure (clap already used 2 for usage).
pub fn run(cli: Cli) -> ExitCode {
    let ctx = Context {
        config_name: cli.config.display().to_string(),
        config: cli.config,
        templates: cli.templates,
    };
    let mut ui = Terminal;
    let json = json_format(&cli.command);
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(&ctx, args, &mut ui),
        Command::Validate => commands::validate::run(&ctx, &mut ui),
        Command::Build(args) => commands::build::run(&ctx, args, &mut ui),
        Command::Status(args) => commands::status::run(&ctx, args, &mut ui),
        Command::Watch(args) => commands::watch::run(&ctx, args, &mut ui),
        Command::Check(args) => commands::check::run(&ctx, args, &mut ui),
        Command::Report(args) => commands::report::run(&ctx, args, &mut ui),
        Command::Records(args) => commands::records::run(&ctx, args, &mut ui),
        Command::Certificates(args) => commands::certificates::run(&ctx, args, &mut ui),
        Command::Templates(TemplatesCommand::Eject { dir }) => {
            commands::templates::eject(&ctx, dir.clone(), &mut ui)
        }
        Command::Completions { shell } => commands::help::completions(*shell, &mut ui),
        Command::Man => commands::help::man(&mut ui),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            // A failed check has already printed its result document.
            if json && !matches!(e, Error::CheckFailed(_)) {
                print_json_error(&e);
            }
            ExitCode::from(1)
        }
    }
}

/// Whether the command was asked for JSON output.
fn json_format(command: &Command) -> bool {
    let format = match command {
        Command::Build(a) => a.format,
        Command::Status(a) => a.format,
        Command::Check(a) => return a.format == crate::cli::CheckFormat::Json,
        Command::Report(a) => return a.format == crate::cli::ReportFormat::Json,
        Command::Certificates(a) => a.format,
        Command::Records(a) => {
            return a.format == crate::cli::RecordsFormat::Json;
        }
        _ => return false,
    };
    format == crate::cli::Format::Json
}

/// One JSON document on stdout saying why the command failed, for scripts:
/// `{"error": {"kind", "message", "domains"}}`, with the located problems of an invalid file.
fn print_json_error(error: &Error) {
    let mut doc = serde_json::json!({
        "error": {
            "kind": error.kind(),
            "message": error.to_string(),
            "domains": error.domains(),
        }
    });
    if let Error::Invalid { file, problems } = error {
        doc["error"]["problems"] = problems
            .iter()
            .map(|p| {
                let (line, column) = file.line_col(p.span.start);
                serde_json::json!({
                    "level": if p.level == Level::Error { "error" } else { "warning" },
                    "file": file.name,
                    "line": line,
                    "column": column,
                    "message": p.message,
                    "help": p.help,
                })
            })
            .collect();
    }
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, &doc);
    let _ = writeln!(out);
}

/// Prints a failure: every located problem of an invalid file, or the error with its help.
fn report(error: &Error) {
    let mut err = std::io::stderr().lock();
    if let Error::Invalid { file, problems } = error {
        for p in problems {
            let _ = write!(err, "{}", diag::render_problem(p, file));
        }
        let errors = problems.iter().filter(|p| p.level == Level::Error).count();
        let _ = writeln!(
            err,
            "error: {}: {errors} error(s); nothing was written",
            file.name
        );
    } else if let Error::Refused(reasons) = error {
        // One unwrapped line per reason: each names its domain, so scripts can grep for it.
        let _ = writeln!(err, "error: refusing to build; nothing was written:");
        for reason in reasons {
            let _ = writeln!(err, "  - {reason}");
        }
    } else {
        let _ = write!(err, "{}", diag::render(error));
    }
}

/// stdout for results, stderr for warnings.
struct Terminal;

impl Ui for Terminal {
    fn out(&mut self, line: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn out_streamed(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = write(&mut out).and_then(|()| writeln!(out));
    }

    fn problem(&mut self, problem: &Problem, file: &SourceFile) {
        let _ = write!(
            std::io::stderr().lock(),
            "{}",
            diag::render_problem(problem, file)
        );
    }

    fn warn(&mut self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
    }

    fn error(&mut self, error: &Error) {
        report(error);
    }
}
