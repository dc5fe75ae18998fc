//! `newsroom unsubscribe ADDRESS`: record the opt-out, and say whether the
//! address is on the list.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::Out;
use newsroom::delivery;
use newsroom::site::Site;

pub fn run(out: &mut Out, site: &Site, address: &str) -> Result<ExitCode> {
    let done = delivery::unsubscribe(site, address)?;
    let list = site.config.digest.subscribers_path().display();
    if done.added {
        writeln!(out, "{} is unsubscribed: no later send will mail it", done.address)?;
    } else {
        writeln!(out, "{} was already unsubscribed", done.address)?;
    }
    match &done.on_list {
        Some((line, spelling)) if *spelling != done.address => {
            writeln!(out, "it is on the list as {spelling} ({list}, line {line})")?
        }
        Some(_) => {}
        None if done.list_read => {
            writeln!(out, "note: it is not on the list ({list}); recorded anyway, in case it is added later")?
        }
        None => writeln!(out, "note: there is no subscriber file ({list}) to look it up in; recorded anyway")?,
    }
    Ok(ExitCode::SUCCESS)
}
