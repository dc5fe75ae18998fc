//! A small SMTP server inside the test process, with the faults delivery
//! must survive injected at exact points: 451 after DATA, 550 at RCPT, a
//! connection closed right after the final `.` without a reply (the message
//! is kept: the server got it, the client never heard), silence after the
//! final `.` with the connection left open, and no greeting at all.
//!
//! Why not an SMTP server crate: none found lets a handler drop the
//! connection after the final `.` without replying, and that fault is the
//! one exactly-once delivery hinges on. The protocol subset here is what a
//! relay needs to accept mail from lettre: EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT, and PIPELINING (commands are read and answered a line at a time,
//! whether they came in a group or one by one).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Which faults to inject.
#[derive(Clone, Default)]
pub struct Faults {
    /// Share of messages answered `451` after their final `.`.
    pub fail_rate: f64,
    /// Share of messages whose connection is closed after the final `.`, unanswered.
    pub drop_rate: f64,
    /// Recipients containing this text are refused with `550` at RCPT.
    pub reject: Option<String>,
    /// Recipients containing this text get `500 5.5.2` at RCPT: a reply
    /// about the conversation, not the address (retried, never permanent).
    pub syntax_error: Option<String>,
    /// A pause before each reply to DATA, to make a send take time.
    pub delay: Duration,
    /// Accept connections and never send a byte (not even the greeting).
    pub silent: bool,
    /// Messages to recipients containing this text are kept, then never
    /// answered: the connection stays open until the client gives up.
    pub hang_after_dot: Option<String>,
    /// Leave PIPELINING (RFC 2920) out of the EHLO reply, which real relays list.
    pub no_pipelining: bool,
    pub seed: u64,
}

/// One message the server kept.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`).
    pub sender: String,
    pub recipient: String,
    pub message_id: String,
    /// The connection was closed instead of answering: the client cannot know it arrived.
    pub dropped: bool,
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl SmtpServer {
    pub fn start(faults: Faults) -> SmtpServer {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(faults.seed)));
        let store = received.clone();
        runtime.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { break };
                let (faults, store, rng) = (faults.clone(), store.clone(), rng.clone());
                tokio::spawn(async move {
                    let _ = session(socket, faults, store, rng).await;
                });
            }
        });
        SmtpServer { port, received, _runtime: runtime }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    faults: Faults,
    store: Arc<Mutex<Vec<Received>>>,
    rng: Arc<Mutex<fastrand::Rng>>,
) -> std::io::Result<()> {
    let (reader, mut writer) = socket.into_split();
    let mut reader = BufReader::new(reader);
    if faults.silent {
        return wait_for_close(&mut reader).await;
    }
    writer.write_all(b"220 test.local ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut sender = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            let pipelining = if faults.no_pipelining { "" } else { "250-PIPELINING\r\n" };
            writer
                .write_all(format!("250-test.local\r\n{pipelining}250-8BITMIME\r\n250 SMTPUTF8\r\n").as_bytes())
                .await?;
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            sender = envelope_address(&line[10..]);
            writer.write_all(b"250 2.1.0 OK\r\n").await?;
        } else if command.starts_with("RCPT TO") {
            let address = envelope_address(&line[8..]);
            if faults.reject.as_deref().is_some_and(|r| address.contains(r)) {
                writer.write_all(b"550 5.1.1 mailbox unavailable\r\n").await?;
            } else if faults.syntax_error.as_deref().is_some_and(|r| address.contains(r)) {
                writer.write_all(b"500 5.5.2 Syntax error, command unrecognized\r\n").await?;
            } else {
                recipients.push(address);
                writer.write_all(b"250 2.1.5 OK\r\n").await?;
            }
        } else if command == "DATA" {
            if recipients.is_empty() {
                writer.write_all(b"503 5.5.1 no valid recipients\r\n").await?;
                continue;
            }
            writer.write_all(b"354 end with .\r\n").await?;
            let mut message = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                message.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            if !faults.delay.is_zero() {
                tokio::time::sleep(faults.delay).await;
            }
            let roll = rng.lock().unwrap().f64();
            let message_id = message
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID:").or_else(|| l.strip_prefix("Message-Id:")))
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            if roll < faults.fail_rate {
                writer.write_all(b"451 4.3.0 try again later\r\n").await?;
                continue;
            }
            let hang = faults.hang_after_dot.as_deref().is_some_and(|h| recipients.iter().any(|r| r.contains(h)));
            let dropped = hang || roll < faults.fail_rate + faults.drop_rate;
            {
                let mut store = store.lock().unwrap();
                for recipient in recipients.drain(..) {
                    store.push(Received { sender: sender.clone(), recipient, message_id: message_id.clone(), dropped });
                }
            }
            if hang {
                return wait_for_close(&mut reader).await;
            }
            if dropped {
                return Ok(());
            }
            writer.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if command == "RSET" {
            recipients.clear();
            writer.write_all(b"250 2.0.0 OK\r\n").await?;
        } else if command == "NOOP" {
            writer.write_all(b"250 2.0.0 OK\r\n").await?;
        } else if command == "QUIT" {
            writer.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            writer.write_all(b"502 5.5.2 command not recognized\r\n").await?;
        }
    }
}

/// Says nothing and reads until the client closes the connection.
async fn wait_for_close(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<()> {
    let mut line = String::new();
    while reader.read_line(&mut line).await? > 0 {
        line.clear();
    }
    Ok(())
}

/// The address of a `MAIL FROM:` or `RCPT TO:` argument, without its angle brackets.
fn envelope_address(argument: &str) -> String {
    argument.trim().split(' ').next().unwrap_or_default().trim_start_matches('<').trim_end_matches('>').to_string()
}
