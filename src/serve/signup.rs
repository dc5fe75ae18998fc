//! Sign-up with double opt-in: `GET /subscribe` (the form), `POST
//! /subscribe` (records a `pending` reader and mails a confirmation link),
//! `GET /confirm/{token}` (a page with a button: mail scanners open links)
//! and `POST /confirm/{token}` (subscribed).
//!
//! The answer to a sign-up is the same page for every address, whatever the
//! store holds, so the form tells nobody who is on the list. A bot that
//! fills the hidden field gets that page too, and nothing is recorded. The
//! one difference a reader may see, "a confirmation was sent recently",
//! depends only on what the same client asked in the last hour
//! ([`RecentSignUps`]), never on the store. Nor does the time of the
//! answer: what the store does with an address (record it, or not; mail,
//! or not) runs after the answer is sent ([`record_sign_up`]), so the
//! answer waits on no statement, commit or lock that depends on it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest as _, Sha256};

use super::floods::Verdict;
use super::{App, Token, client, form_fields, html, mask, pages, unavailable};
use crate::delivery::relay::{Outcome, Relay};
use crate::email::confirm::{self, ConfirmTemplate};
use crate::store::web::{CONFIRMATION_INTERVAL_SECONDS, issued_before_last_change};
use crate::store::{SubscriberRecord, SubscriberStatus, WebOutcome, WebRequest};
use crate::token::{self, Confirmation};

/// What sign-up needs; `serve` offers it only when all of it is there.
pub struct SignUpOptions {
    /// `serve.public_url`: confirmation links start with it.
    pub public_url: String,
    /// The configuration the confirmation message is made from.
    pub config: crate::config::Config,
    pub template: ConfirmTemplate,
    /// Where confirmations are mailed through (`NEWSROOM_SMTP_URL`).
    pub relay: Relay,
    /// Signs confirmations as the digests are signed (`delivery.dkim`).
    pub dkim: Option<Arc<crate::email::dkim::Signers>>,
    /// `serve.signup.confirmations_per_hour` ([`super::floods`]; `None`: the default).
    pub confirmations_per_hour: Option<std::num::NonZeroU32>,
    /// `serve.signup.per_domain_per_hour`.
    pub per_domain_per_hour: Option<std::num::NonZeroU32>,
}

/// The honeypot: hidden from people, filled in by form-filling bots.
const HONEYPOT: &str = "website";

fn closed(app: &App) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::failure("No sign-up here", &format!("{} does not take sign-ups on this page.", app.options.list_name)),
    )
}

/// Client and address pairs remembered at most; past it the oldest go
/// first, so a flood from many addresses costs a bounded few megabytes and
/// at worst shows "check your inbox" where "sent recently" was due.
const RECENT_SIGNUPS: usize = 65_536;

/// The sign-ups each client made in the last hour
/// ([`CONFIRMATION_INTERVAL_SECONDS`], the store's interval between two
/// confirmations to one address), by a hash of the client's IP address and
/// the address it signed up: what tells a reader who asks again that a
/// confirmation was sent recently.
///
/// It is what the client itself asked, whatever the store holds or did: a
/// subscribed address, whose sign-up mails nothing, is remembered like a
/// new one, so asking twice tells an attacker nothing about the list; and
/// another client's sign-up of the same address is not seen. It lives in
/// this process only: after a restart, or on another instance, a second
/// sign-up gets "check your inbox" again (and the store still mails at
/// most one message an hour).
#[derive(Default)]
pub struct RecentSignUps(Mutex<Recent>);

#[derive(Default)]
struct Recent {
    /// When each pair was first seen within the hour (Unix seconds).
    first_seen: HashMap<[u8; 16], i64>,
    /// The same pairs, oldest first.
    order: VecDeque<([u8; 16], i64)>,
}

impl RecentSignUps {
    /// Notes that `client` signed up the address whose matching key is
    /// `address_key` at `now` (Unix seconds), and says whether it had done
    /// so in the hour before. The hour runs from the first sign-up, as the
    /// store's does from the confirmation it mailed.
    fn note(&self, client: IpAddr, address_key: &str, now: i64) -> bool {
        let mut hash = Sha256::new();
        hash.update(client.to_string().as_bytes());
        hash.update([0]);
        hash.update(address_key.as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&hash.finalize()[..16]);
        let since = now - CONFIRMATION_INTERVAL_SECONDS;
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(&(old, at)) = recent.order.front() {
            if at > since && recent.order.len() < RECENT_SIGNUPS {
                break;
            }
            recent.order.pop_front();
            if recent.first_seen.get(&old) == Some(&at) {
                recent.first_seen.remove(&old);
            }
        }
        if recent.first_seen.get(&key).is_some_and(|&at| at > since) {
            return true;
        }
        recent.first_seen.insert(key, now);
        recent.order.push_back((key, now));
        false
    }
}

pub async fn show_form(State(app): State<Arc<App>>) -> Response {
    if app.options.signup.is_none() {
        return closed(&app);
    }
    html(StatusCode::OK, pages::subscribe_form(app.masthead(), None, "", ""))
}

pub async fn subscribe(State(app): State<Arc<App>>, request: Request) -> Response {
    if app.options.signup.is_none() {
        return closed(&app);
    }
    let from = client(&app, &request);
    // A stricter rate than the service's own: each sign-up may send a message.
    if let Some(ip) = from
        && app.signup_limiter.check_key(&ip).is_err()
    {
        return super::too_many(60);
    }
    let form = match form_fields(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let field = |name: &str| form.get(name).unwrap_or_default();
    let masthead = app.masthead();
    if !field(HONEYPOT).is_empty() {
        (app.options.log)("POST /subscribe: the hidden field was filled in; dropped".into());
        return html(StatusCode::OK, pages::check_inbox(masthead));
    }
    let (email, name) = (field("email"), field("name"));
    let address = match crate::subscriber::normalise_address(email) {
        Ok(address) => address,
        Err(reason) => {
            let shown = format!("That address cannot get mail: {reason}.");
            return html(StatusCode::BAD_REQUEST, pages::subscribe_form(masthead, Some(&shown), email, name));
        }
    };
    let name = crate::subscriber::clean_name(name).0;
    if name.as_deref().is_some_and(|name| crate::subscriber::capped_name(name).1) {
        let shown =
            format!("That name is too long: it may have at most {} characters.", crate::subscriber::MAX_NAME_CHARS);
        let form_name = name.as_deref().unwrap_or_default();
        return html(StatusCode::BAD_REQUEST, pages::subscribe_form(masthead, Some(&shown), email, form_name));
    }
    let key = crate::subscriber::matching_key(&address);
    match app.signup_limits.check(&address) {
        Verdict::Refused { limit, per_hour, retry_after } => {
            if app.signup_limits.log_refusal(limit, super::now().timestamp().max(0) as u64) {
                (app.options.log)(format!(
                    "POST /subscribe: {limit} ({per_hour} an hour) is reached: sign-ups are refused with 429 for {retry_after} s"
                ));
            }
            return too_many_sign_ups(&app, retry_after);
        }
        // That inbox got a confirmation this hour, under this spelling or
        // another: nothing more is mailed, and the answer is the usual one.
        Verdict::MailboxHadOne => {}
        // The store's work (record, decide whether to mail) depends on what
        // the store holds of the address, so it runs after the answer: the
        // answer waits on no statement, commit or lock that could tell a
        // known address from a new one.
        Verdict::Mail => {
            tokio::spawn(record_sign_up(app.clone(), address, name));
        }
    }
    // Noted whatever the store did, so the answer cannot tell a subscribed
    // address (nothing mailed) from a new one.
    let again = from.is_some_and(|ip| app.recent_signups.note(ip, &key, super::now().timestamp()));
    html(StatusCode::OK, if again { pages::sent_recently(masthead) } else { pages::check_inbox(masthead) })
}

/// Records a sign-up and mails its confirmation, after its answer was sent
/// (a store that fails is logged: the reader may sign up again).
async fn record_sign_up(app: Arc<App>, address: String, name: Option<String>) {
    let masked = mask(&address);
    match app.writer.ask(WebRequest::SignUp { address, name }).await {
        Ok(WebOutcome { send_confirmation: true, subscriber: Some(subscriber), .. }) => {
            mail_confirmation(app.clone(), subscriber.id, subscriber.address).await;
        }
        Ok(_) => {}
        Err(error) => (app.options.log)(format!("sign-up of {masked} not recorded: {error:#}")),
    }
}

/// `429` for a cap of [`super::floods`], saying what happened.
fn too_many_sign_ups(app: &App, retry_after: u64) -> Response {
    let minutes = retry_after.div_ceil(60);
    let text = format!(
        "{} has taken as many sign-ups as it can for now. Nothing was recorded: try again in {minutes} minute{}.",
        app.options.list_name,
        if minutes == 1 { "" } else { "s" }
    );
    let mut response = html(StatusCode::TOO_MANY_REQUESTS, pages::failure("Too many sign-ups", &text));
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
    response
}

/// Mails the confirmation link; the reader is waiting for it, the request
/// is not (its answer does not depend on the relay).
async fn mail_confirmation(app: Arc<App>, id: i64, address: String) {
    let Some(signup) = &app.options.signup else { return };
    let now = super::now();
    let token = token::sign_confirmation(&app.options.secret, &app.options.list_id, id, now.timestamp());
    let url = format!("{}/confirm/{token}", signup.public_url);
    let masked = mask(&address);
    // Its envelope sender names the reader too, so a bounce of the
    // confirmation reaches the pending subscriber (`0`: no digest).
    let return_token = token::sign_return_path(&app.options.secret, &app.options.list_id, id, "0");
    let envelope_sender = signup.config.delivery.return_path(&return_token);
    let made =
        confirm::message(&signup.config, &signup.template, &address, &url, envelope_sender.as_deref(), now.into())
            .and_then(|message| message.sign(signup.dkim.as_deref()));
    let message = match made {
        Ok(message) => message,
        Err(error) => return (app.options.log)(format!("confirmation to {masked} not made: {error:#}")),
    };
    let line = match crate::delivery::send_one(&signup.relay, &message).await {
        Outcome::Sent(_) => format!("confirmation mailed to {masked}"),
        Outcome::Permanent(reply) | Outcome::Ambiguous(reply) | Outcome::Transient { reply, .. } => {
            format!("confirmation to {masked} not mailed: {}", reply.replace(&address, &masked))
        }
    };
    (app.options.log)(line);
}

impl App {
    /// What a confirmation token says, or the page to answer a token not
    /// made here (404, the same page whatever it tried to name).
    fn confirmation(&self, token: &str) -> Result<Confirmation, Box<Response>> {
        let now = super::now().timestamp();
        token::verify_confirmation(&self.options.secret, &self.options.list_id, token, now)
            .ok_or_else(|| Box::new(self.invalid_link()))
    }

    /// The page a confirmation link of `subscriber` opens on, before any
    /// change: "already subscribed" (nothing to press), "expired" (410: too
    /// old, or issued before the reader's last change), or the button.
    fn confirmation_page(&self, link: Confirmation, subscriber: &SubscriberRecord) -> Response {
        let masked = mask(&subscriber.address);
        if subscriber.status == SubscriberStatus::Subscribed {
            return html(StatusCode::OK, pages::already_subscribed(self.masthead(), &masked));
        }
        match link {
            Confirmation::Valid { issued, .. } if !issued_before_last_change(subscriber, issued) => {
                html(StatusCode::OK, pages::confirm_subscription(self.masthead(), &masked))
            }
            _ => html(StatusCode::GONE, pages::link_expired(self.masthead())),
        }
    }

    /// The subscriber a verified confirmation link names, looked at, and
    /// the page it opens on.
    async fn look_at_confirmation(&self, link: Confirmation) -> Response {
        let (Confirmation::Valid { id, .. } | Confirmation::Expired { id }) = link;
        match self.writer.ask(WebRequest::Look(id)).await {
            Ok(WebOutcome { subscriber: Some(subscriber), .. }) => self.confirmation_page(link, &subscriber),
            // Erased on request since the link was mailed.
            Ok(_) => self.invalid_link(),
            Err(_) => unavailable(),
        }
    }
}

/// GET of a confirmation link: a page with the button, or what the reader
/// needs to know instead; nothing changes.
pub async fn show_confirm(State(app): State<Arc<App>>, Token(token): Token) -> Response {
    match app.confirmation(&token) {
        Ok(link) => app.look_at_confirmation(link).await,
        Err(page) => *page,
    }
}

/// POST of a confirmation link: subscribed, or already.
pub async fn confirm(State(app): State<Arc<App>>, Token(token): Token) -> Response {
    let (id, issued) = match app.confirmation(&token) {
        Ok(Confirmation::Valid { id, issued }) => (id, issued),
        Ok(expired) => return app.look_at_confirmation(expired).await,
        Err(page) => return *page,
    };
    match app.writer.ask(WebRequest::Confirm { id, issued }).await {
        Ok(WebOutcome { subscriber: Some(subscriber), changed: true, .. }) => {
            html(StatusCode::OK, pages::subscribed(app.masthead(), &mask(&subscriber.address)))
        }
        // Nothing changed: subscribed already, or a link issued before the
        // reader's last change.
        Ok(WebOutcome { subscriber: Some(subscriber), .. }) => {
            app.confirmation_page(Confirmation::Valid { id, issued }, &subscriber)
        }
        Ok(WebOutcome { subscriber: None, .. }) => app.invalid_link(),
        Err(_) => unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hears_of_its_own_sign_ups_of_the_hour_and_of_nobody_elses() {
        let recent = RecentSignUps::default();
        let (one, two): (IpAddr, IpAddr) = ("203.0.113.1".parse().unwrap(), "203.0.113.2".parse().unwrap());
        let t = 1_800_000_000;
        assert!(!recent.note(one, "a@x.org", t));
        assert!(recent.note(one, "a@x.org", t + 10));
        assert!(!recent.note(two, "a@x.org", t + 20), "another client's sign-up is not seen");
        assert!(!recent.note(one, "b@x.org", t + 30), "nor another address");
        // The hour runs from the first sign-up, not from the last.
        assert!(recent.note(one, "a@x.org", t + CONFIRMATION_INTERVAL_SECONDS - 1));
        assert!(!recent.note(one, "a@x.org", t + CONFIRMATION_INTERVAL_SECONDS));
        assert!(recent.note(one, "a@x.org", t + CONFIRMATION_INTERVAL_SECONDS + 1));
    }

    #[test]
    fn a_flood_of_sign_ups_keeps_the_memory_bounded() {
        let recent = RecentSignUps::default();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        for n in 0..RECENT_SIGNUPS + 100 {
            recent.note(client, &format!("r{n}@x.org"), 1_800_000_000);
        }
        let inner = recent.0.lock().unwrap();
        assert_eq!((inner.order.len(), inner.first_seen.len()), (RECENT_SIGNUPS, RECENT_SIGNUPS));
        drop(inner);
        assert!(!recent.note(client, "r0@x.org", 1_800_000_001), "the oldest went first");
        assert!(recent.note(client, &format!("r{}@x.org", RECENT_SIGNUPS + 99), 1_800_000_001));
    }
}
