//! Unsubscribe tokens that name a subscriber without their address: the
//! store's id and a MAC over it, `42-3f9a…` (RFC 8058 asks for an opaque
//! identifier; an address in a URL of every message is what spam filters
//! score, SpamAssassin's GB_CUSTOM_HTM_URI).
//!
//! The MAC is HMAC-SHA256 under the unsubscribe secret, of the list's id
//! and the subscriber's, cut to 128 bits: a token cannot be forged or
//! altered without the secret, and one made for another list (another
//! List-Id) does not verify here. Checked in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of the MAC a token carries (hex: twice as many characters).
const MAC_BYTES: usize = 16;

fn mac(secret: &[u8], list_id: &str, id: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"newsroom-unsubscribe\0");
    mac.update(list_id.as_bytes());
    mac.update(b"\0");
    mac.update(id.to_string().as_bytes());
    mac
}

/// The token of subscriber `id` of the list `list_id`.
pub fn sign(secret: &[u8], list_id: &str, id: i64) -> String {
    let tag = mac(secret, list_id, id).finalize().into_bytes();
    format!("{id}-{}", hex::encode(&tag[..MAC_BYTES]))
}

/// The subscriber a token names, if it was made with `secret` for
/// `list_id` and not altered; `None` for anything else.
pub fn verify(secret: &[u8], list_id: &str, token: &str) -> Option<i64> {
    let (id, tag) = token.split_once('-')?;
    if id.is_empty() || id.len() > 19 || !id.bytes().all(|b| b.is_ascii_digit()) || tag.len() != MAC_BYTES * 2 {
        return None;
    }
    let id_text = id;
    let id: i64 = id.parse().ok()?;
    // One spelling per id (`042` is not `42`).
    if id.to_string() != id_text {
        return None;
    }
    let tag = lowercase_hex(tag)?;
    mac(secret, list_id, id).verify_truncated_left(&tag).ok()?;
    Some(id)
}

/// The bytes of `text` if it is hex in the one spelling tokens are made
/// in, lowercase: `3F9A` is another spelling of `3f9a`, and a link that
/// verifies in two spellings can be told apart from one that never did by
/// nobody but us, so it must not verify at all.
fn lowercase_hex(text: &str) -> Option<Vec<u8>> {
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()
}

/// How long a sign-up confirmation link works.
pub const CONFIRMATION_LIFETIME_SECONDS: i64 = 7 * 24 * 60 * 60;

fn confirmation_mac(secret: &[u8], list_id: &str, id: i64, issued: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"newsroom-confirm\0");
    mac.update(list_id.as_bytes());
    mac.update(format!("\0{id}\0{issued}").as_bytes());
    mac
}

/// The token of a sign-up confirmation link, `{id}-{issued}-{mac}`: the
/// subscriber and the instant (Unix seconds) the link was issued, under a
/// MAC of its own kind, so an unsubscribe token never confirms anything.
pub fn sign_confirmation(secret: &[u8], list_id: &str, id: i64, issued: i64) -> String {
    let tag = confirmation_mac(secret, list_id, id, issued).finalize().into_bytes();
    format!("{id}-{issued}-{}", hex::encode(&tag[..MAC_BYTES]))
}

/// What a confirmation token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Made here, not altered, and issued less than 7 days before `now`.
    Valid { id: i64, issued: i64 },
    /// Made here for subscriber `id`, but older than 7 days: it confirms
    /// nothing, though its holder may be told they are subscribed already.
    Expired { id: i64 },
}

/// Checks a confirmation token at `now` (Unix seconds); `None` for one
/// not made with `secret` for `list_id`, or altered.
pub fn verify_confirmation(secret: &[u8], list_id: &str, token: &str, now: i64) -> Option<Confirmation> {
    let (id, rest) = token.split_once('-')?;
    let (issued, tag) = rest.split_once('-')?;
    let number = |text: &str| -> Option<i64> {
        let valid = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
        text.parse().ok().filter(|n: &i64| valid && n.to_string() == text)
    };
    let (id, issued) = (number(id)?, number(issued)?);
    if tag.len() != MAC_BYTES * 2 {
        return None;
    }
    let tag = lowercase_hex(tag)?;
    confirmation_mac(secret, list_id, id, issued).verify_truncated_left(&tag).ok()?;
    match now.saturating_sub(issued) {
        age if (0..=CONFIRMATION_LIFETIME_SECONDS).contains(&age) => Some(Confirmation::Valid { id, issued }),
        _ => Some(Confirmation::Expired { id }),
    }
}

/// Bytes of the MAC a return-path token carries: 96 bits, so the token
/// fits a local part (64 octets at most) with the prefix and the digest.
const RETURN_PATH_MAC_BYTES: usize = 12;

fn return_path_mac(secret: &[u8], list_id: &str, id: i64, digest: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"newsroom-return-path\0");
    mac.update(list_id.as_bytes());
    mac.update(format!("\0{id}\0{digest}").as_bytes());
    mac
}

/// The VERP token of a message's envelope sender, `{id}-{digest}-{mac}`:
/// the subscriber, the digest (`202610` for October 2026, `0` for a
/// message of no digest, such as a sign-up confirmation) and a MAC of its
/// own kind, lowercase (some relays fold the case of a local part).
pub fn sign_return_path(secret: &[u8], list_id: &str, id: i64, digest: &str) -> String {
    let tag = return_path_mac(secret, list_id, id, digest).finalize().into_bytes();
    format!("{id}-{digest}-{}", hex::encode(&tag[..RETURN_PATH_MAC_BYTES]))
}

/// The subscriber and digest a return-path token names, if it was made
/// with `secret` for `list_id` and not altered (in any letter case).
pub fn verify_return_path(secret: &[u8], list_id: &str, token: &str) -> Option<(i64, String)> {
    let token = token.to_ascii_lowercase();
    let mut parts = token.splitn(3, '-');
    let (id_text, digest, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |text: &str| !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits(id_text) || !digits(digest) || tag.len() != RETURN_PATH_MAC_BYTES * 2 {
        return None;
    }
    let id: i64 = id_text.parse().ok().filter(|id: &i64| id.to_string() == id_text)?;
    let tag = hex::decode(tag).ok()?;
    return_path_mac(secret, list_id, id, digest).verify_truncated_left(&tag).ok()?;
    Some((id, digest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_subscriber_and_nothing_else_verifies() {
        let token = sign(b"secret", "news.example.org", 42);
        assert!(token.starts_with("42-") && token.len() == 3 + 32, "{token}");
        assert_eq!(verify(b"secret", "news.example.org", &token), Some(42));
        let tag = &token[3..];
        let last = if tag.ends_with('0') { "1" } else { "0" };
        for forged in [
            format!("43-{tag}"),                  // another subscriber's id
            format!("42-{}{last}", &tag[..31]),   // altered
            token[..token.len() - 2].to_string(), // truncated
            format!("{token}00"),                 // lengthened
            format!("-42-{tag}"),
            format!("+42-{tag}"),
            format!("042-{tag}"),
            token.to_ascii_uppercase(), // another spelling of the same MAC
            "42-".to_string(),
            String::new(),
        ] {
            assert_eq!(verify(b"secret", "news.example.org", &forged), None, "{forged}");
        }
        assert_eq!(verify(b"other secret", "news.example.org", &token), None, "another secret");
        assert_eq!(verify(b"secret", "other.example.org", &token), None, "another list");
    }

    #[test]
    fn confirmation_tokens_expire_after_seven_days_and_are_not_unsubscribe_tokens() {
        let issued = 1_800_000_000;
        let token = sign_confirmation(b"secret", "l.org", 42, issued);
        let check = |token: &str, now| verify_confirmation(b"secret", "l.org", token, now);
        assert_eq!(check(&token, issued), Some(Confirmation::Valid { id: 42, issued }));
        assert_eq!(check(&token.to_ascii_uppercase(), issued), None, "one spelling");
        assert_eq!(check(&token, issued + CONFIRMATION_LIFETIME_SECONDS), Some(Confirmation::Valid { id: 42, issued }));
        assert_eq!(check(&token, issued + CONFIRMATION_LIFETIME_SECONDS + 1), Some(Confirmation::Expired { id: 42 }));
        // A later issue date, to make it last longer, breaks the MAC.
        let tag = token.rsplit('-').next().unwrap();
        assert_eq!(check(&format!("42-{}-{tag}", issued + 100), issued), None);
        assert_eq!(check(&format!("43-{issued}-{tag}"), issued), None);
        assert_eq!(verify_confirmation(b"secret", "other.org", &token, issued), None);
        assert_eq!(verify(b"secret", "l.org", &token), None, "not an unsubscribe token");
        assert_eq!(check(&sign(b"secret", "l.org", 42), issued), None, "an unsubscribe token confirms nothing");
    }

    #[test]
    fn return_path_tokens_name_subscriber_and_digest_in_any_case() {
        let token = sign_return_path(b"secret", "l.org", 7, "202610");
        assert!(token.starts_with("7-202610-") && token.len() == 9 + 24, "{token}");
        assert_eq!(verify_return_path(b"secret", "l.org", &token), Some((7, "202610".into())));
        assert_eq!(verify_return_path(b"secret", "l.org", &token.to_ascii_uppercase()), Some((7, "202610".into())));
        let tag = token.rsplit('-').next().unwrap();
        for forged in
            [format!("8-202610-{tag}"), format!("7-202609-{tag}"), format!("07-202610-{tag}"), token[..20].into()]
        {
            assert_eq!(verify_return_path(b"secret", "l.org", &forged), None, "{forged}");
        }
        assert_eq!(verify_return_path(b"secret", "other.org", &token), None);
        assert_eq!(verify(b"secret", "l.org", &token), None, "not an unsubscribe token");
        // Python's hmac module, on the rule above (tests/fixtures/returned/make.py).
        assert_eq!(
            sign_return_path(b"newsroom-test-secret-0123456789abcdef", "news.example.org", 1, "202610"),
            "1-202610-0187276d09f5076b6709c858"
        );
    }
}
