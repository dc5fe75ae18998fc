//! Returned mail in the store: what `newsroom inbound` found in one
//! message, applied to its subscriber with the bounce policy, and the
//! message's hash recorded in the same transaction, so reading the same
//! mail again changes nothing.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use super::db::{Db, params};
use super::subscribers::{Channel, Event, EventKind, SubscriberStatus, by_id, record, set_status};
use super::{Store, timestamp};
use crate::config::BouncePolicy;

/// What a returned message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboundClass {
    /// A DSN (or a bounce without one) with a permanent status, `5.x.x`.
    HardBounce,
    /// A DSN with a transient status, `4.x.x`, after which the relay gave up.
    SoftBounce,
    /// An ARF feedback report: the reader marked the digest as spam.
    Complaint,
    /// Mail to the `unsubscribe_mailto` address (RFC 2369).
    Unsubscribe,
    /// An auto-reply, a delay warning, a notice of delivery: nothing to do.
    Ignored,
}

impl InboundClass {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundClass::HardBounce => "hard-bounce",
            InboundClass::SoftBounce => "soft-bounce",
            InboundClass::Complaint => "complaint",
            InboundClass::Unsubscribe => "unsubscribe",
            InboundClass::Ignored => "ignored",
        }
    }
}

/// One returned message, classified and attributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// SHA-256 of the message's bytes, hex.
    pub hash: String,
    pub class: InboundClass,
    /// The subscriber it is about, when one was found.
    pub subscriber_id: Option<i64>,
    /// The RFC 3463 status of a bounce.
    pub status: Option<String>,
    /// What the message said (the diagnostic, the feedback type, the reason it is ignored).
    pub detail: String,
    pub digest_id: Option<String>,
    /// Why the message may not act (no token that verifies, an
    /// unauthenticated From), with the address it names: recorded as an
    /// unverified request for the operator, and nothing else is done.
    pub unverified: Option<String>,
}

/// An unverified request, as [`Store::unverified_inbound`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnverifiedRequest {
    /// When it was read (RFC 3339).
    pub at: String,
    /// What the message is (`unsubscribe`, `hard-bounce`, `complaint`).
    pub class: String,
    /// The address it names, and why it was not acted on.
    pub why: String,
}

/// The prefix of an unverified message's class in `inbound_messages`.
const UNVERIFIED: &str = "unverified-";

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The same message was handled before: nothing changed.
    AlreadyHandled,
    /// Recorded, and the subscriber's status changed to this.
    StatusChanged(SubscriberStatus),
    /// Recorded as an event; the status stays (a bounce under the policy's
    /// count, with how many there are now, or mail about an opt-out).
    Recorded { bounces: Option<u32> },
    /// Recorded as handled; it names no subscriber in the store, or it needs nothing done.
    Nothing,
    /// Recorded as an unverified request, with why; nothing else changed.
    Unverified(String),
}

impl Store {
    /// Whether a message with this hash was handled already.
    pub fn inbound_handled(&self, hash: &str) -> Result<bool> {
        Ok(self.db.query_opt("SELECT 1 FROM inbound_messages WHERE hash = ?1", params![hash], |_| Ok(()))?.is_some())
    }

    /// Applies one returned message, under `policy`, in one transaction
    /// with the record that it was handled.
    pub fn apply_inbound(&self, inbound: &Inbound, policy: BouncePolicy, now: DateTime<Utc>) -> Result<Applied> {
        let at = timestamp(now);
        let window_start = timestamp(now - Duration::days(i64::from(policy.soft_window_days)));
        let class = match &inbound.unverified {
            Some(_) => format!("{UNVERIFIED}{}", inbound.class.as_str()),
            None => inbound.class.as_str().to_string(),
        };
        self.in_transaction(|db| {
            let inserted = db.execute(
                "INSERT INTO inbound_messages (hash, at, class, subscriber_id, status, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hash) DO NOTHING",
                params![
                    inbound.hash,
                    at,
                    class,
                    inbound.subscriber_id,
                    inbound.status,
                    inbound.unverified.as_deref().unwrap_or(&inbound.detail)
                ],
            )?;
            if inserted == 0 {
                return Ok(Applied::AlreadyHandled);
            }
            if let Some(why) = &inbound.unverified {
                return Ok(Applied::Unverified(why.clone()));
            }
            let Some(subscriber) = inbound.subscriber_id.map(|id| by_id(db, id)).transpose()?.flatten() else {
                return Ok(Applied::Nothing);
            };
            let event = |kind: EventKind, channel: Channel| {
                let detail = match &inbound.status {
                    Some(status) => format!("{status} {}", inbound.detail),
                    None => inbound.detail.clone(),
                };
                let mut event = Event::new(kind, channel).detail(detail.trim());
                event.digest_id = inbound.digest_id.clone();
                event
            };
            let opted_out = subscriber.status.is_opt_out();
            match inbound.class {
                InboundClass::Ignored => Ok(Applied::Nothing),
                InboundClass::Unsubscribe if opted_out => Ok(Applied::Nothing),
                InboundClass::Unsubscribe => {
                    let event = event(EventKind::Unsubscribed, Channel::Mailto);
                    set_status(db, subscriber.id, SubscriberStatus::Unsubscribed, &event, &at)?;
                    Ok(Applied::StatusChanged(SubscriberStatus::Unsubscribed))
                }
                InboundClass::Complaint if subscriber.status == SubscriberStatus::Complained => {
                    record(db, subscriber.id, &event(EventKind::Complained, Channel::Arf), &at)?;
                    Ok(Applied::Recorded { bounces: None })
                }
                InboundClass::Complaint => {
                    let event = event(EventKind::Complained, Channel::Arf);
                    set_status(db, subscriber.id, SubscriberStatus::Complained, &event, &at)?;
                    Ok(Applied::StatusChanged(SubscriberStatus::Complained))
                }
                InboundClass::HardBounce | InboundClass::SoftBounce => {
                    let hard = inbound.class == InboundClass::HardBounce;
                    let (kind, limit, since) = match hard {
                        true => (EventKind::HardBounce, policy.hard, None),
                        false => (EventKind::SoftBounce, policy.soft, Some(window_start.as_str())),
                    };
                    let count = bounces(db, subscriber.id, kind, since)? + 1;
                    if opted_out || count < limit {
                        record(db, subscriber.id, &event(kind, Channel::Dsn), &at)?;
                        return Ok(Applied::Recorded { bounces: Some(count) });
                    }
                    let mut event = event(EventKind::Bounced, Channel::Dsn);
                    if limit > 1 {
                        let what = match hard {
                            true => format!("{count} hard bounces"),
                            false => format!("{count} soft bounces in {} days", policy.soft_window_days),
                        };
                        event.detail = Some(format!("{}; {what}", event.detail.unwrap_or_default()));
                    }
                    set_status(db, subscriber.id, SubscriberStatus::Bounced, &event, &at)?;
                    Ok(Applied::StatusChanged(SubscriberStatus::Bounced))
                }
            }
        })
    }

    /// The subscriber a digest's Message-ID was sent to, from the delivery
    /// ledger: its store id (when the store linked it) and address.
    pub fn delivery_by_message_id(&self, message_id: &str) -> Result<Option<(Option<i64>, String, String)>> {
        let message_id = format!("<{}>", message_id.trim_matches(['<', '>']));
        // Message-IDs start with the digest id (`<digest-2026-10.…@…>`): the
        // ledger's unique index narrows the search to that digest's rows.
        let digest_id = message_id[1..].split('.').next().unwrap_or_default().to_string();
        self.db.query_opt(
            "SELECT subscriber_id, address, digest_id FROM deliveries WHERE digest_id = ?1 AND message_id = ?2",
            params![digest_id, message_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
    }

    /// The unverified requests `inbound` recorded, newest first, at most
    /// `limit`, and how many there are in all: what the operator is to look
    /// at (`digest status`).
    pub fn unverified_inbound(&self, limit: usize) -> Result<(usize, Vec<UnverifiedRequest>)> {
        let pattern = format!("{UNVERIFIED}%");
        let total: i64 = self.db.query_one(
            "SELECT COUNT(*) FROM inbound_messages WHERE class LIKE ?1",
            params![pattern],
            |row| row.get(0),
        )?;
        let rows = self.db.query(
            "SELECT at, class, detail FROM inbound_messages WHERE class LIKE ?1 ORDER BY at DESC, hash LIMIT ?2",
            params![pattern, limit as i64],
            |row| {
                let class: String = row.get(1)?;
                Ok(UnverifiedRequest {
                    at: row.get(0)?,
                    class: class.strip_prefix(UNVERIFIED).unwrap_or(&class).to_string(),
                    why: row.get::<Option<String>>(2)?.unwrap_or_default(),
                })
            },
        )?;
        Ok((total as usize, rows))
    }

    /// How many subscribers became opt-outs after `since` (RFC 3339), by the
    /// event that did it: what a send's summary counts since the last digest.
    pub fn suppressed_since(&self, since: &str) -> Result<Vec<(EventKind, usize)>> {
        let found: Vec<(String, i64)> = self.db.query(
            "SELECT kind, COUNT(DISTINCT subscriber_id) FROM events
             WHERE kind IN ('unsubscribed', 'bounced', 'complained') AND at > ?1 GROUP BY kind",
            params![since],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok([EventKind::Unsubscribed, EventKind::Bounced, EventKind::Complained]
            .into_iter()
            .map(|kind| {
                let count = found.iter().find(|(k, _)| k == kind.as_str()).map_or(0, |(_, n)| *n);
                (kind, count as usize)
            })
            .collect())
    }

    /// Bounces and complaints that came back for one digest, by kind:
    /// mail `inbound` read (DSNs, ARF reports), not the relay's refusals
    /// while sending, which the ledger counts as `failed_permanent`.
    pub fn returned_for_digest(&self, digest_id: &str) -> Result<Vec<(EventKind, usize)>> {
        self.db.query(
            "SELECT kind, COUNT(*) FROM events WHERE digest_id = ?1
             AND kind IN ('bounced', 'hard_bounce', 'soft_bounce', 'complained') AND channel IN ('dsn', 'arf')
             GROUP BY kind ORDER BY kind",
            params![digest_id],
            |row| {
                let kind: String = row.get(0)?;
                let count: i64 = row.get(1)?;
                Ok((EventKind::parse(&kind), count as usize))
            },
        )
    }
}

/// A subscriber's bounces of `kind` (after `since`, when given).
fn bounces(db: &Db, subscriber_id: i64, kind: EventKind, since: Option<&str>) -> Result<u32> {
    let count: i64 = db.query_one(
        "SELECT COUNT(*) FROM events WHERE subscriber_id = ?1 AND kind = ?2 AND (CAST(?3 AS TEXT) IS NULL OR at > ?3)",
        params![subscriber_id, kind.as_str(), since],
        |row| row.get(0),
    )?;
    Ok(count as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::store_tests;
    use chrono::TimeZone;

    fn inbound(hash: &str, class: InboundClass, id: i64) -> Inbound {
        Inbound {
            hash: hash.into(),
            class,
            subscriber_id: Some(id),
            status: Some("4.2.2".into()),
            detail: "mailbox full".into(),
            digest_id: Some("digest-2026-10".into()),
            unverified: None,
        }
    }

    store_tests! {
    fn soft_bounces_count_within_the_window_and_the_same_message_counts_once(place: &TestPlace) {
        let store = place.open();
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap();
        let (ada, _) = store.add("ada@example.org", None, false, day(1)).unwrap();
        let policy = BouncePolicy { hard: 1, soft: 3, soft_window_days: 10 };
        let apply = |hash: &str, at| store.apply_inbound(&inbound(hash, InboundClass::SoftBounce, ada.id), policy, at);
        assert_eq!(apply("a", day(1)).unwrap(), Applied::Recorded { bounces: Some(1) });
        assert_eq!(apply("a", day(2)).unwrap(), Applied::AlreadyHandled);
        // 20 days later the first one is out of the window.
        assert_eq!(apply("b", day(21)).unwrap(), Applied::Recorded { bounces: Some(1) });
        assert_eq!(apply("c", day(22)).unwrap(), Applied::Recorded { bounces: Some(2) });
        assert_eq!(apply("d", day(23)).unwrap(), Applied::StatusChanged(SubscriberStatus::Bounced));
        let events = store.events(ada.id).unwrap();
        let last = events.last().unwrap();
        assert_eq!((last.kind, last.channel), (EventKind::Bounced, Some(Channel::Dsn)));
        assert_eq!(last.detail.as_deref(), Some("4.2.2 mailbox full; 3 soft bounces in 10 days"));
        assert_eq!(last.digest_id.as_deref(), Some("digest-2026-10"));
        // A bounce of an opt-out is on the record, and changes nothing.
        assert_eq!(apply("e", day(24)).unwrap(), Applied::Recorded { bounces: Some(3) });
        assert_eq!(store.subscriber_by_id(ada.id).unwrap().unwrap().status, SubscriberStatus::Bounced);
    }

    fn a_complaint_suppresses_at_once_and_a_mailto_unsubscribe_is_recorded_by_its_channel(place: &TestPlace) {
        let store = place.open();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let (ada, _) = store.add("ada@example.org", None, false, now).unwrap();
        let (bob, _) = store.add("bob@example.org", None, false, now).unwrap();
        let policy = BouncePolicy::default();
        let complaint = Inbound { status: None, ..inbound("x", InboundClass::Complaint, ada.id) };
        assert_eq!(
            store.apply_inbound(&complaint, policy, now).unwrap(),
            Applied::StatusChanged(SubscriberStatus::Complained)
        );
        let mailto = Inbound { status: None, ..inbound("y", InboundClass::Unsubscribe, bob.id) };
        assert_eq!(
            store.apply_inbound(&mailto, policy, now).unwrap(),
            Applied::StatusChanged(SubscriberStatus::Unsubscribed)
        );
        assert_eq!(store.events(bob.id).unwrap().last().unwrap().channel, Some(Channel::Mailto));
        let suppressed = store.suppressed_since("2026-10-01T00:00:00.000Z").unwrap();
        assert_eq!(suppressed, vec![(EventKind::Unsubscribed, 1), (EventKind::Bounced, 0), (EventKind::Complained, 1)]);
        assert_eq!(store.returned_for_digest("digest-2026-10").unwrap(), vec![(EventKind::Complained, 1)]);
        // Unknown subscribers and ignored mail are only marked handled.
        let nobody = Inbound { subscriber_id: None, ..inbound("z", InboundClass::HardBounce, 0) };
        assert_eq!(store.apply_inbound(&nobody, policy, now).unwrap(), Applied::Nothing);
        assert!(store.inbound_handled("z").unwrap());
    }

    fn an_unverified_request_changes_nothing_and_is_listed(place: &TestPlace) {
        let store = place.open();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let (ada, _) = store.add("ada@example.org", None, false, now).unwrap();
        let forged = Inbound {
            unverified: Some("ada@example.org: no token".into()),
            ..inbound("u", InboundClass::Unsubscribe, ada.id)
        };
        let policy = BouncePolicy::default();
        assert_eq!(store.apply_inbound(&forged, policy, now).unwrap(), Applied::Unverified("ada@example.org: no token".into()));
        assert_eq!(store.apply_inbound(&forged, policy, now).unwrap(), Applied::AlreadyHandled);
        assert_eq!(store.subscriber_by_id(ada.id).unwrap().unwrap().status, SubscriberStatus::Subscribed);
        assert!(store.events(ada.id).unwrap().iter().all(|e| e.kind != EventKind::Unsubscribed));
        let (total, listed) = store.unverified_inbound(10).unwrap();
        assert_eq!(total, 1);
        assert_eq!((listed[0].class.as_str(), listed[0].why.as_str()), ("unsubscribe", "ada@example.org: no token"));
    }
    }
}
