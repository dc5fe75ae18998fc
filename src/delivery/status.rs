//! What the ledger knows of a digest (`digest status`), and recording an
//! opt-out by hand (`unsubscribe`).

use anyhow::Result;

use chrono::{DateTime, Utc};

use crate::digest::Edition;
use crate::error::UsageError;
use crate::site::Site;
use crate::store::ledger::State;
use crate::store::subscribers::Unsubscribed;
use crate::store::{Channel, Session, SubscriberRecord};

/// How many of the most common failure replies a summary names.
pub const COMMON_FAILURES: usize = 10;

/// What the ledger knows of one digest.
#[derive(Debug, Default, serde::Serialize)]
pub struct StatusReport {
    pub digest_id: String,
    /// Whether a send has frozen its recipient list (nothing below otherwise).
    pub frozen: bool,
    /// When its first send began (RFC 3339).
    pub frozen_at: Option<String>,
    /// Sent before its month ended, with `digest send --unfinished`.
    pub unfinished: bool,
    pub recipients: usize,
    /// Recipients per state, every state listed.
    pub counts: Vec<StateCount>,
    /// The most common replies of failed and ambiguous messages.
    pub common_failures: Vec<FailureCount>,
    /// The rows in the state asked for with `--list`.
    pub rows: Vec<StatusRow>,
    /// Mail that came back for this digest (`newsroom inbound`: DSNs and
    /// complaints), events by kind; the relay's refusals while sending are
    /// in `counts` (`failed_permanent`) and `common_failures`.
    pub returned: Vec<ReturnedCount>,
    /// Requests `inbound` read but did not act on (no token that
    /// verifies, an unauthenticated From): how many, whatever the digest.
    pub unverified_total: usize,
    /// The newest of them, at most [`UNVERIFIED_LISTED`], for the operator to look at.
    pub unverified: Vec<crate::store::inbound::UnverifiedRequest>,
}

/// How many unverified requests `digest status` lists.
pub const UNVERIFIED_LISTED: usize = 20;

#[derive(Debug, serde::Serialize)]
pub struct ReturnedCount {
    pub kind: crate::store::EventKind,
    pub count: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct StateCount {
    pub state: &'static str,
    pub count: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct FailureCount {
    pub state: &'static str,
    pub reply: String,
    pub count: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct StatusRow {
    pub address: String,
    pub state: &'static str,
    pub attempts: u32,
    pub reply: Option<String>,
}

/// `newsroom digest status`: the ledger's counts for a digest, its most
/// common failures, and the rows in `list` when asked. Reads only: a
/// missing store is reported as nothing sent, not created.
pub fn status(site: &Site, edition: &Edition, list: Option<State>) -> Result<StatusReport> {
    let mut report = StatusReport { digest_id: edition.id(), ..Default::default() };
    let Some(session) = Session::existing(site)? else {
        return Ok(report);
    };
    let ledger = session.store();
    (report.unverified_total, report.unverified) = ledger.unverified_inbound(UNVERIFIED_LISTED)?;
    let Some(frozen) = ledger.frozen_digest(&report.digest_id)? else {
        return Ok(report);
    };
    report.frozen = true;
    report.frozen_at = Some(frozen.frozen_at);
    report.unfinished = frozen.unfinished;
    let counts = ledger.counts(&report.digest_id)?;
    report.recipients = counts.iter().map(|(_, n)| n).sum();
    report.counts = counts.into_iter().map(|(state, count)| StateCount { state: state.as_str(), count }).collect();
    report.common_failures = ledger
        .common_failures(&report.digest_id, COMMON_FAILURES)?
        .into_iter()
        .map(|(state, reply, count)| FailureCount { state: state.as_str(), reply, count })
        .collect();
    report.returned = ledger
        .returned_for_digest(&report.digest_id)?
        .into_iter()
        .map(|(kind, count)| ReturnedCount { kind, count })
        .collect();
    if let Some(state) = list {
        report.rows = ledger
            .rows(&report.digest_id, Some(state))?
            .into_iter()
            .map(|row| StatusRow {
                address: row.address,
                state: row.state.as_str(),
                attempts: row.attempts,
                reply: row.reply,
            })
            .collect();
    }
    Ok(report)
}

/// What `unsubscribe` did.
#[derive(Debug)]
pub struct UnsubscribeReport {
    /// The address as given (trimmed, its domain lower-cased).
    pub address: String,
    /// What the store did.
    pub outcome: Unsubscribed,
    /// The subscriber as the store holds it now (`None` for an address
    /// forgotten on request, which is not stored again).
    pub subscriber: Option<SubscriberRecord>,
    /// What merging the site's subscriber file first found.
    pub merged: Option<crate::store::import::ImportReport>,
}

/// `newsroom unsubscribe ADDRESS`: every later send and preview skips the
/// address, in any spelling. An address not in the store is recorded too
/// (it may come with a list later), and the result says so.
pub fn unsubscribe(site: &Site, address: &str, now: DateTime<Utc>) -> Result<UnsubscribeReport> {
    let address = crate::subscriber::normalise_address(address).map_err(UsageError::Argument)?;
    let session = Session::open(site)?;
    // The list first, so an address on it is found as it is written there.
    let merged = session.merge_list(now)?;
    let store = session.store();
    let outcome = store.unsubscribe(&address, Channel::Cli, None, now)?;
    let subscriber = store.subscriber(&address)?;
    Ok(UnsubscribeReport { address, outcome, subscriber, merged })
}
