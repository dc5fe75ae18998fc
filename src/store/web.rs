//! What the web service (`newsroom serve`) asks of the store: a reader
//! named by the id in a verified token, looked at, unsubscribed or
//! resubscribed; a sign-up recorded as `pending` and later confirmed
//! (double opt-in). Requests come in batches, applied in one transaction: one
//! commit (one WAL append) makes a whole batch durable, and nothing is
//! answered before it ([`Store::apply_web`]).

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::db::{Backend, Db, params};
use super::subscribers::{COLUMNS, SubscriberRecord as Record, by_key, record, set_status};
use super::{Channel, Event, EventKind, Store, SubscriberRecord, SubscriberStatus, timestamp};
use crate::subscriber::matching_key;

/// At most one confirmation message per address in this many seconds.
pub const CONFIRMATION_INTERVAL_SECONDS: i64 = 60 * 60;

/// One reader's request, by the subscriber id its token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebRequest {
    /// Show the unsubscribe page: changes nothing.
    Look(i64),
    /// Stop mailing: through RFC 8058's one-click POST or the page's button.
    Unsubscribe(i64, Channel),
    /// Undo an unsubscribe from the page's "Resubscribe" button.
    Resubscribe(i64),
    /// The sign-up form, with an address already checked and normalised.
    SignUp { address: String, name: Option<String> },
    /// A confirmation link's button: the subscriber, and when the link was
    /// issued (Unix seconds).
    Confirm { id: i64, issued: i64 },
}

/// What a request found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOutcome {
    /// The subscriber after the request; `None` when the id names nobody
    /// (erased on request, or the id 0 of a test send).
    pub subscriber: Option<SubscriberRecord>,
    /// Whether the request changed the store (and recorded an event).
    pub changed: bool,
    /// A sign-up whose confirmation is to be mailed now: the address is not
    /// subscribed, and none was mailed to it in the last hour. The
    /// `confirmation_sent` event is recorded with the decision, so two
    /// sign-ups at once mail one message.
    pub send_confirmation: bool,
    /// A confirmation link issued before the subscriber's last change (an
    /// unsubscribe since, say): it confirms nothing.
    pub stale: bool,
}

impl WebOutcome {
    fn of(subscriber: Option<SubscriberRecord>, changed: bool) -> WebOutcome {
        WebOutcome { subscriber, changed, send_confirmation: false, stale: false }
    }
}

impl Store {
    /// Applies `requests` in order, in one transaction, and says what each
    /// found and did. A request repeated in a batch, or across batches,
    /// changes nothing the second time.
    pub fn apply_web(&self, requests: &[WebRequest], now: DateTime<Utc>) -> Result<Vec<WebOutcome>> {
        let at = timestamp(now);
        // The readers a batch names are locked first, in id order, so that
        // two `serve` instances' batches wait for each other instead of
        // deadlocking; one PostgreSQL still picks as a victim anyway (an
        // insert of one new address, say) is run again.
        let mut ids: Vec<i64> = requests.iter().filter_map(WebRequest::subscriber_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut attempt = 0;
        let outcomes: Vec<WebOutcome> = loop {
            let applied = self.in_transaction(|db| {
                for id in &ids {
                    locked_by_id(db, *id)?;
                }
                requests.iter().map(|request| apply(db, request, now, &at)).collect()
            });
            match applied {
                Err(error) if attempt < 5 && super::db::is_retryable(&error) => attempt += 1,
                applied => break applied?,
            }
        };
        // A reader who had been forgotten on request and confirms a new
        // sign-up asked to come back: the mark that kept imports out goes.
        for (request, outcome) in requests.iter().zip(&outcomes) {
            if let (WebRequest::Confirm { .. }, true, Some(subscriber)) =
                (request, outcome.changed, &outcome.subscriber)
                && self.is_forgotten(&subscriber.key)?
            {
                self.db.execute(
                    "DELETE FROM forgotten WHERE key_hash = ?1",
                    params![self.forget_hash(&subscriber.key)?],
                )?;
            }
        }
        Ok(outcomes)
    }
}

/// The subscriber with id `id`, its row locked until the transaction ends
/// on PostgreSQL: two `serve` instances given the same link at once apply
/// it one after the other, and the second finds it done. (SQLite's
/// transactions already take the one write lock at BEGIN.)
fn locked_by_id(db: &Db, id: i64) -> Result<Option<Record>> {
    let sql = match db.backend() {
        Backend::Sqlite => format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"),
        Backend::Postgres => format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1 FOR UPDATE"),
    };
    db.query_opt(&sql, params![id], Record::from_row)
}

impl WebRequest {
    /// The subscriber a request names by id (a sign-up names an address).
    fn subscriber_id(&self) -> Option<i64> {
        match self {
            WebRequest::Look(id) | WebRequest::Unsubscribe(id, _) | WebRequest::Resubscribe(id) => Some(*id),
            WebRequest::Confirm { id, .. } => Some(*id),
            WebRequest::SignUp { .. } => None,
        }
    }
}

fn apply(db: &Db, request: &WebRequest, now: DateTime<Utc>, at: &str) -> Result<WebOutcome> {
    let id = match request {
        WebRequest::SignUp { address, name } => return sign_up(db, address, name.as_deref(), now, at),
        WebRequest::Look(id) | WebRequest::Unsubscribe(id, _) | WebRequest::Resubscribe(id) => *id,
        WebRequest::Confirm { id, .. } => *id,
    };
    let Some(subscriber) = locked_by_id(db, id)? else {
        return Ok(WebOutcome::of(None, false));
    };
    let change = match *request {
        WebRequest::Confirm { issued, .. } => {
            if issued_before_last_change(&subscriber, issued) {
                return Ok(WebOutcome { stale: true, ..WebOutcome::of(Some(subscriber), false) });
            }
            match subscriber.status {
                SubscriberStatus::Subscribed => None,
                // The reader proved the mailbox is theirs and asked again:
                // their own consent, given after the opt-out.
                status if status.is_opt_out() => Some((
                    SubscriberStatus::Subscribed,
                    Event::new(EventKind::Resubscribed, Channel::Web)
                        .detail(format!("was {status}; confirmed a new sign-up")),
                )),
                status => Some((
                    SubscriberStatus::Subscribed,
                    Event::new(EventKind::Confirmed, Channel::Web).detail(format!("was {status}")),
                )),
            }
        }
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
        WebRequest::Unsubscribe(..) | WebRequest::Resubscribe(_) | WebRequest::SignUp { .. } => None,
    };
    let Some((status, event)) = change else {
        return Ok(WebOutcome::of(Some(subscriber), false));
    };
    set_status(db, id, status, &event, at)?;
    Ok(WebOutcome::of(locked_by_id(db, id)?, true))
}

/// A sign-up: a new address is `pending` (source `web`); a known one keeps
/// its status until the reader confirms. A confirmation is mailed unless
/// the address is subscribed already or had one in the last hour.
fn sign_up(db: &Db, address: &str, name: Option<&str>, now: DateTime<Utc>, at: &str) -> Result<WebOutcome> {
    let key = matching_key(address);
    // A new address is inserted unless it is there already, in one
    // statement: two `serve` instances signing the same reader up at once
    // cannot both insert it (the second finds it and carries on).
    let inserted = match by_key(db, &key)? {
        Some(_) => None,
        None => db.query_opt(
            "INSERT INTO subscribers (address, key, name, status, source, created_at, changed_at)
             VALUES (?1, ?2, ?3, 'pending', 'web', ?4, ?4) ON CONFLICT (key) DO NOTHING RETURNING id",
            params![address, key, name, at],
            |row| row.get::<i64>(0),
        )?,
    };
    let (id, changed) = match inserted {
        Some(id) => {
            record(db, id, &Event::new(EventKind::Subscribed, Channel::Web).detail("pending confirmation"), at)?;
            (id, true)
        }
        None => match by_key(db, &key)? {
            Some(subscriber) if subscriber.status == SubscriberStatus::Subscribed => {
                return Ok(WebOutcome::of(Some(subscriber), false));
            }
            Some(subscriber) => (locked_by_id(db, subscriber.id)?.map_or(subscriber.id, |s| s.id), false),
            None => return Ok(WebOutcome::of(None, false)),
        },
    };
    let since = timestamp(now - chrono::Duration::seconds(CONFIRMATION_INTERVAL_SECONDS));
    let recent: bool = db.query_one(
        "SELECT EXISTS (SELECT 1 FROM events WHERE subscriber_id = ?1 AND kind = 'confirmation_sent' AND at > ?2)",
        params![id, since],
        |row| row.get(0),
    )?;
    if !recent {
        record(db, id, &Event::new(EventKind::ConfirmationSent, Channel::Web), at)?;
    }
    Ok(WebOutcome { send_confirmation: !recent, ..WebOutcome::of(locked_by_id(db, id)?, changed || !recent) })
}

/// Whether a confirmation link issued at `issued` (Unix seconds) is older
/// than `subscriber`'s last change (an unsubscribe since, or the
/// confirmation itself), and so confirms nothing.
pub fn issued_before_last_change(subscriber: &SubscriberRecord, issued: i64) -> bool {
    issued < seconds_of(&subscriber.changed_at)
}

/// An instant as the store writes it, in Unix seconds (0 if unreadable).
fn seconds_of(stored: &str) -> i64 {
    DateTime::parse_from_rfc3339(stored).map_or(0, |at| at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestPlace, store_tests};

    fn store_with(place: &TestPlace, address: &str) -> (Store, i64) {
        let store = place.open();
        let (record, _) = store.add(address, None, false, Utc::now()).unwrap();
        (store, record.id)
    }

    fn sign_up(address: &str) -> WebRequest {
        WebRequest::SignUp { address: address.into(), name: Some("Gil".into()) }
    }

    store_tests! {
    fn unsubscribing_twice_records_one_event_and_resubscribing_undoes_it(place: &TestPlace) {
        let (store, id) = store_with(place, "ada@example.org");
        let one_click = WebRequest::Unsubscribe(id, Channel::OneClick);
        let outcomes = store.apply_web(&[WebRequest::Look(id), one_click.clone(), one_click], Utc::now()).unwrap();
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

    fn a_bounce_is_not_undone_from_a_link_and_unknown_ids_change_nothing(place: &TestPlace) {
        let (store, id) = store_with(place, "bob@example.org");
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

    fn a_sign_up_is_pending_until_confirmed_and_mails_once_an_hour(place: &TestPlace) {
        let store = place.open();
        let start = Utc::now();
        let outcomes = store.apply_web(&[sign_up("gil@example.org"), sign_up("gil@example.org")], start).unwrap();
        assert_eq!(outcomes.iter().map(|o| o.send_confirmation).collect::<Vec<_>>(), [true, false]);
        let gil = outcomes[0].subscriber.clone().unwrap();
        assert_eq!((gil.status, gil.source), (SubscriberStatus::Pending, crate::store::Source::Web));
        // An hour and a second later, another.
        let later = start + chrono::Duration::seconds(CONFIRMATION_INTERVAL_SECONDS + 1);
        assert!(store.apply_web(&[sign_up("gil@example.org")], later).unwrap()[0].send_confirmation);

        let issued = start.timestamp();
        let confirmed = store.apply_web(&[WebRequest::Confirm { id: gil.id, issued }], later).unwrap();
        assert!(confirmed[0].changed);
        assert_eq!(confirmed[0].subscriber.as_ref().unwrap().status, SubscriberStatus::Subscribed);
        // Subscribed: signing up again changes nothing and mails nothing.
        let again = store.apply_web(&[sign_up("GIL@example.org"), WebRequest::Confirm { id: gil.id, issued }], later);
        assert!(again.unwrap().iter().all(|o| !o.changed && !o.send_confirmation));
        let kinds: Vec<EventKind> = store.events(gil.id).unwrap().iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, [Subscribed, ConfirmationSent, ConfirmationSent, Confirmed]);
    }

    fn a_link_issued_before_an_unsubscribe_confirms_nothing(place: &TestPlace) {
        let (store, id) = store_with(place, "hal@example.org");
        let t0 = Utc::now() - chrono::Duration::days(2);
        let issued = t0.timestamp();
        store.apply_web(&[WebRequest::Unsubscribe(id, Channel::OneClick)], t0 + chrono::Duration::days(1)).unwrap();
        let outcome = &store.apply_web(&[WebRequest::Confirm { id, issued }], Utc::now()).unwrap()[0];
        assert!(outcome.stale && !outcome.changed);
        assert_eq!(outcome.subscriber.as_ref().unwrap().status, SubscriberStatus::Unsubscribed);
        // A new sign-up, confirmed: the reader's own consent after the opt-out.
        let signed = &store.apply_web(&[sign_up("hal@example.org")], Utc::now()).unwrap()[0];
        assert!(signed.send_confirmation);
        assert_eq!(
            signed.subscriber.as_ref().unwrap().status,
            SubscriberStatus::Unsubscribed,
            "not before the confirmation"
        );
        let issued = Utc::now().timestamp();
        let outcome = &store.apply_web(&[WebRequest::Confirm { id, issued }], Utc::now()).unwrap()[0];
        assert!(outcome.changed);
        assert_eq!(store.events(id).unwrap().last().unwrap().kind, EventKind::Resubscribed);
    }
    }
}
