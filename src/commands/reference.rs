//! `newsroom completions SHELL` and `newsroom man`: generated from the
//! same clap definitions as `--help`, so they cannot drift from it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use super::Out;
use crate::cli::Cli;

/// `newsroom completions SHELL`: the script, written whole.
pub fn completions(out: &mut Out, shell: clap_complete::Shell) -> Result<ExitCode> {
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "newsroom", &mut script);
    out.write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// `newsroom man`: the page of the whole command to standard output, or
/// with `--out DIR` one page per command (`newsroom-digest-send.1`).
pub fn man(out: &mut Out, dir: Option<&Path>) -> Result<ExitCode> {
    let command = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(out)?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write_man_pages(&command, "newsroom", dir, &mut written)?;
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_man_pages(command: &clap::Command, name: &str, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.to_string())).render(&mut page)?;
    std::fs::write(&path, page)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        write_man_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
