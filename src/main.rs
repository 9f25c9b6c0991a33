//! The `celgate` binary: parse the command line, run the command, map the result to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use celgate::cli::{Cli, Command};

/// mimalloc: the engine allocates many small, short-lived values on several threads, where it
/// is markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use celgate::commands::{self, Streams, EXIT_ERROR};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { 0 });
        }
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CELGATE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    // Held until `main` returns: dropping it writes out the lines still queued.
    let mut _log_flush = None;
    if matches!(cli.command, Command::Serve(_)) {
        // The server logs JSON, one line per event, for log shippers. A writer thread does the
        // writing, so no request waits on stderr; it never drops a line (a full queue of
        // 128 000 lines makes loggers wait instead).
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("celgate-log")
            .finish(std::io::stderr());
        _log_flush = Some(guard);
        tracing_subscriber::fmt()
            .json()
            // The current span (`span`) carries the review's fields; the list of every open span
            // would repeat them.
            .with_span_list(false)
            // The same lines, without parsing each span's recorded fields again for every event.
            .event_format(celgate::server::log_line::JsonLines)
            .with_env_filter(filter())
            .with_writer(writer)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("CELGATE_LOG"))
            .with_writer(std::io::stderr)
            .init();
    }
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let mut stdin = std::io::stdin().lock();
    // Unlocked handles: a held stderr lock would block the server's log writers on other threads.
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut streams = Streams {
        stdin: &mut stdin,
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdout_is_terminal,
    };
    match commands::run(&cli, &mut streams) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let report = anyhow::Error::from(e);
            let _ = writeln!(streams.stderr, "error: {report}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
