//! Named points where a test makes the process die, to prove what a crash
//! at that exact moment leaves behind: the windows exactly-once delivery
//! is argued over (`sending` committed but nothing sent; the final `.`
//! written but no reply read; the relay's `250` read but `sent` not
//! committed; the TLS upgrade), and a merge's batch boundaries (what one
//! batch committed stays, and the web writer had its turn).
//!
//! `NEWSROOM_FAILPOINT=NAME` aborts the process the first time NAME is
//! reached, `NAME@N` the Nth time. `std::process::abort` is a crash: no
//! destructor runs, nothing is flushed, as with SIGKILL. Compiled only
//! into builds with debug assertions (the ones `cargo test` runs); in a
//! release build [`hit`] is an empty function, so no environment variable
//! can make a real send die on purpose.

/// The environment variable that names the failpoint to crash at.
pub const FAILPOINT_VAR: &str = "NEWSROOM_FAILPOINT";

/// After a message's `sending` mark is committed, before the relay hears of it.
pub const AFTER_SENDING_COMMITTED: &str = "after-sending-committed";
/// After the message's final `.` is written (the socket flushed), before the reply is read.
pub const AFTER_FINAL_DOT: &str = "after-final-dot";
/// After the relay's `250` for a message is read, before `sent` is committed.
pub const AFTER_ACCEPTED: &str = "after-accepted";
/// When the relay has agreed to STARTTLS, before the TLS handshake.
pub const STARTTLS: &str = "starttls";
/// After a batch of a subscriber file's merge is committed, before the next begins.
pub const MERGE_BATCH_COMMITTED: &str = "merge-batch-committed";

/// Crashes the process here if [`FAILPOINT_VAR`] names this point (and this is the hit it counts to).
#[cfg(debug_assertions)]
pub fn hit(name: &'static str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var(FAILPOINT_VAR).ok()?;
        Some(match value.split_once('@') {
            Some((point, n)) => (point.to_string(), n.parse().expect("NEWSROOM_FAILPOINT=NAME@N takes a number")),
            None => (value, 1),
        })
    });
    if let Some((point, n)) = armed
        && point == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "failpoint {name}@{n}: aborting");
        std::process::abort();
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
