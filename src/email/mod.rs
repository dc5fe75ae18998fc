//! Email: what every message newsroom sends is made of, whatever it
//! carries — the message and its headers ([`message`]), the MIME parts
//! encoded once and filled per reader ([`mime`]), DKIM signing ([`dkim`]),
//! the maud layouts ([`layout`]), the owner's templates ([`template`]) and
//! the sign-up confirmation ([`confirm`]).
//!
//! The digest (`crate::digest`) sits above: it decides what an edition
//! holds and renders it; a message needs only what [`message::Rendered`]
//! gives, so a confirmation or a digest are built by the same code.

pub mod confirm;
pub mod dkim;
pub mod layout;
pub mod message;
pub mod mime;
pub mod template;

use crate::config::Config;
use crate::markdown;

/// The inliner of `email.css` into the messages' style attributes, for the
/// clients that ignore a `<style>` element. The element stays too: its
/// `@media` rules (the dark scheme) cannot be inlined. Not css-inline's
/// `keep_at_rules`, which keeps only those but writes them first in
/// `<head>`, where a long stylesheet pushes `<meta charset>` past the
/// first 1024 bytes (an error to the Nu HTML Checker).
pub(crate) fn css_inliner() -> css_inline::CSSInliner<'static> {
    css_inline::CSSInliner::options().keep_style_tags(true).load_remote_stylesheets(false).build()
}

/// Site-owner Markdown (intro, footer) as clean HTML; a fragment alone
/// points into the digest's web version, `page`.
pub(crate) fn owner_markdown_html(markdown: &str, base_url: &str, page: &str) -> String {
    owner_events_html(markdown::events(markdown).map(|(event, _)| event), base_url, page)
}

/// [`owner_markdown_html`] of a part of a document's events (the rest of
/// the document still defines its link references).
pub(crate) fn owner_events_html<'a>(
    events: impl Iterator<Item = pulldown_cmark::Event<'a>>,
    base_url: &str,
    page: &str,
) -> String {
    let mut raw = String::new();
    pulldown_cmark::html::push_html(&mut raw, events);
    let links = std::collections::HashMap::new();
    let context = markdown::LinkContext { base_url, permalink: page, folder: "", post_links: &links };
    markdown::html::clean(&raw, &context).html
}

/// What a preview shows where the configuration leaves a key a digest
/// cannot be sent without unset: values that say so, at a reserved domain
/// (`.invalid`, RFC 2606) no message can reach. `send` refuses to start
/// instead ([`crate::config::DigestConfig::missing_for_sending`]).
pub mod placeholder {
    pub const FROM_ADDRESS: &str = "digest-from-is-not-set@newsroom.invalid";
    pub const POSTAL_ADDRESS: &str = "[digest.postal_address is not set]";
    pub const UNSUBSCRIBE_URL: &str = "https://digest-unsubscribe-url-is-not-set.invalid/?email={email}&token={token}";
}

/// The sender settings of every message, from the configuration (checked
/// when it was read). A key that is not set gets its [`placeholder`].
pub fn sender(config: &Config, secret: Vec<u8>, date: std::time::SystemTime) -> message::Sender {
    let from = config.digest.from.clone().unwrap_or_else(|| {
        let address = placeholder::FROM_ADDRESS.parse().expect("the placeholder is an address");
        // The title as a display name, cleaned as subscribers' names are: a
        // control character in it made the header unreadable to lettre
        // (found by fuzzing `newsroom.yaml`).
        lettre::message::Mailbox::new(crate::subscriber::clean_name(&config.site.title).0, address)
    });
    message::Sender {
        from,
        reply_to: config.digest.reply_to.clone(),
        list_id: config.digest.list_id.clone(),
        unsubscribe_url: config.digest.unsubscribe_url.clone().unwrap_or_else(|| placeholder::UNSUBSCRIBE_URL.into()),
        unsubscribe_mailto: config.digest.unsubscribe_mailto_uri(),
        secret,
        date,
        subject_prefix: String::new(),
        dkim: None,
        return_path: config.delivery.return_path.clone(),
    }
}
