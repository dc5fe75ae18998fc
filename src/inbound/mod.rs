//! `newsroom inbound`: mail that comes back — delivery status
//! notifications, ARF complaints, mail to the unsubscribe address,
//! auto-replies — read from a Maildir, an mbox or standard input,
//! classified ([`classify`]), attributed to a subscriber, and recorded in
//! the store with the bounce policy ([`crate::store::inbound`]).
//!
//! Whom a message is about is found from the strongest clue it carries:
//! a VERP token of `delivery.return_path` (signed: it names the subscriber
//! and the digest), an unsubscribe token of the original's
//! List-Unsubscribe (signed), the original's Message-ID in the delivery
//! ledger, then an address it names. A token that does not verify is
//! ignored, and nothing about why is said.
//!
//! What may act on a subscriber is narrower than what finds one ([`trust`]):
//! with `delivery.return_path` set, a bounce acts only through its VERP
//! token; a complaint only through a token of newsroom's in its reported
//! original; a mailto unsubscribe through its token, or else only when the
//! operator's MTA authenticated its From ([`authentication`]). Anything
//! else is recorded as unverified, reported, and changes nothing.
//!
//! Nothing is acknowledged before it is durable: a Maildir message moves
//! to the done folder only after its record is committed, and a message
//! handled before (by the SHA-256 of its bytes) changes nothing.

pub mod authentication;
pub mod classify;
pub mod mailbox;

use anyhow::Result;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::{BouncePolicy, Config};
use crate::digest::Edition;
use crate::store::Store;
use crate::store::inbound::{Applied, Inbound, InboundClass};
use crate::store::subscribers::{Channel, SubscriberStatus, Unsubscribed};
pub use classify::{Classification, Clues, Settings, classify};

/// The largest message read; a larger one is left in place, unread.
pub const MAX_MESSAGE_BYTES: usize = 10 << 20;

/// What `inbound` knows of the site: how to read and verify, and the policy.
#[derive(Debug, Clone)]
pub struct Intake {
    pub settings: Settings,
    pub secret: Vec<u8>,
    pub list_id: String,
    pub policy: BouncePolicy,
    /// `delivery.return_path` is set: every message newsroom sends carries
    /// a VERP token, so a bounce without one that verifies acts on nobody.
    pub bounces_need_token: bool,
}

impl Intake {
    pub fn new(config: &Config, secret: Vec<u8>) -> Intake {
        Intake {
            settings: Settings::new(config.delivery.return_path_parts(), config.digest.unsubscribe_mailto.as_deref())
                .with_plus_addressing(config.digest.unsubscribe_mailto_plus_addressing)
                .with_authserv_id(config.inbound.authserv_id.as_deref()),
            secret,
            list_id: config.digest.list_id.clone(),
            policy: config.delivery.bounces,
            bounces_need_token: config.delivery.return_path.is_some(),
        }
    }
}

/// Whom a message is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The subscriber in the store.
    pub subscriber_id: Option<i64>,
    /// The address: the subscriber's, or the one the message names when no subscriber has it.
    pub address: Option<String>,
    pub digest_id: Option<String>,
    /// Which clue found it: `return-path`, `unsubscribe-token`, `message-id`, `address`.
    pub by: Option<&'static str>,
}

/// Finds the subscriber a message's clues point at, strongest clue first.
pub fn attribute(store: &Store, intake: &Intake, clues: &Clues) -> Result<Attribution> {
    for token in &clues.return_path_tokens {
        if let Some((id, digest)) = crate::token::verify_return_path(&intake.secret, &intake.list_id, token)
            && let Some(subscriber) = store.subscriber_by_id(id)?
        {
            // A per-post edition's token names no period (`0`): the
            // bounced message's Message-ID names its edition.
            let digest_id = Edition::from_token_period(&digest)
                .map(|edition| edition.id())
                .or_else(|| clues.message_ids.iter().find_map(|id| digest_of_message_id(id)));
            return Ok(found(subscriber.id, subscriber.address, digest_id, "return-path"));
        }
    }
    for token in &clues.unsubscribe_tokens {
        if let Some(id) = crate::token::verify(&intake.secret, &intake.list_id, token)
            && let Some(subscriber) = store.subscriber_by_id(id)?
        {
            let digest_id = clues.message_ids.iter().find_map(|id| digest_of_message_id(id));
            return Ok(found(subscriber.id, subscriber.address, digest_id, "unsubscribe-token"));
        }
    }
    for message_id in &clues.message_ids {
        if let Some((id, address, digest_id)) = store.delivery_by_message_id(message_id)? {
            let subscriber = match id {
                Some(id) => store.subscriber_by_id(id)?,
                None => store.subscriber(&address)?,
            };
            if let Some(subscriber) = subscriber {
                return Ok(found(subscriber.id, subscriber.address, Some(digest_id), "message-id"));
            }
        }
    }
    let digest_id = clues.message_ids.iter().find_map(|id| digest_of_message_id(id));
    for address in &clues.addresses {
        if let Some(subscriber) = store.subscriber(address)? {
            return Ok(found(subscriber.id, subscriber.address, digest_id, "address"));
        }
    }
    Ok(Attribution { address: clues.addresses.first().cloned(), digest_id, ..Attribution::default() })
}

fn found(id: i64, address: String, digest_id: Option<String>, by: &'static str) -> Attribution {
    Attribution { subscriber_id: Some(id), address: Some(address), digest_id, by: Some(by) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_is_the_same_whatever_its_line_endings_and_trailing_blank_lines() {
        let hash = super::message_hash(b"Subject: a\n\nbody\n");
        assert_eq!(super::message_hash(b"Subject: a\r\n\r\nbody\r\n"), hash);
        assert_eq!(super::message_hash(b"Subject: a\n\nbody\n\n\n"), hash);
        assert_eq!(super::message_hash(b"Subject: a\n\nbody"), hash);
        assert_ne!(super::message_hash(b"Subject: a\n\nbody2\n"), hash);
        assert_ne!(super::message_hash(b"Subject: a\nbody\n"), hash, "the blank line between head and body counts");
    }
}

/// `digest-2026-10` (an edition's id) from a digest's Message-ID
/// (`<digest-2026-10.…@…>`).
fn digest_of_message_id(message_id: &str) -> Option<String> {
    let id = message_id.trim_matches(['<', '>']);
    let digest = id.split('.').next()?;
    Some(Edition::from_id(digest)?.id())
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Classified, attributed and recorded (or recorded before); an
    /// unverified one is recorded as such ([`Applied::Unverified`]) and changes nothing.
    Handled { class: InboundClass, status: Option<String>, detail: String, attribution: Attribution, applied: Applied },
    /// Not recognised: left where it is, with the reason.
    Unrecognised(String),
}

impl Outcome {
    pub fn is_handled(&self) -> bool {
        matches!(self, Outcome::Handled { .. })
    }
}

/// The SHA-256 of a message, hex: its identity in the store. Line endings
/// and the blank lines at its end are not part of it: the same message
/// read from a Maildir file, out of an mbox (which ends each with an empty
/// line) or from a pipe (CRLF) is the same message.
pub fn message_hash(raw: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let end = raw.iter().rposition(|b| !matches!(b, b'\r' | b'\n')).map_or(0, |last| last + 1);
    for line in raw[..end].split(|b| *b == b'\n') {
        hasher.update(line.strip_suffix(b"\r").unwrap_or(line));
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Classifies, attributes and records one message.
pub fn handle(store: &Store, intake: &Intake, raw: &[u8], now: DateTime<Utc>) -> Result<Outcome> {
    handle_merging(store, intake, raw, now, &mut |_| Ok(false))
}

/// [`handle`], with `merge` to call when the message names an address the
/// store does not hold: it merges the site's subscriber file into the
/// store (once a run; true when it did now), and the address is looked
/// for again. So a complaint or a mailto unsubscribe from a reader on the
/// site's list who has had no send yet reaches them, as every other
/// command's merge-first would have it; and a bounce attributed by its
/// signed token, the common case, costs no merge (a mailbox read by the
/// MTA's pipe runs `inbound` once a message).
pub fn handle_merging(
    store: &Store,
    intake: &Intake,
    raw: &[u8],
    now: DateTime<Utc>,
    merge: &mut dyn FnMut(&Store) -> Result<bool>,
) -> Result<Outcome> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Ok(Outcome::Unrecognised(format!(
            "{} bytes, more than the {} MiB a returned message may have",
            raw.len(),
            MAX_MESSAGE_BYTES >> 20
        )));
    }
    let hash = message_hash(raw);
    let classification = classify(&intake.settings, raw);
    let class = match classification.class {
        Ok(class) => class,
        Err(why) => return Ok(Outcome::Unrecognised(why)),
    };
    let mut attribution = attribute(store, intake, &classification.clues)?;
    if attribution.subscriber_id.is_none() && !classification.clues.addresses.is_empty() && merge(store)? {
        attribution = attribute(store, intake, &classification.clues)?;
    }
    let unverified = trust(intake, class, &classification, &attribution).err();
    let mut detail = classification.detail.clone();
    if let (None, Some(Ok(how))) = (&unverified, &classification.from_authenticated)
        && attribution.by != Some("unsubscribe-token")
    {
        detail = format!("{detail}; From authenticated: {how}");
    }
    let mut recorded_as_opt_out = false;
    if class == InboundClass::Unsubscribe && attribution.subscriber_id.is_none() {
        match (&unverified, &attribution.address) {
            // An authenticated opt-out of an address nobody holds is kept,
            // as `newsroom unsubscribe` keeps it: no list that adds it later mails it.
            (None, Some(address)) if !store.inbound_handled(&hash)? => {
                let outcome = store.unsubscribe(address, Channel::Mailto, None, now)?;
                recorded_as_opt_out = outcome == Unsubscribed::NotOnTheList;
                attribution = attribute(store, intake, &classification.clues)?;
            }
            (None, Some(_)) => {}
            // Anything else that names no subscriber is someone else's mail.
            _ => return Ok(Outcome::Unrecognised("mail to the unsubscribe address from no subscriber".into())),
        }
    }
    let inbound = Inbound {
        hash,
        class,
        subscriber_id: attribution.subscriber_id,
        status: classification.status.clone(),
        detail: detail.clone(),
        digest_id: attribution.digest_id.clone(),
        unverified: unverified.map(|why| match &attribution.address {
            Some(address) => format!("{address}: {why}"),
            None => why,
        }),
    };
    let mut applied = store.apply_inbound(&inbound, intake.policy, now)?;
    if recorded_as_opt_out && applied == Applied::Nothing {
        applied = Applied::StatusChanged(SubscriberStatus::Unsubscribed);
    }
    Ok(Outcome::Handled { class, status: classification.status, detail, attribution, applied })
}

/// Whether a message may act on the subscriber it found, or why not: the
/// rules of this module's documentation.
pub fn trust(
    intake: &Intake,
    class: InboundClass,
    classification: &Classification,
    attribution: &Attribution,
) -> Result<(), String> {
    let clues = &classification.clues;
    match class {
        InboundClass::HardBounce | InboundClass::SoftBounce if intake.bounces_need_token => {
            match (attribution.by, clues.return_path_tokens.is_empty()) {
                (Some("return-path"), _) => Ok(()),
                (_, true) => Err("a bounce without a VERP token of delivery.return_path, which every message newsroom sends carries".into()),
                (_, false) => Err("a bounce whose VERP token does not verify".into()),
            }
        }
        InboundClass::Complaint => match attribution.by {
            Some("return-path" | "unsubscribe-token") => Ok(()),
            _ => Err("a complaint whose reported original carries no token of newsroom's that verifies (List-Unsubscribe, VERP return path)".into()),
        },
        InboundClass::Unsubscribe if attribution.by == Some("unsubscribe-token") => Ok(()),
        InboundClass::Unsubscribe => {
            let no_token = if clues.unsubscribe_tokens.is_empty() {
                "an unsubscribe without a token"
            } else {
                "an unsubscribe whose token does not verify"
            };
            match &classification.from_authenticated {
                Some(Ok(_)) => Ok(()),
                Some(Err(why)) => Err(format!("{no_token}, and {why}")),
                None => Err(no_token.to_string()),
            }
        }
        _ => Ok(()),
    }
}
