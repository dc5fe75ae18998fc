//! Sign-up with double opt-in: `GET /subscribe` (the form), `POST
//! /subscribe` (records a `pending` reader and mails a confirmation link),
//! `GET /confirm/{token}` (a page with a button: mail scanners open links)
//! and `POST /confirm/{token}` (subscribed).
//!
//! The answer to a sign-up is the same page for every address, whatever the
//! store holds, so the form tells nobody who is on the list. A bot that
//! fills the hidden field gets that page too, and nothing is recorded.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{App, client, form_fields, html, mask, pages, unavailable};
use crate::delivery::relay::{Outcome, Relay};
use crate::digest::confirm::{self, ConfirmTemplate};
use crate::store::web::issued_before_last_change;
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
    pub dkim: Option<Arc<crate::digest::dkim::Signers>>,
}

/// The honeypot: hidden from people, filled in by form-filling bots.
const HONEYPOT: &str = "website";

fn closed(app: &App) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::failure("No sign-up here", &format!("{} does not take sign-ups on this page.", app.options.list_name)),
    )
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
    // A stricter rate than the service's own: each sign-up may send a message.
    if let Some(ip) = client(&request)
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
    let address = match crate::subscribers::normalise_address(email) {
        Ok(address) => address,
        Err(reason) => {
            let shown = format!("That address cannot get mail: {reason}.");
            return html(StatusCode::BAD_REQUEST, pages::subscribe_form(masthead, Some(&shown), email, name));
        }
    };
    let name = crate::subscribers::clean_name(name).0;
    let outcome = match app.writer.ask(WebRequest::SignUp { address: address.clone(), name }).await {
        Ok(outcome) => outcome,
        Err(_) => return unavailable(),
    };
    if outcome.send_confirmation
        && let Some(subscriber) = outcome.subscriber
    {
        tokio::spawn(mail_confirmation(app.clone(), subscriber.id, subscriber.address));
    }
    html(StatusCode::OK, pages::check_inbox(masthead))
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
pub async fn show_confirm(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    match app.confirmation(&token) {
        Ok(link) => app.look_at_confirmation(link).await,
        Err(page) => *page,
    }
}

/// POST of a confirmation link: subscribed, or already.
pub async fn confirm(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
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
