//! One SMTP transaction: MAIL, RCPT and DATA, pipelined to a relay that
//! offers it, the relay's replies read into what the attempt came to
//! ([`Outcome`]), and whether the connection can carry the next message.
//!
//! The dialogue is driven command by command so the one moment that
//! matters is known (the data phase, [`super::data`], tells when the
//! message was handed over). Refusals are sorted here: 4xx and 500–504
//! about the conversation are transient (the latter on a fresh
//! connection), any other 5xx permanent, and RSET ends a refused
//! transaction so the connection goes on.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};

use super::connect::Connection;
use super::data;

/// Why one SMTP step failed: a reply or connection error from lettre, or no answer in time.
enum StepError {
    Smtp(lettre::transport::smtp::Error),
    Timeout,
}

impl StepError {
    /// A 4xx or 5xx reply, as opposed to a lost connection or no answer.
    fn is_reply(&self) -> bool {
        matches!(self, StepError::Smtp(e) if e.is_transient() || e.is_permanent())
    }
    fn is_permanent(&self) -> bool {
        matches!(self, StepError::Smtp(e) if e.is_permanent())
    }
    /// 500–504: the conversation went wrong (syntax, order), unless the
    /// reply's enhanced status (RFC 3463) is `5.1.x`, an addressing
    /// problem: Postfix answers a malformed recipient with
    /// `501 5.1.3 Bad recipient address syntax`, which is about that
    /// address alone.
    fn is_protocol_error(&self) -> bool {
        let StepError::Smtp(e) = self else { return false };
        let syntax_or_order =
            e.status().is_some_and(|code| matches!(code.to_string().as_str(), "500" | "501" | "502" | "503" | "504"));
        // lettre keeps the reply's text as the error's source.
        let about_an_address = std::error::Error::source(e).is_some_and(|text| text.to_string().starts_with("5.1."));
        syntax_or_order && !about_an_address
    }
    fn is_throttle(&self) -> bool {
        matches!(self, StepError::Smtp(e) if is_throttle(e))
    }
    /// The relay's reply as it gave it (`500 5.5.2 Syntax error`), not
    /// lettre's reading of it ("permanent error (500): …"), which a status
    /// report would list as permanent under transient failures; other
    /// errors in lettre's words.
    fn text(&self) -> String {
        match self {
            StepError::Smtp(e) => match (e.status(), std::error::Error::source(e)) {
                (Some(code), Some(reply)) if self.is_reply() => format!("{code} {reply}"),
                _ => e.to_string(),
            },
            StepError::Timeout => "the relay did not answer in time".into(),
        }
    }
}

/// What one attempt to hand over a message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay accepted it (its reply).
    Sent(String),
    /// Try again later: a 4xx reply, or a connection lost before the final `.`.
    /// `throttle` is set for replies that ask the sender to slow down (421, 451, 454).
    Transient { reply: String, throttle: bool },
    /// A 5xx reply: never retried without `--retry-failed`.
    Permanent(String),
    /// The connection was lost after the final `.` and before the reply.
    Ambiguous(String),
}

/// Hands one message to the relay over `connection`, giving each step
/// `timeout`. Returns the outcome and whether the connection can carry the
/// next message.
pub async fn transmit(
    connection: &mut Connection,
    envelope: &Envelope,
    message: Vec<u8>,
    timeout: Duration,
) -> (Outcome, bool) {
    match open(connection, envelope, &message, timeout).await {
        Ok(()) => hand_over(connection, message, timeout).await,
        Err(refused) => refused,
    }
}

/// The first half of [`transmit`]: MAIL, each RCPT and DATA, up to the
/// relay's go-ahead for the message. Nothing is delivered until
/// [`hand_over`] sends the message and its final `.`: a connection closed
/// in between ends the transaction with nothing delivered (RFC 5321,
/// 3.8), which is how a caller that may not send after all backs out
/// (drop the connection). `Err` holds the outcome when the relay did not
/// take the envelope, and whether the connection goes on.
pub async fn open(
    connection: &mut Connection,
    envelope: &Envelope,
    message: &[u8],
    timeout: Duration,
) -> Result<(), (Outcome, bool)> {
    let smtp = &mut connection.smtp;
    let parameters = match mail_parameters(smtp.server_info(), envelope, message) {
        Ok(parameters) => parameters,
        // Nothing was sent; the connection carries the next message.
        Err(missing) => return Err((Outcome::Permanent(missing), true)),
    };
    if connection.pipelining {
        send_envelope_pipelined(smtp, envelope, parameters, timeout).await
    } else {
        send_envelope(smtp, envelope, parameters, timeout).await
    }
}

/// The second half of [`transmit`], after [`open`]: the message, its final
/// `.` and the relay's reply.
pub async fn hand_over(connection: &mut Connection, message: Vec<u8>, timeout: Duration) -> (Outcome, bool) {
    let smtp = &mut connection.smtp;
    let (result, handed_over) = data::write_message(smtp, connection.flushes.as_ref(), message, timeout).await;
    match result {
        Ok(Ok(response)) => (Outcome::Sent(reply_text(&response)), true),
        // A reply to the message: the relay heard all of it and said no.
        Ok(Err(error)) if error.is_transient() || error.is_permanent() => {
            after_refusal(smtp, StepError::Smtp(error), timeout).await
        }
        Ok(Err(error)) if handed_over => (Outcome::Ambiguous(error.to_string()), false),
        Ok(Err(error)) => (Outcome::Transient { reply: error.to_string(), throttle: false }, false),
        Err(_) if handed_over => (Outcome::Ambiguous("no reply after the final `.` (timeout)".into()), false),
        Err(_) => (Outcome::Transient { reply: "timed out sending the message".into(), throttle: false }, false),
    }
}

/// The MAIL parameters a message needs, as lettre's own `send` chooses
/// them: SMTPUTF8 for an internationalised address (RFC 6531), BODY=8BITMIME
/// for bytes that are not ASCII (RFC 6152). `Err` names the extension the
/// relay lacks: such a message cannot be handed to it.
fn mail_parameters(
    relay: &lettre::transport::smtp::extension::ServerInfo,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Vec<MailParameter>, String> {
    let mut parameters = Vec::new();
    if envelope.from().into_iter().chain(envelope.to()).any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
        if !relay.supports_feature(Extension::SmtpUtfEight) {
            return Err("the relay does not offer SMTPUTF8, which an internationalised address needs".into());
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !relay.supports_feature(Extension::EightBitMime) {
            return Err("the relay does not offer 8BITMIME, which this message needs".into());
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// MAIL, each RCPT and DATA, each answered before the next is sent. `Err`
/// holds the outcome when the relay did not take them all.
async fn send_envelope(
    smtp: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    parameters: Vec<MailParameter>,
    timeout: Duration,
) -> Result<(), (Outcome, bool)> {
    if let Err(error) = step(timeout, smtp.command(Mail::new(envelope.from().cloned(), parameters))).await {
        return Err(before_data(smtp, error, timeout).await);
    }
    for recipient in envelope.to() {
        if let Err(error) = step(timeout, smtp.command(Rcpt::new(recipient.clone(), vec![]))).await {
            return Err(before_data(smtp, error, timeout).await);
        }
    }
    if let Err(error) = step(timeout, smtp.command(Data)).await {
        return Err(before_data(smtp, error, timeout).await);
    }
    Ok(())
}

/// MAIL, each RCPT and DATA in one write, then their replies in order
/// (RFC 2920). Every reply is read, so the next transaction starts in step,
/// and the first refusal decides the outcome. A relay that accepts DATA
/// after refusing what came before it is sent a lone `.` (an empty message
/// for no recipient), as the RFC asks.
async fn send_envelope_pipelined(
    smtp: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    parameters: Vec<MailParameter>,
    timeout: Duration,
) -> Result<(), (Outcome, bool)> {
    let mut commands = Mail::new(envelope.from().cloned(), parameters).to_string();
    for recipient in envelope.to() {
        commands.push_str(&Rcpt::new(recipient.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());
    let mut refusal: Option<StepError> = None;
    let mut data_accepted = false;
    // One reply for MAIL (read with the write), one per RCPT, one for DATA.
    for index in 0..envelope.to().len() + 2 {
        let reply = if index == 0 {
            step(timeout, smtp.command(commands.as_str())).await
        } else {
            step(timeout, smtp.read_response()).await
        };
        data_accepted = reply.is_ok();
        match reply {
            Ok(_) => {}
            Err(error) if error.is_reply() => refusal = refusal.or(Some(error)),
            // Lost or silent: no more replies will come.
            Err(error) => return Err(lost(refusal.unwrap_or(error))),
        }
    }
    let Some(refusal) = refusal else { return Ok(()) };
    if data_accepted {
        match step(timeout, smtp.command(".\r\n")).await {
            Err(error) if !error.is_reply() => return Err(lost(refusal)),
            _ => {}
        }
    }
    Err(before_data(smtp, refusal, timeout).await)
}

async fn step<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, StepError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result.map_err(StepError::Smtp),
        Err(_) => Err(StepError::Timeout),
    }
}

/// A failure before the message content was sent: nothing was delivered.
async fn before_data(connection: &mut AsyncSmtpConnection, error: StepError, timeout: Duration) -> (Outcome, bool) {
    if error.is_reply() { after_refusal(connection, error, timeout).await } else { lost(error) }
}

/// The outcome when the connection cannot go on: a refusal heard before it
/// was lost counts as that refusal; otherwise nothing was handed over.
fn lost(error: StepError) -> (Outcome, bool) {
    let outcome = if error.is_reply() {
        refusal_outcome(&error)
    } else {
        Outcome::Transient { reply: error.text(), throttle: false }
    };
    (outcome, false)
}

/// How a 4xx/5xx reply is recorded. 500–504 say the conversation went
/// wrong (syntax, order), not that the recipient is bad: they are
/// transient, to be retried on a fresh connection; one that names an
/// address problem (`501 5.1.3`) is permanent, like any other 5xx.
fn refusal_outcome(error: &StepError) -> Outcome {
    if error.is_permanent() && !error.is_protocol_error() {
        Outcome::Permanent(error.text())
    } else {
        Outcome::Transient { reply: error.text(), throttle: error.is_throttle() }
    }
}

/// A 4xx/5xx reply. After 500–504 the connection is dropped. Otherwise RSET
/// ends the transaction so the connection can carry the next message (some
/// servers keep state after a refusal); if RSET fails, the connection is
/// dropped.
async fn after_refusal(connection: &mut AsyncSmtpConnection, error: StepError, timeout: Duration) -> (Outcome, bool) {
    let outcome = refusal_outcome(&error);
    if error.is_protocol_error() {
        return (outcome, false);
    }
    let usable = step(timeout, connection.command(Rset)).await.is_ok();
    (outcome, usable)
}

fn is_throttle(error: &lettre::transport::smtp::Error) -> bool {
    error.status().is_some_and(|code| matches!(code.to_string().as_str(), "421" | "451" | "454"))
}

fn reply_text(response: &lettre::transport::smtp::response::Response) -> String {
    let lines: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), lines.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::relay::STEP_TIMEOUT;
    use crate::delivery::relay::testing::{ACCEPT, Script, scripted_relay, transmit_to};

    /// A relay that lists PIPELINING gets MAIL, RCPT and DATA in one write;
    /// one that does not gets each after the reply to the one before.
    #[test]
    fn commands_are_pipelined_only_to_a_relay_that_offers_it() {
        for pipelining in [false, true] {
            let (outcome, usable, seen) = transmit_to(Script { pipelining, ..ACCEPT }, "Subject: x\r\n\r\nHi\r\n");
            assert!(matches!(outcome, Outcome::Sent(_)) && usable);
            assert_eq!(seen.pipelined, pipelining, "{:?}", seen.commands);
            assert_eq!(
                seen.commands[2..],
                ["MAIL FROM:<news@example.org>", "RCPT TO:<ada@example.org>", "DATA"],
                "after lettre's EHLO and newsroom's"
            );
        }
    }

    /// An internationalised address goes out with SMTPUTF8 to a relay that
    /// offers it; to one that does not, nothing is sent and it fails alone.
    #[test]
    fn an_internationalised_address_needs_a_relay_that_offers_smtputf8() {
        let envelope =
            Envelope::new(Some("news@example.org".parse().unwrap()), vec!["ü@bücher.example".parse().unwrap()])
                .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for smtputf8 in [true, false] {
            let (outcome, usable, seen) = runtime.block_on(async {
                let (stream, relay) = scripted_relay(Script { smtputf8, pipelining: true, ..ACCEPT });
                let mut connection = Connection::over(stream).await;
                let message = "To: ü@bücher.example\r\n\r\nHi\r\n".as_bytes().to_vec();
                let (outcome, usable) = transmit(&mut connection, &envelope, message, STEP_TIMEOUT).await;
                drop(connection);
                (outcome, usable, relay.await.unwrap())
            });
            let mail = seen.commands.iter().find(|c| c.starts_with("MAIL"));
            if smtputf8 {
                assert!(matches!(outcome, Outcome::Sent(_)), "{outcome:?}");
                assert_eq!(mail.map(String::as_str), Some("MAIL FROM:<news@example.org> SMTPUTF8 BODY=8BITMIME"));
            } else {
                assert!(matches!(&outcome, Outcome::Permanent(why) if why.contains("SMTPUTF8")), "{outcome:?}");
                assert!(usable && mail.is_none(), "{:?}", seen.commands);
            }
        }
    }

    /// Every reply of a pipelined group is read and the first refusal
    /// decides; DATA accepted after a refused RCPT gets a lone `.`; the
    /// connection goes on after RSET.
    #[test]
    fn a_refusal_in_a_pipelined_group_decides_and_the_connection_goes_on() {
        let message = "Subject: x\r\n\r\nHi\r\n";
        for data in ["554 no valid recipients", "354 go on"] {
            let script = Script { pipelining: true, rcpt: "550 5.1.1 no such mailbox", data, ..ACCEPT };
            let (outcome, usable, seen) = transmit_to(script, message);
            assert!(matches!(&outcome, Outcome::Permanent(reply) if reply.contains("550")), "{outcome:?}");
            assert!(usable, "RSET after the refusal");
            let lone_dot = seen.commands.iter().any(|c| c == ".");
            assert_eq!(lone_dot, data.starts_with("354"), "{:?}", seen.commands);
            assert_eq!(seen.commands.last().map(String::as_str), Some("RSET"));
            assert!(seen.data.is_empty());
        }
        let throttled = Script { pipelining: true, rcpt: "451 4.7.1 slow down", data: "554 no", ..ACCEPT };
        assert!(matches!(transmit_to(throttled, message).0, Outcome::Transient { throttle: true, .. }));
    }

    /// A bad address fails alone: Postfix's `501 5.1.3` to RCPT is about
    /// that address (permanent, the connection goes on after RSET), while
    /// a 501 about the command's syntax drops the connection and is
    /// retried on a fresh one.
    #[test]
    fn a_malformed_recipient_fails_alone_and_a_syntax_error_is_retried() {
        let message = "Subject: x\r\n\r\nHi\r\n";
        for pipelining in [false, true] {
            let bad_address = Script {
                pipelining,
                rcpt: "501 5.1.3 Bad recipient address syntax",
                data: "554 5.5.1 Error: no valid recipients",
                ..ACCEPT
            };
            let (outcome, usable, seen) = transmit_to(bad_address, message);
            assert!(matches!(&outcome, Outcome::Permanent(reply) if reply.contains("5.1.3")), "{outcome:?}");
            assert!(usable, "RSET after the refusal: {:?}", seen.commands);
            assert_eq!(seen.commands.last().map(String::as_str), Some("RSET"));

            let bad_syntax = Script { rcpt: "501 5.5.4 Syntax error in parameters", ..bad_address };
            let (outcome, usable, _) = transmit_to(bad_syntax, message);
            assert!(matches!(&outcome, Outcome::Transient { reply, .. } if reply.contains("5.5.4")), "{outcome:?}");
            assert!(!usable, "a fresh connection after a protocol error");
        }
    }
}
