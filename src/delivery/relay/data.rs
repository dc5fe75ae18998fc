//! The message itself, after DATA: written in one piece where newsroom can
//! tell when it was handed over, and that moment, which decides between
//! resending and not (see the [`super`] module's doc).
//!
//! On a socket newsroom opened (plain and STARTTLS) the message goes out
//! dot-stuffed by [`dot_stuffed`] in one write through lettre's `command`,
//! and the socket's flush count ([`Flushes`]) moves on once every byte, the
//! final `.` included, is with the kernel. lettre's own data phase
//! (`message_iter`) dot-stuffs a byte at a time, which was a quarter of
//! `send`'s CPU; it still carries messages over `smtps://`, whose socket
//! lettre opens, and messages that are not UTF-8, and [`BodyChunks`] then
//! tells when lettre has taken the whole message. Both ways put the same
//! bytes on the wire, which the tests check against lettre's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::response::Response;

use super::connect::Flushes;

/// lettre's reply to the message's final `.`, or its error; `Err` when the
/// step's timeout ran out first.
pub(super) type MessageReply = Result<Result<Response, lettre::transport::smtp::Error>, tokio::time::error::Elapsed>;

/// Writes the message (DATA accepted) and waits up to `timeout` for the
/// reply to its final `.`. Returns that reply and whether the message was
/// handed over whole before it came or the attempt failed: a failure after
/// that is ambiguous, one before it transient. `flushes` is the socket's,
/// when newsroom opened it.
pub(super) async fn write_message(
    smtp: &mut AsyncSmtpConnection,
    flushes: Option<&Arc<Flushes>>,
    message: Vec<u8>,
    timeout: Duration,
) -> (MessageReply, bool) {
    // Text on a socket newsroom opened goes out in one write; anything else
    // through lettre's data phase.
    let ours = match flushes {
        Some(flushes) => String::from_utf8(message).map(|text| (flushes, text)).map_err(|e| e.into_bytes()),
        None => Err(message),
    };
    match ours {
        Ok((flushes, text)) => {
            // A `&str` command, which lettre copies once; the flush that
            // follows its write is the moment it was handed over.
            let data = dot_stuffed(text);
            let before = flushes.count.load(Ordering::SeqCst);
            flushes.message_pending.store(true, Ordering::SeqCst);
            let result = tokio::time::timeout(timeout, smtp.command(data.as_str())).await;
            flushes.message_pending.store(false, Ordering::SeqCst);
            (result, flushes.count.load(Ordering::SeqCst) != before)
        }
        Err(message) => {
            // The flag turns true when lettre has taken the whole message;
            // what it writes next is the final `.`.
            let taken = Arc::new(AtomicBool::new(false));
            let body = BodyChunks { bytes: without_final_line_end(&message), done: false, handed_over: taken.clone() };
            let result = tokio::time::timeout(timeout, smtp.message_iter(body)).await;
            (result, taken.load(Ordering::SeqCst))
        }
    }
}

/// A message as the DATA phase carries it (RFC 5321 4.5.2): a `.` that
/// starts a line gets another in front of it, and the final `.` line ends
/// it. A message whose last line is ended (every message lettre formats)
/// is carried as it is, so the relay receives exactly its bytes, the
/// `.eml` a preview writes; one whose last line is not gets its CRLF.
/// The same bytes as lettre's own data phase given the message without
/// its final CRLF ([`without_final_line_end`]): lettre always adds one,
/// so it would send every message with an empty line at its end.
fn dot_stuffed(mut text: String) -> String {
    let end = if text.ends_with("\r\n") { ".\r\n" } else { "\r\n.\r\n" };
    let lines_with_dots: Vec<usize> = memchr::memmem::find_iter(text.as_bytes(), b"\r\n.").collect();
    if lines_with_dots.is_empty() && !text.starts_with('.') {
        // The common case: no copy, only the final line.
        text.push_str(end);
        return text;
    }
    let mut stuffed = String::with_capacity(text.len() + lines_with_dots.len() + 6);
    if text.starts_with('.') {
        stuffed.push('.');
    }
    let mut copied = 0;
    for at in lines_with_dots {
        // Up to and including the line's `.`, then the one that escapes it.
        stuffed.push_str(&text[copied..at + 3]);
        stuffed.push('.');
        copied = at + 3;
    }
    stuffed.push_str(&text[copied..]);
    stuffed.push_str(end);
    stuffed
}

/// `message` without the CRLF that ends its last line, which lettre's
/// data phase writes itself before the final `.`.
fn without_final_line_end(message: &[u8]) -> &[u8] {
    message.strip_suffix(b"\r\n").unwrap_or(message)
}

/// The message in one chunk, flagging when lettre has taken it all.
struct BodyChunks<'a> {
    bytes: &'a [u8],
    done: bool,
    handed_over: Arc<AtomicBool>,
}

impl<'a> Iterator for BodyChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            self.handed_over.store(true, Ordering::SeqCst);
            return None;
        }
        self.done = true;
        Some(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use lettre::transport::smtp::commands::Data;
    use proptest::prelude::*;

    use super::*;
    use crate::delivery::relay::testing::{
        ACCEPT, AfterData, Script, envelope, long_message, scripted_relay, transmit_to, transmit_to_within,
    };
    use crate::delivery::relay::{Connection, Outcome, STEP_TIMEOUT, transmit};

    /// The data bytes lettre's own data phase writes for `message`, and the
    /// ones `transmit` writes (with and without pipelining).
    fn both_data_phases(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (stream, relay) = scripted_relay(ACCEPT);
            let mut lettre = Connection::over(stream).await;
            lettre.smtp.command(Data).await.unwrap();
            lettre.smtp.message(without_final_line_end(message)).await.unwrap();
            drop(lettre);
            let lettres = relay.await.unwrap().data;

            let mut ours = Vec::new();
            for pipelining in [false, true] {
                let (stream, relay) = scripted_relay(Script { pipelining, smtputf8: true, ..ACCEPT });
                let mut connection = Connection::over(stream).await;
                let (outcome, usable) = transmit(&mut connection, &envelope(), message.to_vec(), STEP_TIMEOUT).await;
                assert_eq!((outcome, usable), (Outcome::Sent("250 queued".into()), true));
                drop(connection);
                ours.push(relay.await.unwrap().data);
            }
            assert_eq!(ours[0], ours[1], "with and without pipelining");
            (lettres, ours.remove(0))
        })
    }

    #[test]
    fn the_message_goes_out_as_lettres_data_phase_writes_it() {
        for message in
            ["", ".", "..\r\n", "a\r\n.b\r\n..c\r\n.\r\n", "a\n.b\r.c\r\r\n.d", "Subject: x\r\n\r\n.\r\n.\r\n\r\n."]
        {
            let (lettres, ours) = both_data_phases(message.as_bytes());
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&lettres), "{message:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Text goes out in one write, bytes that are not UTF-8 through
        /// lettre's data phase: the relay reads the same either way.
        #[test]
        fn any_message_goes_out_as_lettres_data_phase_writes_it(text in "[a.\r\n é]{0,300}", not_utf8: bool) {
            let mut message = text.into_bytes();
            if not_utf8 {
                message.insert(message.len() / 2, 0xff);
            }
            let (lettres, ours) = both_data_phases(&message);
            prop_assert_eq!(ours, lettres);
        }
    }

    /// The moment that decides between resending and not: a relay that
    /// read the final `.` may have the message; one that hung up before it
    /// cannot. Over STARTTLS too, where tokio-rustls flushes the socket only
    /// after the message's last record.
    #[test]
    fn a_connection_lost_after_the_final_dot_is_ambiguous_and_before_it_transient() {
        let message = long_message();
        for (starttls, pipelining) in [(false, false), (false, true), (true, false), (true, true)] {
            let script = |after_data| Script { starttls, pipelining, after_data, ..ACCEPT };
            assert!(matches!(transmit_to(script(AfterData::CloseAfterDot), &message).0, Outcome::Ambiguous(_)));
            assert!(matches!(
                transmit_to(script(AfterData::CloseWithin(10_000)), &message).0,
                Outcome::Transient { .. }
            ));
            assert!(matches!(transmit_to(script(AfterData::Accept), &message).0, Outcome::Sent(_)));
        }
    }

    /// The same moment when the relay goes silent instead of hanging up: a
    /// step that times out while the message is still being written is
    /// transient; one that times out waiting for the reply to the final `.`
    /// is ambiguous. In clear text, and over STARTTLS with pipelining.
    #[test]
    fn a_relay_silent_before_the_final_dot_is_transient_and_after_it_ambiguous() {
        let message = long_message();
        let timeout = Duration::from_millis(500);
        for (starttls, pipelining) in [(false, false), (true, true)] {
            let script = |after_data| Script { starttls, pipelining, after_data, ..ACCEPT };
            let (outcome, usable, seen) = transmit_to_within(script(AfterData::StallWithin(10_000)), &message, timeout);
            assert!(matches!(&outcome, Outcome::Transient { reply, .. } if reply.contains("timed out")), "{outcome:?}");
            assert!(!usable && seen.data.len() == 10_000);
            let (outcome, usable, seen) = transmit_to_within(script(AfterData::StallAfterDot), &message, timeout);
            assert!(matches!(&outcome, Outcome::Ambiguous(why) if why.contains("timeout")), "{outcome:?}");
            assert!(!usable && seen.data.ends_with(b"\r\n.\r\n"));
        }
    }
}
