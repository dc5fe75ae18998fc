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
    match done.outcome {
        Unsubscribed::Unsubscribed => writeln!(out, "{} is unsubscribed: no later send will mail it", done.address)?,
        Unsubscribed::Already => writeln!(out, "{} was already {}", done.address, done.subscriber.status)?,
        Unsubscribed::NotOnTheList => writeln!(
            out,
            "{} is unsubscribed: no later send will mail it\nnote: no subscriber has this address; recorded anyway, so no list that adds it later can mail it",
            done.address
        )?,
    }
    if done.subscriber.address != done.address {
        writeln!(out, "the store holds it as {}", done.subscriber.address)?;
    }
    Ok(ExitCode::SUCCESS)
}
