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

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;

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
    pub async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        tokio::time::timeout(self.timeout * 2, self.connect_inner())
            .await
            .map_err(|_| format!("{}: connecting timed out", self.display()))?
            .map_err(|e| format!("{}: {e}", self.display()))
    }

    async fn connect_inner(&self) -> Result<AsyncSmtpConnection, String> {
        let hello = ClientId::default();
        let mut connection = match self.security {
            Security::ImplicitTls => {
                let tls = TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &hello,
                    Some(tls),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?
            }
            Security::Plain | Security::StartTls => {
                let stream =
                    tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let mut connection = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                    .await
                    .map_err(|e| e.to_string())?;
                if self.security == Security::StartTls {
                    if !connection.can_starttls() {
                        return Err("the relay does not offer STARTTLS; refusing to send in clear text".into());
                    }
                    let tls = TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                    connection.starttls(tls, &hello).await.map_err(|e| e.to_string())?;
                }
                connection
            }
        };
        if let Some(credentials) = &self.credentials {
            connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await.map_err(|e| e.to_string())?;
        }
        Ok(connection)
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
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
    timeout: Duration,
) -> (Outcome, bool) {
    if let Err(error) = step(timeout, connection.command(Mail::new(envelope.from().cloned(), vec![]))).await {
        return before_data(connection, error, timeout).await;
    }
    for recipient in envelope.to() {
        if let Err(error) = step(timeout, connection.command(Rcpt::new(recipient.clone(), vec![]))).await {
            return before_data(connection, error, timeout).await;
        }
    }
    if let Err(error) = step(timeout, connection.command(Data)).await {
        return before_data(connection, error, timeout).await;
    }
    // The flag turns true when lettre has taken the whole message; what it
    // writes next is the final `.`.
    let handed_over = Arc::new(AtomicBool::new(false));
    let body = BodyChunks { bytes, done: false, handed_over: handed_over.clone() };
    let result = tokio::time::timeout(timeout, connection.message_iter(body)).await;
    let handed_over = handed_over.load(Ordering::SeqCst);
    match result {
        Ok(Ok(response)) => (Outcome::Sent(reply_text(&response)), true),
        // A reply to the message: the relay heard all of it and said no.
        Ok(Err(error)) if error.is_transient() || error.is_permanent() => {
            after_refusal(connection, StepError::Smtp(error), timeout).await
        }
        Ok(Err(error)) if handed_over => (Outcome::Ambiguous(error.to_string()), false),
        Ok(Err(error)) => (Outcome::Transient { reply: error.to_string(), throttle: false }, false),
        Err(_) if handed_over => (Outcome::Ambiguous("no reply after the final `.` (timeout)".into()), false),
        Err(_) => (Outcome::Transient { reply: "timed out sending the message".into(), throttle: false }, false),
    }
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
    use super::*;

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
