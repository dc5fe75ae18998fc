//! Opening a connection to the relay, on a socket that says when a message
//! was handed over.
//!
//! For `smtp://` newsroom opens the TCP socket itself, with `TCP_NODELAY`,
//! and hands it to lettre (`connect_with_transport`): lettre 0.11.23 never
//! sets it, and Nagle's algorithm plus delayed ACKs then stall every
//! message ~40 ms. STARTTLS upgrades that same socket; where it is required
//! a relay that does not offer it gets nothing in clear text. (Implicit
//! TLS, `smtps://`, goes through lettre's own connect, which has no way to
//! take a TLS stream.)
//!
//! The socket counts its completed flushes ([`FlushCounting`]): lettre
//! flushes once every byte of a write is with the kernel, so the flush
//! after a message is the moment its final `.` was handed over, which the
//! data phase watches. And since lettre keeps only the EHLO extensions it
//! uses itself, newsroom asks once more whether the relay offers
//! PIPELINING.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::url::{Relay, Security};
use crate::failpoint;

impl Relay {
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
                let tls = self.tls_parameters()?;
                let smtp = AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &hello,
                    Some(tls),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
                Connection { smtp, flushes: None, pipelining: false }
            }
            Security::Plain | Security::StartTls => {
                let stream = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let peer = stream.peer_addr().ok();
                let tls = match self.security {
                    Security::StartTls => Some(self.tls_parameters()?),
                    _ => None,
                };
                greet(stream, peer, tls, &hello).await?
            }
        };
        connection.pipelining = offers_pipelining(&mut connection.smtp, &hello).await?;
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

/// lettre on a socket newsroom opened, counting its flushes: the greeting
/// and EHLO, then STARTTLS when `tls` is given, refusing a relay that does
/// not offer it. [`Relay::connect`] passes its TCP socket; tests pass
/// scripted relays.
async fn greet<S: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static>(
    stream: S,
    peer: Option<SocketAddr>,
    tls: Option<TlsParameters>,
    hello: &ClientId,
) -> Result<Connection, String> {
    let (socket, flushes) = FlushCounting::new(stream, peer);
    let mut smtp =
        AsyncSmtpConnection::connect_with_transport(Box::new(socket), hello).await.map_err(|e| e.to_string())?;
    if let Some(tls) = tls {
        if !smtp.can_starttls() {
            return Err("the relay does not offer STARTTLS; refusing to send in clear text".into());
        }
        failpoint::hit(failpoint::STARTTLS);
        smtp.starttls(tls, hello).await.map_err(|e| e.to_string())?;
    }
    Ok(Connection { smtp, flushes: Some(flushes), pipelining: false })
}

/// Whether the relay offers PIPELINING, from the extensions it lists in
/// answer to EHLO. lettre keeps only the ones it uses itself, so newsroom
/// asks again (before AUTH, after STARTTLS: a second EHLO changes nothing
/// else, RFC 5321 4.1.4). A relay that refuses the second EHLO gets the
/// commands one by one, as before it was asked.
async fn offers_pipelining(smtp: &mut AsyncSmtpConnection, hello: &ClientId) -> Result<bool, String> {
    let response = match smtp.command(Ehlo::new(hello.clone())).await {
        Ok(response) => response,
        Err(refused) if refused.is_transient() || refused.is_permanent() => return Ok(false),
        Err(lost) => return Err(lost.to_string()),
    };
    // The first line is the relay's name; each other one starts with an extension's keyword.
    Ok(response.message().skip(1).any(|line| {
        line.split_ascii_whitespace().next().is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    }))
}

/// An open connection to the relay.
pub struct Connection {
    pub(super) smtp: AsyncSmtpConnection,
    /// Completed flushes of the socket, when newsroom opened it (every
    /// scheme but `smtps://`): what tells that a message was written whole.
    pub(super) flushes: Option<Arc<Flushes>>,
    /// The relay takes commands in groups (RFC 2920).
    pub(super) pipelining: bool,
}

impl Connection {
    /// Connects lettre to a stream newsroom made, as [`Relay::connect`] does
    /// with its TCP socket, with STARTTLS when `tls` is given (tests talk to
    /// scripted relays this way).
    #[cfg(test)]
    pub(super) async fn over_with(
        stream: impl AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static,
        tls: Option<TlsParameters>,
    ) -> Result<Connection, String> {
        let hello = ClientId::default();
        let mut connection = greet(stream, None, tls, &hello).await?;
        connection.pipelining = offers_pipelining(&mut connection.smtp, &hello).await?;
        Ok(connection)
    }

    /// [`Connection::over_with`] in clear text.
    #[cfg(test)]
    pub(super) async fn over(stream: impl AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static) -> Connection {
        Connection::over_with(stream, None).await.expect("the scripted relay greets and answers EHLO")
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
    flushes: Arc<Flushes>,
}

/// What [`FlushCounting`] tells of its socket.
#[derive(Debug, Default)]
pub(super) struct Flushes {
    /// Completed flushes.
    pub(super) count: AtomicU64,
    /// Set while a message is being written: its flush is the moment its
    /// final `.` is handed over (where [`failpoint::AFTER_FINAL_DOT`] is).
    pub(super) message_pending: AtomicBool,
}

impl<S> FlushCounting<S> {
    /// `stream`, and what is known of its flushes.
    fn new(stream: S, peer: Option<SocketAddr>) -> (FlushCounting<S>, Arc<Flushes>) {
        let flushes = Arc::new(Flushes::default());
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
            self.flushes.count.fetch_add(1, Ordering::SeqCst);
            if self.flushes.message_pending.swap(false, Ordering::SeqCst) {
                failpoint::hit(failpoint::AFTER_FINAL_DOT);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::relay::Outcome;
    use crate::delivery::relay::testing::{ACCEPT, Script, client_tls, long_message, scripted_relay, transmit_to};

    /// STARTTLS, the path to every relay not on this machine: the whole
    /// transaction goes over TLS (what decides between ambiguous and
    /// transient there is tested over STARTTLS too, with the plain cases).
    #[test]
    fn over_starttls_the_whole_transaction_is_encrypted() {
        let message = long_message();
        for pipelining in [false, true] {
            let script = Script { starttls: true, pipelining, ..ACCEPT };
            let (outcome, usable, seen) = transmit_to(script, &message);
            assert!(matches!(outcome, Outcome::Sent(_)) && usable, "{outcome:?}");
            let tls_from = seen.tls_from.expect("STARTTLS was used");
            let mail = seen.commands.iter().position(|c| c.starts_with("MAIL")).expect("MAIL");
            assert!(mail >= tls_from, "MAIL before TLS: {:?}", seen.commands);
            assert_eq!(seen.pipelined, pipelining, "{:?}", seen.commands);
            // The message as it is, its last line ended once: no empty line added.
            assert!(seen.data.ends_with(b"a line of the message body\r\n.\r\n"));
        }
    }

    /// A relay that does not offer STARTTLS gets nothing in clear text.
    #[test]
    fn a_relay_without_starttls_is_refused_when_tls_is_required() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (refusal, seen) = runtime.block_on(async {
            let (stream, relay) = scripted_relay(ACCEPT);
            let refusal = Connection::over_with(stream, Some(client_tls())).await.err();
            (refusal, relay.await.unwrap())
        });
        assert!(refusal.is_some_and(|why| why.contains("does not offer STARTTLS")));
        assert!(seen.commands.iter().all(|c| c.starts_with("EHLO")), "{:?}", seen.commands);
    }

    /// A relay that refuses a second EHLO still takes the message, one command at a time.
    #[test]
    fn a_relay_that_refuses_a_second_ehlo_gets_the_commands_one_by_one() {
        let script = Script { pipelining: true, second_ehlo: Some("502 5.5.1 once is enough"), ..ACCEPT };
        let (outcome, usable, seen) = transmit_to(script, "Subject: x\r\n\r\nHi\r\n");
        assert!(matches!(outcome, Outcome::Sent(_)) && usable, "{outcome:?}");
        assert!(!seen.pipelined, "{:?}", seen.commands);
    }
}
