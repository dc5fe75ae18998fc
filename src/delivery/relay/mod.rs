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
//! A relay that offers PIPELINING (RFC 2920; Postfix and the big
//! services do) gets MAIL, RCPT and DATA in one write and answers them
//! together: two round trips a message instead of four, which is what
//! bounds a connection's rate over any real network.
//!
//! On a socket newsroom opened (plain and STARTTLS), the message goes out
//! dot-stuffed in one write through lettre's `command`, and the socket
//! itself says when the write is complete: lettre flushes it once every
//! byte, the final `.` included, is with the kernel (TLS flushes its socket
//! only after its last record). lettre's own data phase (`message_iter`)
//! dot-stuffs a byte at a time, which was a quarter of `send`'s CPU; it
//! still carries messages over `smtps://`, whose socket lettre opens.
//!
//! One file a job, each depending only on the ones before it:
//! - `url.rs`: [`SMTP_URL_VAR`] and [`SMTP_CA_VAR`] read into a [`Relay`];
//! - `connect.rs`: [`Relay::connect`], the socket and its flush count,
//!   the greeting, STARTTLS, asking for PIPELINING: a [`Connection`];
//! - `data.rs`: the message after DATA, dot-stuffed, and when it was
//!   handed over;
//! - `transaction.rs`: [`transmit`], MAIL, RCPT and DATA and the replies,
//!   read into an [`Outcome`];
//! - `testing.rs` (tests only): the scripted relay every file's tests talk to.

mod connect;
mod data;
mod transaction;
mod url;

#[cfg(test)]
mod testing;

pub use connect::Connection;
pub use transaction::{Outcome, hand_over, open, transmit};
pub use url::{Relay, SMTP_CA_VAR, SMTP_URL_VAR, STEP_TIMEOUT, Security};
