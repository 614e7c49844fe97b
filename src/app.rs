//! Dispatch: the one place that prints diagnostics and chooses exit codes.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command, TemplatesCommand};
use crate::commands::{self, Paths, Ui};
use crate::diag::{self, Level, Problem, SourceFile};
use crate::error::Error;

/// Runs a parsed command line and chooses the exit code: 0 done and nothing wrong found; 1
/// invalid input, a refusal or a finding; 2 the run itself could not be done (clap already uses
/// 2 for usage errors).
pub fn run(cli: Cli) -> ExitCode {
    let ctx = Paths {
        config_name: cli.config.display().to_string(),
        config: cli.config,
        templates: cli.templates,
    };
    let mut ui = match Terminal::new(result_file(&cli.command)) {
        Ok(ui) => ui,
        Err(e) => {
            report(&e);
            return ExitCode::from(2);
        }
    };
    let json = json_format(&cli.command);
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(&ctx, args, &mut ui),
        Command::Validate => commands::validate::run(&ctx, &mut ui),
        Command::Build(args) => commands::build::run(&ctx, args, &mut ui),
        Command::Status(args) => commands::status::run(&ctx, args, &mut ui),
        Command::Watch(args) => commands::watch::run(&ctx, args, &mut ui),
        Command::Check(args) => commands::check::run(&ctx, args, &mut ui),
        Command::Report(args) => commands::report::run(&ctx, args, &mut ui),
        Command::Receive(args) => commands::receive::run(&ctx, args, &mut ui),
        Command::Dashboard(args) => commands::dashboard::run(&ctx, args, &mut ui),
        Command::Records(args) => commands::records::run(&ctx, args, &mut ui),
        Command::Certificates(args) => commands::certificates::run(&ctx, args, &mut ui),
        Command::Import(args) => commands::import::run(&ctx, args, &mut ui),
        Command::PlanMx(args) => commands::plan_mx::run(&ctx, args, &mut ui),
        Command::Templates(TemplatesCommand::Eject { dir }) => {
            commands::templates::eject(&ctx, dir.clone(), &mut ui)
        }
        Command::Completions { shell } => commands::generated::completions(*shell, &mut ui),
        Command::Man(args) => commands::generated::man(args, &mut ui),
    };
    let mut code = match &result {
        Ok(()) => 0,
        Err(e) => {
            report(e);
            // A finding has already printed its result document.
            if !e.result_printed() {
                if json {
                    ui.json_error(e);
                } else if prometheus_check(&cli.command) {
                    // A textfile collector must see the run fail, not keep the last good file.
                    ui.out(crate::check::prometheus::RUN_FAILED.trim_end());
                }
            }
            e.exit_code()
        }
    };
    if let Err(e) = ui.finish() {
        report(&e);
        code = 2;
    }
    ExitCode::from(code)
}

/// The `--output FILE` of the commands that have one.
fn result_file(command: &Command) -> Option<&std::path::Path> {
    let file = match command {
        Command::Check(a) => &a.output,
        Command::Report(a) => &a.output,
        Command::Records(a) => &a.output,
        Command::Status(a) => &a.output,
        Command::Certificates(a) => &a.output,
        _ => return None,
    };
    file.path.as_deref()
}

/// Whether the command is `check --format prometheus`.
fn prometheus_check(command: &Command) -> bool {
    matches!(command, Command::Check(a) if a.format == crate::cli::CheckFormat::Prometheus)
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

/// One JSON document saying why the command failed, for scripts:
/// `{"error": {"kind", "message", "domains"}}`, with the located problems of an invalid file.
fn json_error(error: &Error) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "error": {
            "kind": error.kind(),
            "message": with_causes(error),
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
    doc
}

/// The error's message followed by each cause that adds something (`what: cause: cause`), as
/// the terminal shows them below it.
fn with_causes(error: &Error) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = c.source();
    }
    message
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
    } else if let Error::Resolver { .. } = error {
        // One plain line, as the contract spells it, for log greps and cron mail.
        let _ = writeln!(err, "error: {error}");
        if let Some(help) = miette::Diagnostic::help(error) {
            let _ = writeln!(err, "  help: {help}");
        }
    } else {
        let _ = write!(err, "{}", diag::render(error));
    }
}

/// Results to stdout or to the `--output` file, warnings to stderr. The first failed write of a
/// result stops the writing and is reported by [`Terminal::finish`]: a cut result must not pass
/// for a whole one.
struct Terminal {
    sink: Sink,
    failed: Option<std::io::Error>,
}

/// Where results go.
enum Sink {
    /// Line-buffered, so that `watch` shows each line when it happens.
    Stdout(std::io::Stdout),
    /// A temp file beside the target, renamed over it at the end.
    File {
        temp: std::io::BufWriter<tempfile::NamedTempFile>,
        target: std::path::PathBuf,
    },
}

impl Terminal {
    fn new(file: Option<&std::path::Path>) -> Result<Terminal, Error> {
        let sink = match file {
            None => Sink::Stdout(std::io::stdout()),
            Some(target) => {
                let dir = match target.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => std::path::Path::new("."),
                };
                let temp = tempfile::Builder::new()
                    .prefix(".mtasts-output-")
                    .tempfile_in(dir)
                    .map_err(|e| Error::Output(format!("{}: {e}", target.display())))?;
                Sink::File {
                    temp: std::io::BufWriter::new(temp),
                    target: target.to_path_buf(),
                }
            }
        };
        Ok(Terminal { sink, failed: None })
    }

    fn write(&mut self, write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>) {
        if self.failed.is_some() {
            return;
        }
        let done = match &mut self.sink {
            Sink::Stdout(w) => {
                // One buffer per result, not per line: a fleet's JSON is tens of MB.
                let mut out = std::io::BufWriter::new(w.lock());
                write(&mut out).and_then(|()| out.flush())
            }
            Sink::File { temp, .. } => write(temp),
        };
        if let Err(e) = done {
            self.failed = Some(e);
        }
    }

    fn json_error(&mut self, error: &Error) {
        let doc = json_error(error);
        self.write(&mut |w| {
            serde_json::to_writer_pretty(&mut *w, &doc).map_err(std::io::Error::other)?;
            writeln!(w)
        });
    }

    /// Flushes the result (and renames the `--output` file into place). A reader that closed the
    /// pipe early (`| head`) is no failure; any other lost write is.
    fn finish(self) -> Result<(), Error> {
        let Terminal { sink, mut failed } = self;
        match sink {
            Sink::Stdout(mut w) => {
                if failed.is_none() {
                    failed = w.flush().err();
                }
                match failed {
                    Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    Some(e) => Err(Error::Output(format!("stdout: {e}"))),
                    None => Ok(()),
                }
            }
            Sink::File { temp, target } => {
                let lost =
                    |e: &dyn std::fmt::Display| Error::Output(format!("{}: {e}", target.display()));
                if let Some(e) = failed {
                    return Err(lost(&e));
                }
                let temp = temp.into_inner().map_err(|e| lost(&e.error()))?;
                share(temp.as_file(), &target).map_err(|e| lost(&e))?;
                temp.persist(&target).map_err(|e| lost(&e.error))?;
                Ok(())
            }
        }
    }
}

/// Gives the new result file the mode of the file it replaces, else 0644: a textfile collector
/// or a web server reads it as another user, and a temp file starts as 0600.
#[cfg(unix)]
fn share(file: &std::fs::File, target: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(target)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
    file.set_permissions(mode)
}

#[cfg(not(unix))]
fn share(_: &std::fs::File, _: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

impl Ui for Terminal {
    fn out(&mut self, line: &str) {
        self.write(&mut |w| writeln!(w, "{line}"));
    }

    fn out_streamed(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) {
        self.write(&mut |w| write(&mut *w).and_then(|()| writeln!(w)));
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
