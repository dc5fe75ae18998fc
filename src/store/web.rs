//! What the web service (`newsroom serve`) asks of the store: a reader
//! named by the id in a verified token, looked at, unsubscribed or
//! resubscribed. Requests come in batches, applied in one transaction: one
//! commit (one WAL append) makes a whole batch durable, and nothing is
//! answered before it ([`Store::apply_web`]).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use super::subscribers::{COLUMNS, set_status};
use super::{Channel, Event, EventKind, Store, SubscriberRecord, SubscriberStatus, timestamp};

/// One reader's request, by the subscriber id its token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRequest {
    /// Show the unsubscribe page: changes nothing.
    Look(i64),
    /// Stop mailing: through RFC 8058's one-click POST or the page's button.
    Unsubscribe(i64, Channel),
    /// Undo an unsubscribe from the page's "Resubscribe" button.
    Resubscribe(i64),
}

/// What a request found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOutcome {
    /// The subscriber after the request; `None` when the id names nobody
    /// (erased on request, or the id 0 of a test send).
    pub subscriber: Option<SubscriberRecord>,
    /// Whether the request changed the store (and recorded an event).
    pub changed: bool,
}

impl Store {
    /// Applies `requests` in order, in one transaction, and says what each
    /// found and did. A request repeated in a batch, or across batches,
    /// changes nothing the second time.
    pub fn apply_web(&self, requests: &[WebRequest], now: DateTime<Utc>) -> Result<Vec<WebOutcome>> {
        let at = timestamp(now);
        self.in_transaction(|connection| requests.iter().map(|request| apply(connection, *request, &at)).collect())
    }
}

fn apply(connection: &Connection, request: WebRequest, at: &str) -> rusqlite::Result<WebOutcome> {
    let id = match request {
        WebRequest::Look(id) | WebRequest::Unsubscribe(id, _) | WebRequest::Resubscribe(id) => id,
    };
    let Some(subscriber) = by_id(connection, id)? else {
        return Ok(WebOutcome { subscriber: None, changed: false });
    };
    let change = match request {
        WebRequest::Look(_) => None,
        // Every status but an opt-out becomes `unsubscribed`: a pending
        // reader leaves, and a removed one is kept out of any list that
        // brings the address back.
        WebRequest::Unsubscribe(_, channel) if !subscriber.status.is_opt_out() => Some((
            SubscriberStatus::Unsubscribed,
            Event::new(EventKind::Unsubscribed, channel).detail(format!("was {}", subscriber.status)),
        )),
        // Only the reader's own unsubscribe is undone here: a bounce or a
        // complaint is not theirs to undo from a link.
        WebRequest::Resubscribe(_) if subscriber.status == SubscriberStatus::Unsubscribed => Some((
            SubscriberStatus::Subscribed,
            Event::new(EventKind::Resubscribed, Channel::Page).detail("was unsubscribed"),
        )),
        WebRequest::Unsubscribe(..) | WebRequest::Resubscribe(_) => None,
    };
    let Some((status, event)) = change else {
        return Ok(WebOutcome { subscriber: Some(subscriber), changed: false });
    };
    set_status(connection, id, status, &event, at)?;
    Ok(WebOutcome { subscriber: by_id(connection, id)?, changed: true })
}

fn by_id(connection: &Connection, id: i64) -> rusqlite::Result<Option<SubscriberRecord>> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"))?
        .query_row([id], SubscriberRecord::from_row)
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(address: &str) -> (Store, i64) {
        let store = Store::open_in_memory().unwrap();
        let (record, _) = store.add(address, None, false, Utc::now()).unwrap();
        (store, record.id)
    }

    #[test]
    fn unsubscribing_twice_records_one_event_and_resubscribing_undoes_it() {
        let (store, id) = store_with("ada@example.org");
        let one_click = WebRequest::Unsubscribe(id, Channel::OneClick);
        let outcomes = store.apply_web(&[WebRequest::Look(id), one_click, one_click], Utc::now()).unwrap();
        assert_eq!(outcomes.iter().map(|o| o.changed).collect::<Vec<_>>(), [false, true, false]);
        assert_eq!(outcomes[0].subscriber.as_ref().unwrap().status, SubscriberStatus::Subscribed);
        assert_eq!(outcomes[2].subscriber.as_ref().unwrap().status, SubscriberStatus::Unsubscribed);
        let kinds = |store: &Store| store.events(id).unwrap().iter().map(|e| (e.kind, e.channel)).collect::<Vec<_>>();
        assert_eq!(
            kinds(&store),
            [(EventKind::Subscribed, Some(Channel::Cli)), (EventKind::Unsubscribed, Some(Channel::OneClick))]
        );

        let again = store.apply_web(&[WebRequest::Resubscribe(id), WebRequest::Resubscribe(id)], Utc::now()).unwrap();
        assert_eq!(again.iter().map(|o| o.changed).collect::<Vec<_>>(), [true, false]);
        assert_eq!(again[1].subscriber.as_ref().unwrap().status, SubscriberStatus::Subscribed);
        assert_eq!(kinds(&store).last(), Some(&(EventKind::Resubscribed, Some(Channel::Page))));
    }

    #[test]
    fn a_bounce_is_not_undone_from_a_link_and_unknown_ids_change_nothing() {
        let (store, id) = store_with("bob@example.org");
        store.bounce(id, &Event::new(EventKind::Bounced, Channel::Relay), Utc::now()).unwrap();
        let outcomes = store
            .apply_web(
                &[WebRequest::Resubscribe(id), WebRequest::Unsubscribe(id, Channel::Page), WebRequest::Look(999)],
                Utc::now(),
            )
            .unwrap();
        assert!(outcomes.iter().all(|o| !o.changed));
        assert_eq!(outcomes[1].subscriber.as_ref().unwrap().status, SubscriberStatus::Bounced);
        assert_eq!(outcomes[2].subscriber, None);
        assert_eq!(store.events(id).unwrap().len(), 2, "subscribed and bounced only");
    }
}
