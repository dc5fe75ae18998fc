//! What the ledger knows of a digest (`digest status`), and recording an
//! opt-out by hand (`unsubscribe`).

use anyhow::Result;

use super::COMMON_FAILURES;
use super::ledger::{Ledger, State};
use crate::digest::Month;
use crate::error::UsageError;
use crate::site::Site;
use crate::subscribers;

/// What the ledger knows of one digest.
#[derive(Debug, Default, serde::Serialize)]
pub struct StatusReport {
    pub digest_id: String,
    /// Whether a send has frozen its recipient list (nothing below otherwise).
    pub frozen: bool,
    pub recipients: usize,
    /// Recipients per state, every state listed.
    pub counts: Vec<StateCount>,
    /// The most common replies of failed and ambiguous messages.
    pub common_failures: Vec<FailureCount>,
    /// The rows in the state asked for with `--list`.
    pub rows: Vec<StatusRow>,
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
/// missing ledger is reported as nothing sent, not created.
pub fn status(site: &Site, month: Month, list: Option<State>) -> Result<StatusReport> {
    let path = site.ledger_path();
    let mut report = StatusReport { digest_id: month.digest_id(), ..Default::default() };
    if !path.exists() {
        return Ok(report);
    }
    let ledger = Ledger::open(&path)?;
    if !ledger.is_frozen(&report.digest_id)? {
        return Ok(report);
    }
    report.frozen = true;
    let counts = ledger.counts(&report.digest_id)?;
    report.recipients = counts.iter().map(|(_, n)| n).sum();
    report.counts = counts.into_iter().map(|(state, count)| StateCount { state: state.as_str(), count }).collect();
    report.common_failures = ledger
        .common_failures(&report.digest_id, COMMON_FAILURES)?
        .into_iter()
        .map(|(state, reply, count)| FailureCount { state: state.as_str(), reply, count })
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
pub struct Unsubscribed {
    /// The address as recorded.
    pub address: String,
    /// False when the address was suppressed already.
    pub added: bool,
    /// The subscriber file's row for the address (its line and spelling),
    /// when the file exists and has one.
    pub on_list: Option<(usize, String)>,
    /// Whether the subscriber file exists (when it does not, `on_list` says nothing).
    pub list_read: bool,
}

/// `newsroom unsubscribe ADDRESS`: every later send skips the address, in
/// any spelling. It is recorded even when it is not on the list (it may be
/// added later); the result says whether it is.
pub fn unsubscribe(site: &Site, address: &str) -> Result<Unsubscribed> {
    let address = subscribers::normalise_address(address).map_err(UsageError::Argument)?;
    let ledger = Ledger::open(&site.ledger_path())?;
    let added = ledger.suppress(&address, "unsubscribe")?;
    let file = site.subscribers_file();
    let list_read = file.is_file();
    let on_list = if list_read {
        let key = subscribers::matching_key(&address);
        let list = subscribers::load(&file, site.config.digest.subscribers_path())?;
        list.subscribers.into_iter().find(|s| subscribers::matching_key(&s.email) == key).map(|s| (s.line, s.email))
    } else {
        None
    };
    Ok(Unsubscribed { address, added, on_list, list_read })
}
