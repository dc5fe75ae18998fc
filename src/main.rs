//! The `newsroom` binary: parses the command line, runs the command
//! ([`commands`]), and maps the outcome to an exit status in one place:
//! 0 success, 1 work failed, 2 a usage or configuration error (nothing
//! done), 130 a send stopped by Ctrl-C (the command says so itself).

mod cli;
mod commands;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use newsroom::config::{ConfigError, ConfigErrors};
use newsroom::error::UsageError;

/// mimalloc instead of glibc's malloc: rendering allocates many small,
/// short-lived strings and trees (parser events, the sanitiser's DOM) on
/// two threads at once, and glibc's allocator was an eighth of build's
/// profile (`perf`, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match commands::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => failed(&error),
    }
}

/// Says what went wrong and gives its exit status: 2 for a usage or
/// configuration error, 1 for anything else, 0 for a closed output pipe
/// (the reader has what it wanted).
fn failed(error: &anyhow::Error) -> ExitCode {
    let broken_pipe = error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe));
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let mut stderr = std::io::stderr().lock();
    // Configuration problems carry their own `path:line:col: error:`.
    let _ = match (error.downcast_ref::<ConfigErrors>(), error.downcast_ref::<ConfigError>()) {
        (Some(problems), _) => writeln!(stderr, "{problems}"),
        (None, Some(problem)) => writeln!(stderr, "{problem}"),
        (None, None) => writeln!(stderr, "error: {error:#}"),
    };
    let usage = error.chain().any(|e| e.is::<UsageError>() || e.is::<ConfigErrors>() || e.is::<ConfigError>());
    ExitCode::from(if usage { 2 } else { 1 })
}
