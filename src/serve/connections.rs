//! The connections `serve` holds open, and what it closes when they are
//! too many. A client that opens connections and never finishes its
//! headers costs a file descriptor each until the header timeout, and the
//! rate limits never see it (they count requests): 1,100 such connections
//! took every descriptor and starved finished requests.
//!
//! So the service raises its soft `RLIMIT_NOFILE` to the hard limit at
//! start ([`raise_fd_limit`]), caps the connections it holds
//! (`serve.max_connections`, by default from that limit with a headroom)
//! and those of one peer (`serve.max_connections_per_client`; a trusted
//! proxy is exempt, every reader comes through it). When the cap is
//! reached, a new connection makes room by closing the *oldest connection
//! with no request in flight* (half-open or idle between requests), so a
//! flood of half-open connections evicts itself and a request that has
//! arrived whole is never cut off for one that has not.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Descriptors kept for everything but connections: the store, the relay's
/// pool, the listener, logs.
const HEADROOM: u64 = 64;
/// The default cap never goes above this: memory, not descriptors, is the
/// limit past it.
const MOST_BY_DEFAULT: u64 = 16_384;
/// Connections one peer may hold unless configured.
pub const DEFAULT_PER_CLIENT: usize = 64;

/// Raises the soft limit on open files to the hard one; returns the limit
/// in force (`None` where there is none to ask).
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
            return Some(hard);
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    None
}

/// The default `serve.max_connections` for a descriptor limit.
pub fn default_max_connections(fd_limit: Option<u64>) -> usize {
    let limit = fd_limit.unwrap_or(1024);
    let cap = limit.saturating_sub(HEADROOM).max(limit / 2).clamp(16, MOST_BY_DEFAULT);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// One open connection, as the registry knows it.
struct Entry {
    peer: IpAddr,
    /// Requests of the connection being answered now.
    in_flight: Arc<AtomicUsize>,
    /// Told when the connection is to be closed.
    close: Arc<Notify>,
}

/// What a connection task holds: its requests' counter, the signal that
/// closes it, and, when dropped, its place in the registry given back.
pub struct Ticket {
    id: u64,
    pub in_flight: Arc<AtomicUsize>,
    pub close: Arc<Notify>,
    registry: Arc<Registry>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.open.lock().unwrap_or_else(PoisonError::into_inner).1.remove(&self.id);
    }
}

/// Marks a request in flight for as long as it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub fn new(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first.
pub struct Registry {
    max: usize,
    per_client: usize,
    /// The next id, and the connections by id (ids grow: the first is the oldest).
    open: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

/// Why a new connection was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its peer holds `serve.max_connections_per_client` already.
    PerClient,
    /// Full, and every connection has a request in flight.
    Full,
}

impl Registry {
    pub fn new(max: usize, per_client: usize) -> Arc<Registry> {
        Arc::new(Registry { max: max.max(1), per_client: per_client.max(1), open: Mutex::new((0, BTreeMap::new())) })
    }

    /// Takes a connection from `peer` (`exempt`: a trusted proxy, with no
    /// cap of its own), closing the oldest connection with nothing in
    /// flight if the service is full.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, exempt: bool) -> Result<Ticket, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if !exempt && open.1.values().filter(|entry| entry.peer == peer).count() >= self.per_client {
            return Err(Refusal::PerClient);
        }
        if open.1.len() >= self.max {
            let idle = open.1.iter().find(|(_, entry)| entry.in_flight.load(Ordering::SeqCst) == 0).map(|(id, _)| *id);
            let Some(idle) = idle else { return Err(Refusal::Full) };
            let evicted = open.1.remove(&idle).expect("found just now");
            evicted.close.notify_one();
        }
        let id = open.0;
        open.0 += 1;
        let (in_flight, close) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        open.1.insert(id, Entry { peer, in_flight: in_flight.clone(), close: close.clone() });
        Ok(Ticket { id, in_flight, close, registry: self.clone() })
    }

    /// Connections open now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap().1.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_service_closes_its_oldest_idle_connection_never_a_busy_one() {
        let registry = Registry::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        let busy = registry.admit(a, false).unwrap();
        let _request = InFlight::new(&busy.in_flight);
        let idle = registry.admit(b, false).unwrap();
        let _third = registry.admit(b, true).unwrap();
        assert_eq!(registry.admit(b, false).err(), Some(Refusal::PerClient), "b holds two");
        let _fourth = registry.admit("203.0.113.1".parse().unwrap(), false).unwrap();
        assert_eq!(registry.len(), 3);
        // The oldest idle one was told to close; the older busy one was not.
        assert!(told_to_close(&idle), "the idle connection was closed");
        assert!(!told_to_close(&busy), "the busy connection was kept");
        drop(idle);
        assert_eq!(registry.len(), 3, "an evicted connection's ticket is not counted twice");
    }

    fn told_to_close(ticket: &Ticket) -> bool {
        let closed = ticket.close.notified();
        tokio::pin!(closed);
        closed.as_mut().enable()
    }

    #[test]
    fn the_default_cap_leaves_headroom_under_the_descriptor_limit() {
        assert_eq!(default_max_connections(Some(1024)), 960);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(1 << 20)), 16_384);
    }
}
