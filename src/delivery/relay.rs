//! The SMTP relay: its URL, connections to it, and what one attempt to hand
//! it a message came to.
//!
//! Connections are opened on a socket with `TCP_NODELAY` and handed to
//! lettre (`connect_with_transport`): lettre 0.11.23 never sets it, and
//! Nagle's algorithm plus delayed ACKs then stall every message ~40 ms.
//! STARTTLS upgrades that same socket. (Implicit TLS, `smtps://`, goes
//! through lettre's own connect, which has no way to take a TLS stream.)
//!
//! The SMTP dialogue is driven command by command so the one moment that
//! matters is known: once the message's final `.` has been handed over, a
//! lost connection is *ambiguous* (the relay may have queued it, RFC 1047)
//! and must not be resent; before it, the failure is transient.
//!
//! On a socket newsroom opened (plain and STARTTLS), the message goes out
//! dot-stuffed by [`dot_stuffed`] in one write through lettre's `command`,
//! and the socket itself says when the write is complete: lettre flushes
//! it once every byte, the final `.` included, is with the kernel (TLS
//! flushes its socket only after its last record). lettre's own data phase
//! (`message_iter`) dot-stuffs a byte at a time, which was a quarter of
//! `send`'s CPU; it still carries messages over `smtps://`, whose socket
//! lettre opens.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Result, bail};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The environment variable naming the relay.
pub const SMTP_URL_VAR: &str = "NEWSROOM_SMTP_URL";

/// How long one SMTP step may take before the attempt counts as failed,
/// unless `delivery.timeout` says otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS: only for a relay on this machine.
    Plain,
    /// `smtp://` to another host: STARTTLS is required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

/// Where to hand messages, from `NEWSROOM_SMTP_URL`.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// How long one SMTP step may take ([`STEP_TIMEOUT`] unless set); connecting may take twice as long.
    pub timeout: Duration,
    credentials: Option<Credentials>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Relay {
    /// Parses `smtp://[user:pass@]host[:port]` or `smtps://…`. Error messages
    /// never repeat the URL, which may hold a password.
    pub fn parse(text: &str) -> Result<Relay> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("{SMTP_URL_VAR} is not a URL such as smtp://127.0.0.1:2525 ({e})"))?;
        let host =
            url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| anyhow::anyhow!("{SMTP_URL_VAR} has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let (security, default_port) = match url.scheme() {
            "smtp" if loopback => (Security::Plain, 25),
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::ImplicitTls, 465),
            other => bail!("{SMTP_URL_VAR} has scheme `{other}`; use smtp:// or smtps://"),
        };
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
        });
        Ok(Relay { port: url.port().unwrap_or(default_port), host, security, timeout: STEP_TIMEOUT, credentials })
    }

    /// The relay for messages, without credentials: safe to print.
    pub fn display(&self) -> String {
        let scheme = if self.security == Security::ImplicitTls { "smtps" } else { "smtp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// Opens an authenticated connection, with TLS unless the relay is on this machine.
    /// The error is a sentence for the user (no credentials in it).
    pub async fn connect(&self) -> Result<Connection, String> {
        tokio::time::timeout(self.timeout * 2, self.connect_inner())
            .await
            .map_err(|_| format!("{}: connecting timed out", self.display()))?
            .map_err(|e| format!("{}: {e}", self.display()))
    }

    async fn connect_inner(&self) -> Result<Connection, String> {
        let hello = ClientId::default();
        let mut connection = match self.security {
            Security::ImplicitTls => {
                let tls = TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                let smtp = AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &hello,
                    Some(tls),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
                Connection { smtp, flushes: None }
            }
            Security::Plain | Security::StartTls => {
                let stream = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let peer = stream.peer_addr().ok();
                let (socket, flushes) = FlushCounting::new(stream, peer);
                let mut smtp = AsyncSmtpConnection::connect_with_transport(Box::new(socket), &hello)
                    .await
                    .map_err(|e| e.to_string())?;
                if self.security == Security::StartTls {
                    if !smtp.can_starttls() {
                        return Err("the relay does not offer STARTTLS; refusing to send in clear text".into());
                    }
                    let tls = TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                    smtp.starttls(tls, &hello).await.map_err(|e| e.to_string())?;
                }
                Connection { smtp, flushes: Some(flushes) }
            }
        };
        if let Some(credentials) = &self.credentials {
            connection
                .smtp
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(connection)
    }
}

/// An open connection to the relay.
pub struct Connection {
    smtp: AsyncSmtpConnection,
    /// Completed flushes of the socket, when newsroom opened it (every
    /// scheme but `smtps://`): what tells that a message was written whole.
    flushes: Option<Arc<AtomicU64>>,
}

impl Connection {
    /// Connects lettre to a stream newsroom made, as [`Relay::connect`] does
    /// with its TCP socket (tests talk to scripted relays this way).
    #[cfg(test)]
    async fn over(stream: impl AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static) -> Connection {
        let (socket, flushes) = FlushCounting::new(stream, None);
        let smtp = AsyncSmtpConnection::connect_with_transport(Box::new(socket), &ClientId::default())
            .await
            .expect("the scripted relay greets");
        Connection { smtp, flushes: Some(flushes) }
    }

    /// Ends the session politely.
    pub async fn quit(&mut self) {
        let _ = self.smtp.quit().await;
    }
}

/// The relay's socket as lettre sees it, counting completed flushes. lettre
/// writes a command or a message with `write_all` and then flushes, so the
/// count moves on only once all of it is with the kernel; TLS in between
/// (STARTTLS) flushes this socket only after writing its last record.
struct FlushCounting<S> {
    stream: S,
    peer: Option<SocketAddr>,
    flushes: Arc<AtomicU64>,
}

impl<S> FlushCounting<S> {
    /// `stream`, and the count of its flushes.
    fn new(stream: S, peer: Option<SocketAddr>) -> (FlushCounting<S>, Arc<AtomicU64>) {
        let flushes = Arc::new(AtomicU64::new(0));
        (FlushCounting { stream, peer, flushes: flushes.clone() }, flushes)
    }
}

impl<S> fmt::Debug for FlushCounting<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlushCounting")
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FlushCounting<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FlushCounting<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            self.flushes.fetch_add(1, Ordering::SeqCst);
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Sync + Unpin> AsyncTokioStream for FlushCounting<S> {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.peer.ok_or_else(|| std::io::Error::other("a stream without a peer address"))
    }
}

/// Why one SMTP step failed: a reply or connection error from lettre, or no answer in time.
enum StepError {
    Smtp(lettre::transport::smtp::Error),
    Timeout,
}

impl StepError {
    fn is_permanent(&self) -> bool {
        matches!(self, StepError::Smtp(e) if e.is_permanent())
    }
    fn is_protocol_error(&self) -> bool {
        matches!(self, StepError::Smtp(e) if e.status().is_some_and(|code| matches!(code.to_string().as_str(), "500" | "501" | "502" | "503" | "504")))
    }
    fn is_throttle(&self) -> bool {
        matches!(self, StepError::Smtp(e) if is_throttle(e))
    }
    fn text(&self) -> String {
        match self {
            StepError::Smtp(e) => e.to_string(),
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
    let smtp = &mut connection.smtp;
    if let Err(error) = step(timeout, smtp.command(Mail::new(envelope.from().cloned(), vec![]))).await {
        return before_data(smtp, error, timeout).await;
    }
    for recipient in envelope.to() {
        if let Err(error) = step(timeout, smtp.command(Rcpt::new(recipient.clone(), vec![]))).await {
            return before_data(smtp, error, timeout).await;
        }
    }
    if let Err(error) = step(timeout, smtp.command(Data)).await {
        return before_data(smtp, error, timeout).await;
    }
    // Text on a socket newsroom opened goes out in one write; anything else
    // through lettre's data phase.
    let ours = match &connection.flushes {
        Some(flushes) => String::from_utf8(message).map(|text| (flushes, text)).map_err(|e| e.into_bytes()),
        None => Err(message),
    };
    let (result, handed_over) = match ours {
        Ok((flushes, text)) => {
            // A `&str` command, which lettre copies once; the flush that
            // follows its write is the moment it was handed over.
            let data = dot_stuffed(text);
            let before = flushes.load(Ordering::SeqCst);
            let result = tokio::time::timeout(timeout, smtp.command(data.as_str())).await;
            (result, flushes.load(Ordering::SeqCst) != before)
        }
        Err(message) => {
            // The flag turns true when lettre has taken the whole message;
            // what it writes next is the final `.`.
            let taken = Arc::new(AtomicBool::new(false));
            let body = BodyChunks { bytes: &message, done: false, handed_over: taken.clone() };
            let result = tokio::time::timeout(timeout, smtp.message_iter(body)).await;
            (result, taken.load(Ordering::SeqCst))
        }
    };
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

/// A message as the DATA phase carries it (RFC 5321 4.5.2): a `.` that
/// starts a line gets another in front of it, and the final `.` line ends
/// it. The same bytes as lettre's own data phase, which starts every
/// message on a new line and only counts CRLF as a line break.
fn dot_stuffed(mut text: String) -> String {
    let lines_with_dots: Vec<usize> = memchr::memmem::find_iter(text.as_bytes(), b"\r\n.").collect();
    if lines_with_dots.is_empty() && !text.starts_with('.') {
        // The common case: no copy, only the final line.
        text.push_str("\r\n.\r\n");
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
    stuffed.push_str("\r\n.\r\n");
    stuffed
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
    match error {
        StepError::Smtp(ref e) if e.is_transient() || e.is_permanent() => {
            after_refusal(connection, error, timeout).await
        }
        // A lost connection or no answer: nothing was handed over.
        other => (Outcome::Transient { reply: other.text(), throttle: false }, false),
    }
}

/// A 4xx/5xx reply. 500–504 say the conversation went wrong (syntax, order),
/// not that the recipient is bad: they are retried on a fresh connection.
/// Otherwise RSET ends the transaction so the connection can carry the next
/// message (some servers keep state after a refusal); if RSET fails, the
/// connection is dropped.
async fn after_refusal(connection: &mut AsyncSmtpConnection, error: StepError, timeout: Duration) -> (Outcome, bool) {
    if error.is_protocol_error() {
        return (Outcome::Transient { reply: error.text(), throttle: false }, false);
    }
    let outcome = if error.is_permanent() {
        Outcome::Permanent(error.text())
    } else {
        Outcome::Transient { reply: error.text(), throttle: error.is_throttle() }
    };
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
    use proptest::prelude::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// What the scripted relay does once it has read a message's data.
    #[derive(Clone, Copy)]
    enum Script {
        /// Answers `250`.
        Accept,
        /// Closes the connection without answering: it has the message.
        CloseAfterDot,
        /// Closes the connection after this many bytes of data, before the final `.`.
        CloseWithin(usize),
    }

    /// A relay over an in-memory pipe: answers EHLO, MAIL, RCPT and DATA,
    /// then reads the data bytes as they arrive (dot-stuffed, with the
    /// final `.` line) and returns them.
    fn scripted_relay(script: Script) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<Vec<u8>>) {
        let (client, server) = tokio::io::duplex(4096);
        let relay = tokio::spawn(async move {
            let mut server = BufReader::new(server);
            server.get_mut().write_all(b"220 scripted\r\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if server.read_line(&mut line).await.unwrap() == 0 {
                    return Vec::new();
                }
                if line.starts_with("DATA") {
                    break;
                }
                server.get_mut().write_all(b"250 ok\r\n").await.unwrap();
            }
            server.get_mut().write_all(b"354 go on\r\n").await.unwrap();
            let mut data = Vec::new();
            let mut byte = [0u8; 1];
            while !data.ends_with(b"\r\n.\r\n") {
                if let Script::CloseWithin(limit) = script
                    && data.len() == limit
                {
                    return data;
                }
                server.read_exact(&mut byte).await.unwrap();
                data.push(byte[0]);
            }
            if let Script::Accept = script {
                server.get_mut().write_all(b"250 queued\r\n").await.unwrap();
                // Stay until the client hangs up.
                let _ = server.read_line(&mut line).await;
            }
            data
        });
        (client, relay)
    }

    fn envelope() -> Envelope {
        Envelope::new(Some("news@example.org".parse().unwrap()), vec!["ada@example.org".parse().unwrap()]).unwrap()
    }

    /// The data bytes lettre's own data phase writes for `message`, and the ones `transmit` writes.
    fn both_data_phases(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (stream, relay) = scripted_relay(Script::Accept);
            let mut lettre = Connection::over(stream).await;
            lettre.smtp.command(Data).await.unwrap();
            lettre.smtp.message(message).await.unwrap();
            drop(lettre);
            let lettres = relay.await.unwrap();

            let (stream, relay) = scripted_relay(Script::Accept);
            let mut ours = Connection::over(stream).await;
            let (outcome, usable) = transmit(&mut ours, &envelope(), message.to_vec(), STEP_TIMEOUT).await;
            assert_eq!((outcome, usable), (Outcome::Sent("250 queued".into()), true));
            drop(ours);
            (lettres, relay.await.unwrap())
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

    fn transmit_to(script: Script, message: &str) -> Outcome {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (stream, relay) = scripted_relay(script);
            let mut connection = Connection::over(stream).await;
            let (outcome, _) =
                transmit(&mut connection, &envelope(), message.as_bytes().to_vec(), Duration::from_secs(5)).await;
            drop(connection);
            relay.await.unwrap();
            outcome
        })
    }

    /// The moment that decides between resending and not: a relay that
    /// read the final `.` may have the message; one that hung up before it cannot.
    #[test]
    fn a_connection_lost_after_the_final_dot_is_ambiguous_and_before_it_transient() {
        let message = "Subject: x\r\n\r\n".to_string() + &"a line of the message body\r\n".repeat(2000);
        assert!(matches!(transmit_to(Script::CloseAfterDot, &message), Outcome::Ambiguous(_)));
        assert!(matches!(transmit_to(Script::CloseWithin(10_000), &message), Outcome::Transient { .. }));
        assert!(matches!(transmit_to(Script::Accept, &message), Outcome::Sent(_)));
    }

    #[test]
    fn loopback_may_be_plain_other_hosts_need_tls() {
        assert_eq!(Relay::parse("smtp://127.0.0.1:2525").unwrap().security, Security::Plain);
        assert_eq!(Relay::parse("smtp://localhost").unwrap().port, 25);
        assert_eq!(Relay::parse("smtp://mail.example.org").unwrap().security, Security::StartTls);
        assert_eq!(Relay::parse("smtps://u:p@mail.example.org").unwrap().port, 465);
        assert!(Relay::parse("http://x").is_err());
    }

    #[test]
    fn credentials_never_show() {
        let relay = Relay::parse("smtps://user:s3cret@mail.example.org:465").unwrap();
        assert_eq!(relay.display(), "smtps://mail.example.org:465");
        assert!(!format!("{relay:?}").contains("s3cret"));
        let error = Relay::parse("smtpx://user:s3cret@host").unwrap_err().to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }
}
