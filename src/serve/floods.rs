//! Sign-up floods ("subscription bombing"): a form that mails a message to
//! any address it is given can be made to fill a victim's inbox, or to
//! send the operator's relay a flood that ruins its reputation. Besides the
//! per-client rate, three limits stand between the form and the relay:
//!
//! - one confirmation an hour per *mailbox*, as its provider delivers it
//!   ([`delivered_mailbox`]): `j.a.n.e+1@gmail.com` and `jane+2@gmail.com`
//!   reach one inbox, so they count as one;
//! - `serve.signup.per_domain_per_hour` sign-ups per target domain;
//! - `serve.signup.confirmations_per_hour` sign-ups in all.
//!
//! The last two answer `429` with a page that says so, and log a line;
//! the first mails nothing and answers as usual (like the store's own
//! one-an-hour rule, which is per address as written). They count every
//! well-formed sign-up, whatever the store holds, so neither the page nor
//! the limits tell who is on the list.
//!
//! Every keyed limiter here and in the service is pruned on a timer
//! ([`prune`]): governor keeps a key until told to forget it, and a flood
//! from 2 M addresses otherwise kept 129 MiB for good.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Sign-ups in all an hour, unless configured.
pub const DEFAULT_CONFIRMATIONS_PER_HOUR: u32 = 600;
/// Sign-ups to one domain an hour, unless configured.
pub const DEFAULT_PER_DOMAIN_PER_HOUR: u32 = 300;

/// Providers whose mailboxes have more than one spelling: the domains, and
/// whether dots in the local part are ignored and whether a `+tag` is.
/// Sources, as each provider documents it:
/// - Gmail: dots do not matter (support.google.com/mail/answer/7436150),
///   and `you+anything@gmail.com` reaches `you@gmail.com`
///   (support.google.com/mail/answer/12096, "plus addressing").
/// - Outlook.com and Exchange Online: plus addressing
///   (learn.microsoft.com/exchange/recipients-in-exchange-online/plus-addressing-in-exchange-online).
/// - Fastmail: plus addressing
///   (fastmail.help/hc/en-us/articles/360060591053-Plus-addressing-and-subdomain-addressing).
/// - Proton Mail: `+` aliases (proton.me/support/addresses-and-aliases).
/// - iCloud Mail: plus addressing (support.apple.com/guide/icloud/mm6b1a490a).
const PROVIDERS: &[(&[&str], Spellings)] = &[
    (&["gmail.com", "googlemail.com"], Spellings { dots_ignored: true, plus_tag: true }),
    (&["outlook.com", "hotmail.com", "live.com", "msn.com"], Spellings { dots_ignored: false, plus_tag: true }),
    (&["fastmail.com", "fastmail.fm"], Spellings { dots_ignored: false, plus_tag: true }),
    (&["proton.me", "protonmail.com", "protonmail.ch", "pm.me"], Spellings { dots_ignored: false, plus_tag: true }),
    (&["icloud.com", "me.com", "mac.com"], Spellings { dots_ignored: false, plus_tag: true }),
];

/// How a provider spells one mailbox many ways.
struct Spellings {
    dots_ignored: bool,
    plus_tag: bool,
}

/// The mailbox an address is delivered to, lowercase: for the providers of
/// [`PROVIDERS`], without the dots and the `+tag` they ignore, and
/// `googlemail.com` as `gmail.com` (one inbox under either). Any other
/// address is only case-folded: its provider may tell `a+b` from `a`.
pub fn delivered_mailbox(address: &str) -> String {
    let address = address.to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else { return address };
    let Some((domains, spellings)) = PROVIDERS.iter().find(|(domains, _)| domains.contains(&domain)) else {
        return address;
    };
    let mut local = local;
    if spellings.plus_tag {
        local = local.split('+').next().unwrap_or(local);
    }
    let local = if spellings.dots_ignored { local.replace('.', "") } else { local.to_string() };
    format!("{local}@{}", domains[0])
}

/// The domain a sign-up would mail to, lowercase (`googlemail.com` is
/// `gmail.com`).
pub fn target_domain(address: &str) -> String {
    let mailbox = delivered_mailbox(address);
    mailbox.rsplit_once('@').map_or(String::new(), |(_, domain)| domain.to_string())
}

/// What a sign-up may do, by [`SignUpLimits::check`].
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: record it and mail a confirmation.
    Mail,
    /// The mailbox had one this hour: answer as usual, mail nothing.
    MailboxHadOne,
    /// Refused (`429`): the named limit is reached; retry after the seconds.
    Refused { limit: &'static str, per_hour: u32, retry_after: u64 },
}

/// The limits of the module's doc.
pub struct SignUpLimits {
    mailbox: DefaultKeyedRateLimiter<String>,
    domain: DefaultKeyedRateLimiter<String>,
    global: DefaultDirectRateLimiter,
    per_domain_per_hour: u32,
    confirmations_per_hour: u32,
    /// When each cap's refusal was last logged (Unix seconds; in all, per
    /// domain), so a flood logs a line a minute, not a line a request.
    last_logged: [AtomicU64; 2],
}

impl SignUpLimits {
    pub fn new(confirmations_per_hour: NonZeroU32, per_domain_per_hour: NonZeroU32) -> SignUpLimits {
        let hourly = |n: NonZeroU32| Quota::per_hour(n).allow_burst(n);
        SignUpLimits {
            mailbox: RateLimiter::keyed(hourly(NonZeroU32::MIN)),
            domain: RateLimiter::keyed(hourly(per_domain_per_hour)),
            global: RateLimiter::direct(hourly(confirmations_per_hour)),
            per_domain_per_hour: per_domain_per_hour.get(),
            confirmations_per_hour: confirmations_per_hour.get(),
            last_logged: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Counts a sign-up of `address` against the limits, in the order
    /// in all, per domain, per mailbox.
    pub fn check(&self, address: &str) -> Verdict {
        let now = governor::clock::DefaultClock::default().now();
        let refused = |limit, per_hour, not_until: governor::NotUntil<_>| Verdict::Refused {
            limit,
            per_hour,
            retry_after: not_until.wait_time_from(now).as_secs().max(1),
        };
        if let Err(not_until) = self.global.check() {
            return refused("serve.signup.confirmations_per_hour", self.confirmations_per_hour, not_until);
        }
        if let Err(not_until) = self.domain.check_key(&target_domain(address)) {
            return refused("serve.signup.per_domain_per_hour", self.per_domain_per_hour, not_until);
        }
        match self.mailbox.check_key(&delivered_mailbox(address)) {
            Ok(()) => Verdict::Mail,
            Err(_) => Verdict::MailboxHadOne,
        }
    }

    /// Whether a refusal by `limit` at `now` (Unix seconds) should be
    /// logged: the first of each minute.
    pub fn log_refusal(&self, limit: &str, now: u64) -> bool {
        let logged = &self.last_logged[usize::from(limit != "serve.signup.confirmations_per_hour")];
        let last = logged.load(Ordering::Relaxed);
        now >= last + 60 && logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Forgets the mailboxes and domains whose limit is back to full.
    pub fn prune(&self) -> Pruned {
        let (mailbox, domain) = (prune(&self.mailbox), prune(&self.domain));
        Pruned { forgot: mailbox.forgot + domain.forgot, kept: mailbox.kept + domain.kept }
    }
}

/// What a [`prune`] did: keys forgotten, keys still remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub forgot: usize,
    pub kept: usize,
}

/// Forgets the keys of `limiter` whose state is back to a fresh one (no
/// request in the last period), and gives the memory back.
pub fn prune<K, C>(limiter: &RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>) -> Pruned
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    let before = limiter.len();
    limiter.retain_recent();
    limiter.shrink_to_fit();
    let kept = limiter.len();
    Pruned { forgot: before.saturating_sub(kept), kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_drops_dots_and_tags_and_other_providers_what_they_document() {
        for (address, mailbox) in [
            ("J.a.n.e+news@GMail.com", "jane@gmail.com"),
            ("jane+1+2@googlemail.com", "jane@gmail.com"),
            ("j.ane+x@outlook.com", "j.ane@outlook.com"),
            ("ada+list@fastmail.com", "ada@fastmail.com"),
            ("ada+list@pm.me", "ada@proton.me"),
            ("a.da+list@example.org", "a.da+list@example.org"),
            ("Ada@Example.ORG", "ada@example.org"),
        ] {
            assert_eq!(delivered_mailbox(address), mailbox, "{address}");
        }
    }

    #[test]
    fn one_confirmation_a_mailbox_and_the_caps_refuse_with_a_reason() {
        let limits = SignUpLimits::new(NonZeroU32::new(5).unwrap(), NonZeroU32::new(3).unwrap());
        assert_eq!(limits.check("jane@gmail.com"), Verdict::Mail);
        assert_eq!(limits.check("j.a.n.e+2@gmail.com"), Verdict::MailboxHadOne);
        assert_eq!(limits.check("bob@googlemail.com"), Verdict::Mail, "another mailbox of the same domain");
        let refused = limits.check("carl@gmail.com");
        assert!(
            matches!(
                refused,
                Verdict::Refused { limit: "serve.signup.per_domain_per_hour", per_hour: 3, retry_after: 1100..=1200 }
            ),
            "{refused:?}"
        );
        assert_eq!(limits.check("a@example.org"), Verdict::Mail);
        assert!(matches!(
            limits.check("b@example.org"),
            Verdict::Refused { limit: "serve.signup.confirmations_per_hour", .. }
        ));
    }

    /// Issue 27, point 7: governor never forgets a key by itself.
    #[test]
    fn pruning_forgets_every_key_whose_period_has_passed() {
        let clock = governor::clock::FakeRelativeClock::default();
        let quota = Quota::per_second(NonZeroU32::new(10).unwrap()).allow_burst(NonZeroU32::new(20).unwrap());
        let limiter = RateLimiter::new(quota, DefaultKeyedStateStore::<u32>::default(), clock.clone());
        for key in 0..10_000 {
            limiter.check_key(&key).unwrap();
        }
        assert_eq!(prune(&limiter), Pruned { forgot: 0, kept: 10_000 }, "every key is still within its period");
        assert_eq!(limiter.len(), 10_000);
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(
            prune(&limiter),
            Pruned { forgot: 10_000, kept: 0 },
            "nothing is remembered of a key once its state is fresh again"
        );
        assert_eq!(limiter.len(), 0);
    }
}
