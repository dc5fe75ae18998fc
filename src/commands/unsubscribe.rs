//! `newsroom unsubscribe ADDRESS`: record the opt-out in the store, and say
//! what it found.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Out;
use newsroom::delivery;
use newsroom::site::Site;
use newsroom::store::subscribers::Unsubscribed;

pub fn run(out: &mut Out, site: &Site, address: &str, now: DateTime<Utc>) -> Result<ExitCode> {
    let done = delivery::unsubscribe(site, address, now)?;
    if let Some(merged) = &done.merged {
        super::print_merge_problems(merged)?;
    }
    match done.outcome {
        Unsubscribed::Unsubscribed => writeln!(out, "{} is unsubscribed: no later send will mail it", done.address)?,
        Unsubscribed::Already => {
            let status = done.subscriber.as_ref().map_or("unsubscribed", |s| s.status.as_str());
            writeln!(out, "{} was already {status}", done.address)?
        }
        Unsubscribed::Forgotten => writeln!(
            out,
            "{} was forgotten on request: it is not stored, and no send or import can mail it",
            done.address
        )?,
        Unsubscribed::NotOnTheList => writeln!(
            out,
            "{} is unsubscribed: no later send will mail it\nnote: no subscriber has this address; recorded anyway, so no list that adds it later can mail it",
            done.address
        )?,
    }
    if let Some(subscriber) = done.subscriber.filter(|s| s.address != done.address) {
        writeln!(out, "the store holds it as {}", subscriber.address)?;
    }
    Ok(ExitCode::SUCCESS)
}
