//! The scripted relay the relay's unit tests talk to, shared by every
//! file's tests: an in-memory pipe with a task on the other end that plays
//! one SMTP transaction as a [`Script`] says (refusals, PIPELINING, STARTTLS
//! with the certificate in `tests/fixtures/tls`, hanging up or going silent
//! around the final `.`) and records what it saw in a [`Transcript`].

use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::TlsParameters;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{Connection, Outcome, transmit};

/// What the scripted relay does once it has read a message's data.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum AfterData {
    /// Answers `250`.
    Accept,
    /// Closes the connection without answering: it has the message.
    CloseAfterDot,
    /// Closes the connection after this many bytes of data, before the final `.`.
    CloseWithin(usize),
    /// Stops reading after this many bytes of data, before the final
    /// `.`, and says nothing for [`STALL`], keeping the connection open.
    StallWithin(usize),
    /// Reads the final `.` and says nothing for [`STALL`], keeping the connection open.
    StallAfterDot,
}

/// How long a stalling relay stays silent: longer than the step timeout
/// of the tests that use it.
const STALL: Duration = Duration::from_millis(1500);

/// A relay's part in one transaction.
#[derive(Clone, Copy)]
pub(super) struct Script {
    /// Lists PIPELINING in its EHLO reply.
    pub(super) pipelining: bool,
    /// Its reply to a second EHLO, when not the first one's.
    pub(super) second_ehlo: Option<&'static str>,
    /// Lists SMTPUTF8 and 8BITMIME in its EHLO reply.
    pub(super) smtputf8: bool,
    /// Lists STARTTLS in its EHLO reply and takes it, with the
    /// certificate in `tests/fixtures/tls`; the client then starts TLS.
    pub(super) starttls: bool,
    /// Its reply to RCPT.
    pub(super) rcpt: &'static str,
    /// Its reply to DATA.
    pub(super) data: &'static str,
    pub(super) after_data: AfterData,
}

pub(super) const ACCEPT: Script = Script {
    pipelining: false,
    second_ehlo: None,
    smtputf8: false,
    starttls: false,
    rcpt: "250 ok",
    data: "354 go on",
    after_data: AfterData::Accept,
};

/// What the scripted relay saw.
#[derive(Debug, Default)]
pub(super) struct Transcript {
    /// Each command line, in order.
    pub(super) commands: Vec<String>,
    /// Whether a command arrived before the reply to the one before it.
    pub(super) pipelined: bool,
    /// The data bytes as they arrived (dot-stuffed, with the final `.` line).
    pub(super) data: Vec<u8>,
    /// The index in `commands` of the first command that came over TLS.
    pub(super) tls_from: Option<usize>,
}

/// What the scripted relay reads and writes: the pipe, then TLS over it.
trait RelayStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RelayStream for T {}

/// The relay's side of TLS, with the certificate for `relay.test`.
fn relay_tls() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(include_bytes!("../../../tests/fixtures/tls/relay.pem"))
        .collect::<Result<Vec<_>, _>>()
        .expect("the relay's certificate");
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("../../../tests/fixtures/tls/relay-key.pem")).expect("its key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate and its key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The client's TLS settings for the scripted relay: only the test CA is trusted.
pub(super) fn client_tls() -> TlsParameters {
    use lettre::transport::smtp::client::{Certificate, CertificateStore};
    let ca = Certificate::from_pem(include_bytes!("../../../tests/fixtures/tls/ca.pem")).expect("the test CA");
    TlsParameters::builder("relay.test".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(ca)
        .build_rustls()
        .expect("TLS parameters")
}

/// A relay over an in-memory pipe, playing `script` for one transaction
/// and answering `250` to everything else (EHLO, RSET, QUIT).
pub(super) fn scripted_relay(script: Script) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<Transcript>) {
    let (client, server) = tokio::io::duplex(4096);
    let relay = tokio::spawn(async move {
        let mut server: BufReader<Box<dyn RelayStream>> = BufReader::new(Box::new(server));
        let mut seen = Transcript::default();
        server.get_mut().write_all(b"220 scripted\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if server.read_line(&mut line).await.unwrap() == 0 {
                return seen;
            }
            seen.pipelined |= !server.buffer().is_empty();
            let command = line.trim_end();
            let again = seen.commands.iter().any(|c| c.starts_with("EHLO"));
            seen.commands.push(command.to_string());
            let ehlo = format!(
                "250-scripted{}{}{}\r\n250 HELP",
                if script.pipelining { "\r\n250-PIPELINING" } else { "" },
                if script.smtputf8 { "\r\n250-8BITMIME\r\n250-SMTPUTF8" } else { "" },
                if script.starttls && seen.tls_from.is_none() { "\r\n250-STARTTLS" } else { "" }
            );
            let reply = match command.get(..4).unwrap_or(command) {
                "EHLO" if again && script.second_ehlo.is_some() => script.second_ehlo.unwrap_or_default(),
                "EHLO" => ehlo.as_str(),
                "STAR" => "220 2.0.0 ready to start TLS",
                "RCPT" => script.rcpt,
                "DATA" => script.data,
                // The end of a message for no recipient.
                "." => "554 5.5.1 no valid recipients",
                _ => "250 ok",
            };
            server.get_mut().write_all(format!("{reply}\r\n").as_bytes()).await.unwrap();
            server.get_mut().flush().await.unwrap();
            if command == "STARTTLS" {
                // The client sends nothing more in clear text, so nothing is left in the buffer.
                let plain = server.into_inner();
                server = BufReader::new(Box::new(relay_tls().accept(plain).await.unwrap()));
                seen.tls_from = Some(seen.commands.len());
                continue;
            }
            if line.starts_with("DATA") && script.data.starts_with("354") && script.rcpt.starts_with('2') {
                break;
            }
        }
        let mut byte = [0u8; 1];
        while !seen.data.ends_with(b"\r\n.\r\n") {
            match script.after_data {
                AfterData::CloseWithin(limit) if seen.data.len() == limit => return seen,
                AfterData::StallWithin(limit) if seen.data.len() == limit => {
                    tokio::time::sleep(STALL).await;
                    return seen;
                }
                _ => {}
            }
            server.read_exact(&mut byte).await.unwrap();
            seen.data.push(byte[0]);
        }
        if script.after_data == AfterData::StallAfterDot {
            tokio::time::sleep(STALL).await;
        }
        if script.after_data == AfterData::Accept {
            server.get_mut().write_all(b"250 queued\r\n").await.unwrap();
            server.get_mut().flush().await.unwrap();
            // Stay until the client hangs up.
            let _ = server.read_line(&mut line).await;
        }
        seen
    });
    (client, relay)
}

/// The envelope of every scripted transaction.
pub(super) fn envelope() -> Envelope {
    Envelope::new(Some("news@example.org".parse().unwrap()), vec!["ada@example.org".parse().unwrap()]).unwrap()
}

/// One message to a relay playing `script`: the outcome, whether the
/// connection can go on, and what the relay saw.
pub(super) fn transmit_to(script: Script, message: &str) -> (Outcome, bool, Transcript) {
    transmit_to_within(script, message, Duration::from_secs(5))
}

/// [`transmit_to`] with each SMTP step given `timeout`.
pub(super) fn transmit_to_within(script: Script, message: &str, timeout: Duration) -> (Outcome, bool, Transcript) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (stream, relay) = scripted_relay(script);
        let tls = script.starttls.then(client_tls);
        let mut connection = Connection::over_with(stream, tls).await.expect("connected");
        let (outcome, usable) = transmit(&mut connection, &envelope(), message.as_bytes().to_vec(), timeout).await;
        drop(connection);
        (outcome, usable, relay.await.unwrap())
    })
}

/// A ~54 KB message, far more than the pipe between client and relay
/// holds, so a relay can stop partway through it.
pub(super) fn long_message() -> String {
    "Subject: x\r\n\r\n".to_string() + &"a line of the message body\r\n".repeat(2000)
}
