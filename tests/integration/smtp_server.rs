//! A small SMTP server inside the test process, with the faults delivery
//! must survive injected at exact points: 451 after DATA, 550 or 500 at
//! RCPT, a connection closed right after the final `.` without a reply
//! (the message is kept: the server got it, the client never heard),
//! silence after the final `.` with the connection left open, a hang-up in
//! the middle of a message, and no greeting at all. It speaks STARTTLS and
//! implicit TLS with the test certificate in `tests/fixtures/tls`.
//!
//! Faults are scripted per recipient and attempt, never drawn from one
//! random stream the connections share: which message meets which fault
//! does not depend on the order the workers happen to send in, so a test
//! that passes once passes every time.
//!
//! It keeps what a test needs to check the claims delivery makes: each
//! message's bytes (dot-unstuffed, as the client meant them), every reply
//! it gave with its time and recipient, and when each transaction began.
//!
//! Why not an SMTP server crate: none found lets a handler drop the
//! connection after the final `.` without replying, and that fault is the
//! one exactly-once delivery hinges on. The protocol subset here is what a
//! relay needs to accept mail from lettre: EHLO, STARTTLS, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT, and PIPELINING (commands are read and answered
//! a line at a time, whether they came in a group or one by one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Which faults to inject.
#[derive(Clone, Default)]
pub struct Faults {
    /// Share of recipients whose first attempt is answered `451` after the
    /// final `.`; of those, the same share again on the second attempt.
    /// Never a third time: no recipient meets five in a row by chance.
    pub fail_rate: f64,
    /// Share of recipients whose first attempt's connection is closed after
    /// the final `.`, unanswered (disjoint from the `451` ones).
    pub drop_rate: f64,
    /// Recipients containing this text are refused with `550 5.1.1` (no
    /// such mailbox) at RCPT.
    pub reject: Option<String>,
    /// Recipients containing this text are refused with `550 5.7.1` (a
    /// policy refusal, not about the mailbox) at RCPT.
    pub refuse_by_policy: Option<String>,
    /// Recipients containing this text get `500 5.5.2` at RCPT: a reply
    /// about the conversation, not the address (retried, never permanent).
    pub syntax_error: Option<String>,
    /// Recipients containing this text get `451` after every final `.`.
    pub always_451: Option<String>,
    /// Recipients containing this text get `451` (a throttling reply) after
    /// their first final `.` only.
    pub throttle_once: Option<String>,
    /// The connection carrying the first attempt for recipients containing
    /// this text is closed after this many bytes of the message's data,
    /// before its final `.`; later attempts go through.
    pub hang_up_in_data: Option<(String, usize)>,
    /// The connection carrying the first attempt for recipients containing
    /// this text is closed when DATA comes, before the `354` that invites
    /// the message: the client has sent none of it.
    pub hang_up_before_data: Option<String>,
    /// A pause before each reply to DATA, to make a send take time.
    pub delay: Duration,
    /// Accept connections and never send a byte (not even the greeting).
    pub silent: bool,
    /// Messages to recipients containing this text are kept, then never
    /// answered: the connection stays open until the client gives up.
    pub hang_after_dot: Option<String>,
    /// Leave PIPELINING (RFC 2920) out of the EHLO reply, which real relays list.
    pub no_pipelining: bool,
    /// Offer STARTTLS (with the test certificate).
    pub starttls: bool,
    /// TLS from the first byte (`smtps://`), with the test certificate.
    pub implicit_tls: bool,
    /// Varies which recipients meet `fail_rate` and `drop_rate`.
    pub seed: u64,
}

impl Faults {
    /// A number in [0, 1) fixed by the seed, the recipient and `salt`.
    fn draw(&self, recipient: &str, salt: u64) -> f64 {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
        for byte in recipient.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What happens to attempt number `attempt` (from 1) for `recipient`
    /// after its final `.`.
    fn after_dot(&self, recipient: &str, attempt: u32) -> AfterDot {
        let matches = |text: &Option<String>| text.as_deref().is_some_and(|t| recipient.contains(t));
        if matches(&self.always_451) || (attempt == 1 && matches(&self.throttle_once)) {
            return AfterDot::Retry;
        }
        if matches(&self.hang_after_dot) {
            return AfterDot::Hang;
        }
        let first = self.draw(recipient, 1);
        match attempt {
            1 if first < self.fail_rate => AfterDot::Retry,
            1 if first < self.fail_rate + self.drop_rate => AfterDot::Drop,
            2 if first < self.fail_rate && self.draw(recipient, 2) < self.fail_rate => AfterDot::Retry,
            _ => AfterDot::Accept,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterDot {
    Accept,
    Retry,
    Drop,
    Hang,
}

/// One message the server kept (it read its final `.`).
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`).
    pub sender: String,
    pub recipient: String,
    pub message_id: String,
    /// The message as the client meant it: lines with CRLF, dot-stuffing undone.
    pub data: Vec<u8>,
    /// The connection was closed instead of answering: the client cannot know it arrived.
    pub dropped: bool,
}

/// One reply the server gave (or, for a dropped or hung message, the
/// moment it chose not to).
#[derive(Debug, Clone)]
pub struct Reply {
    pub at: Instant,
    /// The recipient of the transaction it belongs to, when there is one.
    pub recipient: Option<String>,
    /// The reply code; 0 for "no reply" (dropped, hung).
    pub code: u16,
    /// The command it answers (`MAIL`, `RCPT`, `DATA`, `DOT` for the end of the message, …).
    pub to: &'static str,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    replies: Vec<Reply>,
    /// Attempts (final `.` read, or data cut short) per recipient.
    attempts: HashMap<String, u32>,
}

pub struct SmtpServer {
    pub port: u16,
    faults: Faults,
    log: Arc<Mutex<Log>>,
    _runtime: tokio::runtime::Runtime,
}

/// The test certificate's acceptor (the certificate names `relay.test`,
/// `localhost` and 127.0.0.1, signed by `tests/fixtures/tls/ca.pem`).
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = crate::support::repo_root().join("tests/fixtures/tls");
    let chain = CertificateDer::pem_file_iter(fixtures.join("relay.pem"))
        .expect("the test certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("the test certificate");
    let key = PrivateKeyDer::from_pem_file(fixtures.join("relay-key.pem")).expect("its key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server configuration");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The path of the test CA, for `NEWSROOM_SMTP_CA`.
pub fn test_ca() -> std::path::PathBuf {
    crate::support::repo_root().join("tests/fixtures/tls/ca.pem")
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

impl SmtpServer {
    pub fn start(faults: Faults) -> SmtpServer {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        let acceptor = (faults.starttls || faults.implicit_tls).then(tls_acceptor);
        let script = faults.clone();
        runtime.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { break };
                socket.set_nodelay(true).unwrap();
                let (faults, log, acceptor) = (faults.clone(), shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let stream: Box<dyn Stream> = match (&acceptor, faults.implicit_tls) {
                        (Some(acceptor), true) => match acceptor.accept(socket).await {
                            Ok(tls) => Box::new(tls),
                            Err(_) => return,
                        },
                        _ => Box::new(socket),
                    };
                    let _ = session(stream, faults, log, acceptor).await;
                });
            }
        });
        SmtpServer { port, faults: script, log, _runtime: runtime }
    }

    /// `smtp://127.0.0.1:PORT` (add `?tls=required` for STARTTLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().received.len()
    }

    /// Whether the first attempt for `recipient` is dropped after its final `.`.
    pub fn will_drop(&self, recipient: &str) -> bool {
        self.faults.after_dot(recipient, 1) == AfterDot::Drop
    }

    /// Every reply given so far, in order.
    pub fn replies(&self) -> Vec<Reply> {
        self.log.lock().unwrap().replies.clone()
    }

    /// How many times a message for `recipient` was attempted (its data
    /// read to the final `.`, or cut short by a fault).
    pub fn attempts(&self, recipient: &str) -> u32 {
        self.log.lock().unwrap().attempts.get(recipient).copied().unwrap_or(0)
    }
}

/// The session's state, and how it answers.
struct Session {
    reader: BufReader<Box<dyn Stream>>,
    log: Arc<Mutex<Log>>,
    /// The transaction's recipient, for the reply log.
    recipient: Option<String>,
}

impl Session {
    async fn reply(&mut self, code: u16, to: &'static str, text: &str) -> std::io::Result<()> {
        self.log.lock().unwrap().replies.push(Reply {
            at: Instant::now(),
            recipient: self.recipient.clone(),
            code,
            to,
        });
        self.reader.get_mut().write_all(text.as_bytes()).await
    }

    fn no_reply(&mut self, to: &'static str) {
        self.log.lock().unwrap().replies.push(Reply {
            at: Instant::now(),
            recipient: self.recipient.clone(),
            code: 0,
            to,
        });
    }
}

async fn session(
    stream: Box<dyn Stream>,
    faults: Faults,
    log: Arc<Mutex<Log>>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let mut s = Session { reader: BufReader::new(stream), log, recipient: None };
    if faults.silent {
        return wait_for_close(&mut s.reader).await;
    }
    s.reply(220, "CONNECT", "220 test.local ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut sender = String::new();
    let mut tls = faults.implicit_tls;
    let mut line = String::new();
    loop {
        line.clear();
        if s.reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            let pipelining = if faults.no_pipelining { "" } else { "250-PIPELINING\r\n" };
            let starttls = if faults.starttls && !tls { "250-STARTTLS\r\n" } else { "" };
            let text = format!("250-test.local\r\n{pipelining}{starttls}250-8BITMIME\r\n250 SMTPUTF8\r\n");
            s.reply(250, "EHLO", &text).await?;
        } else if command == "STARTTLS" && faults.starttls && !tls {
            s.reply(220, "STARTTLS", "220 2.0.0 ready to start TLS\r\n").await?;
            let plain =
                std::mem::replace(&mut s.reader, BufReader::new(Box::new(tokio::io::empty()) as Box<dyn Stream>));
            assert!(plain.buffer().is_empty(), "the client sent more after STARTTLS");
            let acceptor = acceptor.clone().expect("an acceptor when STARTTLS is offered");
            let upgraded = acceptor.accept(plain.into_inner()).await?;
            s.reader = BufReader::new(Box::new(upgraded));
            tls = true;
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            s.recipient = None;
            sender = envelope_address(&line[10..]);
            s.reply(250, "MAIL", "250 2.1.0 OK\r\n").await?;
        } else if command.starts_with("RCPT TO") {
            let address = envelope_address(&line[8..]);
            s.recipient = Some(address.clone());
            if faults.reject.as_deref().is_some_and(|r| address.contains(r)) {
                s.reply(550, "RCPT", "550 5.1.1 mailbox unavailable\r\n").await?;
            } else if faults.refuse_by_policy.as_deref().is_some_and(|r| address.contains(r)) {
                s.reply(550, "RCPT", "550 5.7.1 relaying denied\r\n").await?;
            } else if faults.syntax_error.as_deref().is_some_and(|r| address.contains(r)) {
                s.reply(500, "RCPT", "500 5.5.2 Syntax error, command unrecognized\r\n").await?;
            } else {
                recipients.push(address);
                s.reply(250, "RCPT", "250 2.1.5 OK\r\n").await?;
            }
        } else if command == "DATA" {
            if recipients.is_empty() {
                s.reply(503, "DATA", "503 5.5.1 no valid recipients\r\n").await?;
                continue;
            }
            let first = recipients[0].clone();
            let attempt = {
                let mut log = s.log.lock().unwrap();
                let attempts = log.attempts.entry(first.clone()).or_default();
                *attempts += 1;
                *attempts
            };
            if attempt == 1 && faults.hang_up_before_data.as_deref().is_some_and(|text| first.contains(text)) {
                s.no_reply("DATA");
                return Ok(());
            }
            s.reply(354, "DATA", "354 end with .\r\n").await?;
            let cut = faults
                .hang_up_in_data
                .as_ref()
                .filter(|(text, _)| attempt == 1 && first.contains(text.as_str()))
                .map(|(_, bytes)| *bytes);
            let Some(data) = read_data(&mut s.reader, cut).await? else {
                // Cut short by the fault, or the client went away: no final `.`.
                return Ok(());
            };
            if !faults.delay.is_zero() {
                tokio::time::sleep(faults.delay).await;
            }
            let outcome = faults.after_dot(&first, attempt);
            if outcome == AfterDot::Retry {
                s.reply(451, "DOT", "451 4.3.0 try again later\r\n").await?;
                continue;
            }
            let message_id = String::from_utf8_lossy(&data)
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID:").or_else(|| l.strip_prefix("Message-Id:")))
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            let dropped = matches!(outcome, AfterDot::Drop | AfterDot::Hang);
            {
                let mut log = s.log.lock().unwrap();
                for recipient in recipients.drain(..) {
                    log.received.push(Received {
                        sender: sender.clone(),
                        recipient,
                        message_id: message_id.clone(),
                        data: data.clone(),
                        dropped,
                    });
                }
            }
            match outcome {
                AfterDot::Hang => {
                    s.no_reply("DOT");
                    return wait_for_close(&mut s.reader).await;
                }
                AfterDot::Drop => {
                    s.no_reply("DOT");
                    return Ok(());
                }
                _ => s.reply(250, "DOT", "250 2.0.0 queued\r\n").await?,
            }
        } else if command == "RSET" {
            recipients.clear();
            s.recipient = None;
            s.reply(250, "RSET", "250 2.0.0 OK\r\n").await?;
        } else if command == "NOOP" {
            s.reply(250, "NOOP", "250 2.0.0 OK\r\n").await?;
        } else if command == "QUIT" {
            s.reply(221, "QUIT", "221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            s.reply(502, "OTHER", "502 5.5.2 command not recognized\r\n").await?;
        }
    }
}

/// Reads a message's data up to its final `.` and undoes dot-stuffing.
/// `None` when the connection ends first, or when `cut` bytes have been
/// read (the fault: the server hangs up in the middle of the message).
async fn read_data(reader: &mut BufReader<Box<dyn Stream>>, cut: Option<usize>) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut read = 0;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        read += n;
        if cut.is_some_and(|cut| read >= cut) {
            // Hang up with unread data: the client sees the connection reset mid-message.
            let _ = reader.get_mut().shutdown().await;
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
    }
}

/// Says nothing and reads until the client closes the connection.
async fn wait_for_close(reader: &mut BufReader<Box<dyn Stream>>) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    while reader.read(&mut sink).await? > 0 {}
    Ok(())
}

/// The address of a `MAIL FROM:` or `RCPT TO:` argument, without its angle brackets.
fn envelope_address(argument: &str) -> String {
    argument.trim().split(' ').next().unwrap_or_default().trim_start_matches('<').trim_end_matches('>').to_string()
}
