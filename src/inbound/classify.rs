//! What one returned message is, from its MIME structure (read by
//! mail-parser; nothing here splits MIME by hand), and the clues to whom it
//! is about. Pure: no store, no clock.
//!
//! In order, the first that holds:
//! 1. a DSN (RFC 3464, `multipart/report; report-type=delivery-status`, or
//!    any `message/delivery-status` part): the failed recipient's RFC 3463
//!    status, `5.x.x` hard, `4.x.x` soft; a delay warning or a notice of
//!    delivery is ignored;
//! 2. an ARF feedback report (RFC 5965): a complaint;
//! 3. a bounce without a DSN part (qmail, old Exim, Yahoo): from a mailer
//!    daemon, an `X-Failed-Recipients` header or a bounce's subject; its
//!    status is the first SMTP code in its text;
//! 4. an auto-reply (RFC 3834 `Auto-Submitted`, vacation notices): ignored;
//! 5. mail to the `unsubscribe_mailto` address (RFC 2369): an unsubscribe;
//! 6. anything else: unrecognised.

use std::borrow::Cow;
use std::sync::LazyLock;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use regex::Regex;

use crate::store::inbound::InboundClass;

/// What the classifier needs to know of the site.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `delivery.return_path` around `{token}`, lowercase: (prefix, suffix).
    return_path: Option<(String, String)>,
    /// That address as a pattern that finds its token in text, built once.
    return_path_pattern: Option<Regex>,
    /// `digest.unsubscribe_mailto`, lowercase.
    unsubscribe_mailto: Option<String>,
    /// `digest.unsubscribe_mailto_plus_addressing`: `local+TOKEN@domain` is that address too.
    plus_addressing: bool,
    /// `inbound.authserv_id`: whose `Authentication-Results` are read.
    authserv_id: Option<String>,
}

impl Settings {
    /// `return_path`: `delivery.return_path` around `{token}`, (prefix,
    /// suffix); `unsubscribe_mailto`: `digest.unsubscribe_mailto`. Both
    /// are matched in any letter case.
    pub fn new(return_path: Option<(&str, &str)>, unsubscribe_mailto: Option<&str>) -> Settings {
        let return_path =
            return_path.map(|(prefix, suffix)| (prefix.to_ascii_lowercase(), suffix.to_ascii_lowercase()));
        let return_path_pattern = return_path.as_ref().and_then(|(prefix, suffix)| {
            Regex::new(&format!(r"(?i){}([0-9a-z-]{{1,64}}){}", regex::escape(prefix), regex::escape(suffix))).ok()
        });
        Settings {
            return_path,
            return_path_pattern,
            unsubscribe_mailto: unsubscribe_mailto.map(str::to_ascii_lowercase),
            plus_addressing: false,
            authserv_id: None,
        }
    }

    /// With `local+TOKEN@domain` read as the unsubscribe address carrying a token.
    pub fn with_plus_addressing(mut self, plus_addressing: bool) -> Settings {
        self.plus_addressing = plus_addressing;
        self
    }

    /// With the `Authentication-Results` of `authserv_id` trusted
    /// ([`super::authentication`]).
    pub fn with_authserv_id(mut self, authserv_id: Option<&str>) -> Settings {
        self.authserv_id = authserv_id.map(str::to_string);
        self
    }

    /// The token of `address` when it is the unsubscribe address: `Some(None)`
    /// for the address itself, `Some(Some(token))` for `local+TOKEN@domain`
    /// (with plus-addressing), `None` for another address.
    fn unsubscribe_recipient(&self, address: &str) -> Option<Option<String>> {
        let mailto = self.unsubscribe_mailto.as_deref()?;
        if address == mailto {
            return Some(None);
        }
        let (local, domain) = mailto.rsplit_once('@')?;
        let token = address.strip_suffix(domain)?.strip_suffix('@')?.strip_prefix(local)?.strip_prefix('+')?;
        (self.plus_addressing && !token.is_empty()).then(|| Some(token.to_string()))
    }
}

/// Where a message points at a subscriber. Tokens are as found, not yet
/// verified; the caller checks them against the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clues {
    /// VERP tokens of `delivery.return_path` addresses.
    pub return_path_tokens: Vec<String>,
    /// Unsubscribe tokens (`{id}-{mac}`) from a List-Unsubscribe header or a mailto subject.
    pub unsubscribe_tokens: Vec<String>,
    /// Message-IDs of the original message.
    pub message_ids: Vec<String>,
    /// Addresses the message names as the recipient (Final-Recipient,
    /// Original-Rcpt-To, X-Failed-Recipients, the original's To), or for a
    /// mailto unsubscribe, its sender.
    pub addresses: Vec<String>,
}

/// A message's class (or why it has none), with its status and clues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// `Err` with the reason when the message is not recognised.
    pub class: Result<InboundClass, String>,
    /// The RFC 3463 status of a bounce.
    pub status: Option<String>,
    /// A short description: the diagnostic, the feedback type, why ignored.
    pub detail: String,
    pub clues: Clues,
    /// For mail to the unsubscribe address: how its From is authenticated
    /// by the operator's MTA (`dmarc=pass header.from=…`), or why it is not.
    pub from_authenticated: Option<Result<String, String>>,
}

impl Classification {
    fn new(class: InboundClass, status: Option<String>, detail: impl Into<String>, clues: Clues) -> Classification {
        Classification { class: Ok(class), status, detail: one_line(&detail.into()), clues, from_authenticated: None }
    }

    fn unrecognised(why: impl Into<String>, clues: Clues) -> Classification {
        Classification { class: Err(why.into()), status: None, detail: String::new(), clues, from_authenticated: None }
    }
}

/// Classifies one raw message.
pub fn classify(settings: &Settings, raw: &[u8]) -> Classification {
    // mail-parser 0.11.9 has a `debug_assert!` that some malformed multipart
    // nesting trips (found by the `inbound` fuzz target): in a build with
    // debug assertions that is a panic. Hostile mail must not end the run,
    // so such a message is unrecognised, and left in place.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| MessageParser::default().parse(raw)));
    let message = match parsed {
        Ok(Some(message)) => message,
        Ok(None) => return Classification::unrecognised("not a message: no header could be read", Clues::default()),
        Err(_) => {
            return Classification::unrecognised("mail-parser could not read its MIME structure", Clues::default());
        }
    };
    let mut clues = Clues::default();
    let report = Report::of(&message);
    // The report's own recipients: a VERP address there is the strongest clue.
    let recipients = recipients(&message);
    for address in &recipients {
        clues.return_path_tokens.extend(return_path_token(settings, address));
    }
    if let Some(original) = &report.original {
        original_clues(settings, original, &mut clues);
    }

    if let Some(fields) = &report.delivery_status {
        return dsn(fields, &message, clues);
    }
    if let Some(fields) = &report.feedback {
        return complaint(fields, &message, clues);
    }
    if is_bounce_without_dsn(&message) {
        return plain_bounce(settings, &message, clues);
    }
    if let Some(why) = auto_reply(&message) {
        return Classification::new(InboundClass::Ignored, None, why, clues);
    }
    let to_unsubscribe: Vec<Option<String>> =
        recipients.iter().filter_map(|address| settings.unsubscribe_recipient(address)).collect();
    if !to_unsubscribe.is_empty() {
        for token in to_unsubscribe.into_iter().flatten() {
            push_new(&mut clues.unsubscribe_tokens, token);
        }
        return mailto_unsubscribe(settings, &message, clues);
    }
    let subject = message.subject().unwrap_or_default();
    Classification::unrecognised(
        format!("not a bounce, a complaint or an unsubscribe (subject `{}`)", one_line(subject)),
        clues,
    )
}

/// The machine-readable parts of a report, found by their content types.
struct Report<'a> {
    delivery_status: Option<Cow<'a, [u8]>>,
    feedback: Option<Cow<'a, [u8]>>,
    /// The original message (a `message/rfc822` part) or its headers (`text/rfc822-headers`).
    original: Option<Message<'a>>,
}

impl<'a> Report<'a> {
    fn of(message: &'a Message<'a>) -> Report<'a> {
        let mut report = Report { delivery_status: None, feedback: None, original: None };
        for part in message.parts.iter().skip(1) {
            let Some(content_type) = part.content_type() else { continue };
            let kind = (content_type.ctype().to_ascii_lowercase(), content_type.subtype().map(str::to_ascii_lowercase));
            match (kind.0.as_str(), kind.1.as_deref()) {
                ("message", Some("delivery-status" | "global-delivery-status")) if report.delivery_status.is_none() => {
                    report.delivery_status = Some(Cow::Borrowed(part.contents()));
                }
                ("message", Some("feedback-report")) if report.feedback.is_none() => {
                    report.feedback = Some(Cow::Borrowed(part.contents()));
                }
                ("message", Some("rfc822" | "global")) | ("text", Some("rfc822-headers"))
                    if report.original.is_none() =>
                {
                    report.original = match &part.body {
                        PartType::Message(original) => Some(original.clone()),
                        _ => MessageParser::default().parse_headers(part.contents()),
                    };
                }
                _ => {}
            }
        }
        report
    }
}

/// Field groups of a DSN or feedback report: blocks of header fields
/// separated by blank lines (RFC 3464 §2.1), each read by mail-parser as a header block.
fn field_groups(fields: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(fields).replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let block = format!("{}\n\n", block.trim_start_matches('\n'));
            let parsed = MessageParser::default().parse_headers(block.as_bytes())?;
            let fields: Vec<(String, String)> =
                parsed.headers_raw().map(|(name, value)| (name.to_ascii_lowercase(), one_line(value))).collect();
            Some(fields)
        })
        .collect()
}

fn field<'f>(group: &'f [(String, String)], name: &str) -> Option<&'f str> {
    group.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str()).filter(|v| !v.is_empty())
}

/// The address of a `type; address` field (`rfc822; ada@example.org`).
fn typed_address(value: &str) -> Option<String> {
    let address = value.split_once(';').map_or(value, |(_, address)| address).trim();
    let address = address.trim_matches(['<', '>']).trim();
    address.contains('@').then(|| address.to_ascii_lowercase())
}

fn dsn(fields: &[u8], message: &Message, mut clues: Clues) -> Classification {
    let groups = field_groups(fields);
    // The first group is about the message; the others, one per recipient.
    let recipients: Vec<&Vec<(String, String)>> = groups
        .iter()
        .filter(|group| field(group, "final-recipient").is_some() || field(group, "action").is_some())
        .collect();
    let action = |group: &[(String, String)]| field(group, "action").unwrap_or_default().to_ascii_lowercase();
    let chosen = recipients
        .iter()
        .find(|group| action(group) == "failed")
        .or_else(|| recipients.iter().find(|group| action(group) == "delayed"))
        .or_else(|| recipients.first());
    let Some(group) = chosen else {
        return plain_bounce_status(message, clues, "a delivery-status part without a recipient");
    };
    for name in ["final-recipient", "original-recipient"] {
        if let Some(address) = field(group, name).and_then(typed_address) {
            clues.addresses.push(address);
        }
    }
    let diagnostic = field(group, "diagnostic-code").map(|d| d.split_once(';').map_or(d, |(_, text)| text).trim());
    let status = field(group, "status").and_then(enhanced_status).or_else(|| diagnostic.and_then(status_in_text));
    let detail = diagnostic.unwrap_or_default().to_string();
    match action(group).as_str() {
        "delayed" => {
            Classification::new(InboundClass::Ignored, status, "a delay warning: the relay is still trying", clues)
        }
        "delivered" | "relayed" | "expanded" => Classification::new(
            InboundClass::Ignored,
            status,
            format!("a notice that the message was {}", action(group)),
            clues,
        ),
        _ => {
            let status = status.unwrap_or_else(|| "4.0.0".to_string());
            let class = if status.starts_with('5') { InboundClass::HardBounce } else { InboundClass::SoftBounce };
            Classification::new(class, Some(status), detail, clues)
        }
    }
}

fn complaint(fields: &[u8], message: &Message, mut clues: Clues) -> Classification {
    let groups = field_groups(fields);
    let all: Vec<(String, String)> = groups.into_iter().flatten().collect();
    for name in ["original-rcpt-to", "removal-recipient"] {
        if let Some(address) = field(&all, name).and_then(typed_address) {
            clues.addresses.push(address);
        }
    }
    let feedback_type = field(&all, "feedback-type").unwrap_or("abuse").to_ascii_lowercase();
    let reporter = field(&all, "user-agent")
        .or_else(|| message.from().and_then(|from| from.first()?.address.as_deref()))
        .unwrap_or("a mailbox provider");
    let detail = format!("feedback-type {feedback_type} from {reporter}");
    if feedback_type == "not-spam" {
        return Classification::new(InboundClass::Ignored, None, detail, clues);
    }
    Classification::new(InboundClass::Complaint, None, detail, clues)
}

/// Mail from a mailer daemon, with `X-Failed-Recipients`, or with a
/// bounce's subject, that has no delivery-status part.
fn is_bounce_without_dsn(message: &Message) -> bool {
    static SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)undeliver|delivery status notification|returned mail|failure notice|mail delivery fail|delivery failure|could not be delivered|delivery has failed|non.?delivery",
        )
        .expect("a valid pattern")
    });
    let from_daemon = message
        .from()
        .and_then(|from| from.first()?.address.as_deref())
        .and_then(|address| address.split('@').next())
        .is_some_and(|local| {
            let local = local.to_ascii_lowercase();
            matches!(local.as_str(), "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon" | "mdaemon")
        });
    from_daemon
        || message.header_raw("X-Failed-Recipients").is_some()
        || (SUBJECT.is_match(message.subject().unwrap_or_default()) && auto_reply(message).is_none_or(|_| from_daemon))
}

fn plain_bounce(settings: &Settings, message: &Message, mut clues: Clues) -> Classification {
    if let Some(failed) = message.header_raw("X-Failed-Recipients") {
        clues.addresses.extend(failed.split(',').filter_map(typed_address));
    }
    // The quoted original: tokens and Message-IDs anywhere in the text.
    let text = searchable_text(message);
    text_clues(settings.return_path_pattern.as_ref(), &text, &mut clues);
    plain_bounce_status(message, clues, "")
}

fn plain_bounce_status(message: &Message, clues: Clues, detail: &str) -> Classification {
    let text = human_text(message);
    let status = status_in_text(&text).unwrap_or_else(|| match text.to_ascii_lowercase().contains("permanent") {
        true => "5.0.0".to_string(),
        false => "4.0.0".to_string(),
    });
    let class = if status.starts_with('5') { InboundClass::HardBounce } else { InboundClass::SoftBounce };
    let detail = if detail.is_empty() { diagnostic_line(&text, &status) } else { detail.to_string() };
    Classification::new(class, Some(status), detail, clues)
}

/// Why a message is an auto-reply (RFC 3834 and the headers vacation
/// programs and Exchange write), if it is one.
fn auto_reply(message: &Message) -> Option<String> {
    static SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(automatic reply|auto:|autoreply|auto-reply|auto reply|out of (the )?office|away from|on vacation|abwesenheit|réponse automatique|respuesta automática)")
            .expect("a valid pattern")
    });
    let header = |name: &str| message.header_raw(name).map(|value| value.trim().to_ascii_lowercase());
    if let Some(value) = header("Auto-Submitted").filter(|value| !value.starts_with("no")) {
        return Some(format!("an auto-reply (Auto-Submitted: {value})"));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if header(name).is_some() {
            return Some(format!("an auto-reply ({name})"));
        }
    }
    if header("Precedence").or_else(|| header("X-Precedence")).is_some_and(|p| p == "auto_reply") {
        return Some("an auto-reply (Precedence: auto_reply)".into());
    }
    let subject = message.subject().unwrap_or_default();
    SUBJECT.is_match(subject).then(|| format!("an auto-reply (subject `{}`)", one_line(subject)))
}

fn mailto_unsubscribe(settings: &Settings, message: &Message, mut clues: Clues) -> Classification {
    static TOKEN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,19}-[0-9a-f]{32})\b").expect("a valid pattern"));
    let subject = message.subject().unwrap_or_default();
    for capture in TOKEN.captures_iter(subject) {
        push_new(&mut clues.unsubscribe_tokens, capture[1].to_ascii_lowercase());
    }
    // Without a token, the sender: its From (what DMARC and DKIM alignment are about).
    let from = message.from().and_then(|from| from.first()?.address.as_deref()).map(str::to_ascii_lowercase);
    let from_authenticated = Some(match (&from, &settings.authserv_id) {
        (None, _) => Err("it has no From address".to_string()),
        (Some(_), None) => Err("inbound.authserv_id is not set, so no From is taken as authenticated".to_string()),
        (Some(from), Some(authserv_id)) => {
            let results = super::authentication::trusted_results(message.headers_raw(), authserv_id);
            super::authentication::authenticates(&results, from).ok_or_else(|| {
                format!(
                    "its From is not authenticated (no Authentication-Results of {authserv_id} with dmarc=pass or an aligned dkim=pass)"
                )
            })
        }
    });
    clues.addresses.extend(from);
    let mut classification = Classification::new(
        InboundClass::Unsubscribe,
        None,
        format!("mail to the unsubscribe address (subject `{subject}`)"),
        clues,
    );
    classification.from_authenticated = from_authenticated;
    classification
}

/// The addresses a message was delivered to: the envelope recipient the MTA
/// recorded, and To and Cc.
fn recipients(message: &Message) -> Vec<String> {
    let mut addresses = Vec::new();
    for name in ["Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Rcpt-To"] {
        for value in message.header_values(name) {
            if let Some(text) = value.as_text() {
                addresses.extend(text.split(',').filter_map(typed_address));
            }
        }
    }
    for list in message.all_to().chain(message.all_cc()) {
        addresses.extend(list.iter().filter_map(|addr| addr.address.as_deref()).map(str::to_ascii_lowercase));
    }
    addresses
}

/// The token of an address of `delivery.return_path`'s form.
fn return_path_token(settings: &Settings, address: &str) -> Option<String> {
    let (prefix, suffix) = settings.return_path.as_ref()?;
    let token = address.strip_prefix(prefix.as_str())?.strip_suffix(suffix.as_str())?;
    (!token.is_empty() && token.len() <= 64).then(|| token.to_string())
}

/// Clues in the original message's headers.
fn original_clues(settings: &Settings, original: &Message, clues: &mut Clues) {
    if let Some(address) = original.return_address() {
        clues.return_path_tokens.extend(return_path_token(settings, &address.to_ascii_lowercase()));
    }
    if let Some(unsubscribe) = original.header_raw("List-Unsubscribe") {
        text_clues(None, unsubscribe, clues);
    }
    if let Some(id) = original.message_id() {
        clues.message_ids.push(id.to_string());
    }
    for list in original.all_to() {
        clues.addresses.extend(list.iter().filter_map(|addr| addr.address.as_deref()).map(str::to_ascii_lowercase));
    }
}

/// Tokens and digest Message-IDs anywhere in `text` (a quoted original).
fn text_clues(return_path: Option<&Regex>, text: &str, clues: &mut Clues) {
    static UNSUBSCRIBE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)unsubscribe(?:/|%20|\s)(\d{1,19}-[0-9a-f]{32})\b").expect("a valid pattern"));
    static MESSAGE_ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"<(digest-\d{4}-\d{2}\.[0-9a-f]{32}@[^>\s]+)>").expect("a valid pattern"));
    for capture in UNSUBSCRIBE.captures_iter(text) {
        push_new(&mut clues.unsubscribe_tokens, capture[1].to_ascii_lowercase());
    }
    for capture in MESSAGE_ID.captures_iter(text) {
        push_new(&mut clues.message_ids, capture[1].to_string());
    }
    if let Some(verp) = return_path {
        for capture in verp.captures_iter(text) {
            push_new(&mut clues.return_path_tokens, capture[1].to_ascii_lowercase());
        }
    }
}

fn push_new(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Every part's decoded text, and the headers of any attached message.
fn searchable_text(message: &Message) -> String {
    let mut text = String::new();
    for part in &message.parts {
        match &part.body {
            PartType::Text(body) | PartType::Html(body) => text.push_str(body),
            PartType::Message(original) => text.push_str(&String::from_utf8_lossy(original.raw_message())),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => text.push_str(&String::from_utf8_lossy(bytes)),
            PartType::Multipart(_) => {}
        }
        text.push('\n');
    }
    text
}

/// The text a person would read: the text parts, else the HTML ones.
fn human_text(message: &Message) -> String {
    let texts: Vec<_> = (0..message.text_body_count()).filter_map(|index| message.body_text(index)).collect();
    texts.join("\n")
}

/// An RFC 3463 status (`5.1.1`) at the start of a Status field.
fn enhanced_status(value: &str) -> Option<String> {
    static STATUS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b").expect("a valid pattern"));
    STATUS.captures(value).map(|c| c[1].to_string())
}

/// The first SMTP status in a diagnostic or a bounce's text: an enhanced
/// code (`550 5.1.1`, `#5.1.1`), else a basic one (`554`) as `5.0.0`.
fn status_in_text(text: &str) -> Option<String> {
    static ENHANCED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:^|[\s#(:;<\[-])([45]\.\d{1,3}\.\d{1,3})\b").expect("a valid pattern"));
    static BASIC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)(?:^|[\s:;(<])([45])\d\d(?:[\s:;-]|$)").expect("a valid pattern"));
    if let Some(capture) = ENHANCED.captures(text) {
        return Some(capture[1].to_string());
    }
    BASIC.captures(text).map(|capture| format!("{}.0.0", &capture[1]))
}

/// The line of a bounce's text that carries its status, for the record.
fn diagnostic_line(text: &str, status: &str) -> String {
    let code = status.split('.').next().unwrap_or_default();
    text.lines()
        .map(str::trim)
        .find(|line| {
            line.contains(status)
                || line.split(|c: char| !c.is_ascii_digit()).any(|n| n.len() == 3 && n.starts_with(code))
        })
        .unwrap_or_default()
        .to_string()
}

/// Text on one line, at most 300 characters (what a report and an event keep).
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    /// The input the fuzz target found: mail-parser's debug assertion fires
    /// on it (in this debug build), and the message is unrecognised, not a crash.
    #[test]
    fn mail_that_trips_mail_parsers_debug_assertion_is_unrecognised() {
        let raw = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/inbound/mail-parser-debug-assert.eml"),
        )
        .unwrap();
        let classification = super::classify(&super::Settings::default(), &raw);
        assert!(classification.class.is_err(), "{classification:?}");
    }
}
