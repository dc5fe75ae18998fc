//! DKIM signatures (RFC 6376) over the exact bytes a message is written or
//! sent as, with `mail-auth`: it signs bytes newsroom assembles itself
//! (lettre's `dkim` module signs only a `Message` it formats, with its own
//! header choice), supports RSA and Ed25519 (RFC 8463), and reads the
//! messages with `mail-parser`, which newsroom already uses.
//!
//! `relaxed/relaxed`, over the headers RFC 8058 §4 asks receivers to see
//! signed before they offer one-click unsubscribe (List-Unsubscribe and
//! List-Unsubscribe-Post) and the ones a reader sees.

use std::path::Path;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::config::DkimConfig;

/// The headers every signature covers, when the message has them.
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
];

/// Smallest RSA key accepted (RFC 8301: 1024 is the floor; providers ask 2048).
const MIN_RSA_BITS: usize = 2048;

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// A loaded key, ready to sign.
pub struct Signer {
    key: Key,
    /// The DNS TXT record to publish at `{selector}._domainkey.{domain}`.
    pub record: String,
    pub domain: String,
    pub selector: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(d={}, s={})", self.domain, self.selector)
    }
}

impl Signer {
    /// Reads and checks the key `config` names (relative to `site_root`).
    /// The error is a sentence for the user.
    pub fn load(site_root: &Path, config: &DkimConfig) -> Result<Signer, String> {
        let domain = config.domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty()
            || !domain.contains('.')
            || !domain.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
        {
            return Err(format!("delivery.dkim.domain `{}` is not a domain name", config.domain));
        }
        let selector = config.selector.trim().to_string();
        if selector.is_empty() || !selector.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(format!(
                "delivery.dkim.selector `{}` must be letters, digits, `-`, `.` or `_`",
                config.selector
            ));
        }
        let path = site_root.join(&config.key);
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read the DKIM key `{}`: {e}", config.key.display()))?;
        let der = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|e| format!("`{}` is not a PEM private key: {e}", config.key.display()))?;
        fn signer<T: mail_auth::common::crypto::SigningKey>(
            key: T,
            domain: &str,
            selector: &str,
        ) -> DkimSigner<T, Done> {
            DkimSigner::from_key(key)
                .domain(domain)
                .selector(selector)
                .headers(SIGNED_HEADERS)
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed)
        }
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let ed25519 = match &der {
            PrivateKeyDer::Pkcs8(pkcs8) => Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der()).ok(),
            _ => None,
        };
        let (key, record) = match ed25519 {
            Some(key) => {
                let record = format!("v=DKIM1; k=ed25519; p={}", b64(&key.public_key()));
                (Key::Ed25519(signer(key, &domain, &selector)), record)
            }
            None => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
                use rsa::traits::PublicKeyParts;
                // The size is read with the rsa crate first: ring refuses a
                // short key with no more than `TooSmall`.
                let private = match &der {
                    PrivateKeyDer::Pkcs1(key) => rsa::RsaPrivateKey::from_pkcs1_der(key.secret_pkcs1_der()).ok(),
                    PrivateKeyDer::Pkcs8(key) => rsa::RsaPrivateKey::from_pkcs8_der(key.secret_pkcs8_der()).ok(),
                    _ => None,
                };
                let public = private
                    .map(|key| key.to_public_key())
                    .ok_or_else(|| format!("`{}` is neither an RSA nor an Ed25519 key", config.key.display()))?;
                let bits = public.n().bits();
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "the DKIM key `{}` is RSA of {bits} bits: mailbox providers ask for {MIN_RSA_BITS} or more",
                        config.key.display()
                    ));
                }
                // SubjectPublicKeyInfo, as opendkim-genkey and providers publish it.
                let spki = public
                    .to_public_key_der()
                    .map_err(|e| format!("the public half of `{}` cannot be written: {e}", config.key.display()))?;
                let record = format!("v=DKIM1; k=rsa; p={}", b64(spki.as_bytes()));
                let key = RsaKey::<Sha256>::from_key_der(der.clone_key())
                    .map_err(|e| format!("`{}` is not an RSA key ring can sign with: {e}", config.key.display()))?;
                (Key::Rsa(signer(key, &domain, &selector)), record)
            }
        };
        Ok(Signer { key, record, domain, selector })
    }

    /// The `DKIM-Signature:` header line (CRLF-terminated) for `message`,
    /// to be written before it.
    pub fn header(&self, message: &[u8]) -> anyhow::Result<String> {
        let signature = match &self.key {
            Key::Rsa(signer) => signer.sign(message),
            Key::Ed25519(signer) => signer.sign(message),
        }
        .map_err(|e| anyhow::anyhow!("DKIM signing failed: {e}"))?;
        Ok(refold(&signature.to_header()))
    }

    /// Whether a From domain is aligned with the signing domain (DMARC's
    /// relaxed alignment: the same domain or one under it).
    pub fn aligns_with(&self, from_domain: &str) -> bool {
        let from = from_domain.trim_end_matches('.').to_ascii_lowercase();
        from == self.domain || from.ends_with(&format!(".{}", self.domain))
    }
}

/// The longest header line RFC 5322 asks a sender to write (2.1.1).
const FOLD_AT: usize = 78;

/// A `DKIM-Signature:` field as `mail-auth` writes it, folded again so that
/// no line is longer than 78 octets where a fold can go (its first line
/// came out at 83). Folds go only where the field has white space already,
/// each run of it written as one space or as a fold: `relaxed` header
/// canonicalisation (RFC 6376, 3.4.2) reads either as one space, so the
/// signature over the field, `bh=` included, still verifies. A word longer
/// than a line stays whole.
fn refold(field: &str) -> String {
    let mut folded = String::with_capacity(field.len() + 16);
    let mut line = 0;
    for (index, word) in field.split_ascii_whitespace().enumerate() {
        // Never right after the field's name: that would gain nothing.
        if index > 0 {
            if index > 1 && line + 1 + word.len() > FOLD_AT {
                folded.push_str("\r\n\t");
                line = 1;
            } else {
                folded.push(' ');
                line += 1;
            }
        }
        folded.push_str(word);
        line += word.len();
    }
    folded.push_str("\r\n");
    folded
}

/// Every key of `delivery.dkim`: one, or several (dual signing, RSA and
/// Ed25519), each signature made over the message without the others.
#[derive(Debug)]
pub struct Signers(pub Vec<Signer>);

impl Signers {
    /// The `DKIM-Signature:` lines (CRLF-terminated), one per key, to be
    /// written before `message`.
    pub fn header(&self, message: &[u8]) -> anyhow::Result<String> {
        let mut headers = String::new();
        for signer in &self.0 {
            headers.push_str(&signer.header(message)?);
        }
        Ok(headers)
    }
}

/// The site's signers when `delivery.dkim` is set. A key that cannot be
/// used is a configuration error at `delivery.dkim` (exit status 2): a
/// send must not go out unsigned when signing was asked for.
pub fn for_site(site: &crate::site::Site) -> Result<Option<std::sync::Arc<Signers>>, crate::config::ConfigError> {
    if site.config.delivery.dkim.is_empty() {
        return Ok(None);
    }
    let signers = site
        .config
        .delivery
        .dkim
        .iter()
        .map(|config| Signer::load(&site.root, config))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| site.config.error_at("delivery", "dkim", problem))?;
    Ok(Some(std::sync::Arc::new(Signers(signers))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 27, point 9: the first line of mail-auth's field was 83 octets.
    #[test]
    fn a_signature_field_is_folded_within_78_octets_at_its_own_white_space() {
        let signer = load("rsa2048.pem").unwrap();
        let message = b"From: a@lantern.example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n";
        let field = signer.header(message).unwrap();
        assert!(field.ends_with("\r\n") && field.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"), "{field}");
        for line in field.trim_end().split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{} octets: {line}", line.len());
        }
        // The same words, in the same order, with the same white space between them.
        let words = |text: &str| text.split_ascii_whitespace().map(str::to_string).collect::<Vec<_>>();
        let raw = match &signer.key {
            Key::Rsa(rsa) => rsa.sign(message).unwrap().to_header(),
            Key::Ed25519(_) => unreachable!(),
        };
        let strip_b =
            |words: Vec<String>| -> Vec<String> { words.into_iter().take_while(|w| !w.starts_with("b=")).collect() };
        assert_eq!(strip_b(words(&field)), strip_b(words(&raw)));
        assert_eq!(refold("A: b  c\r\n\td\r\n"), "A: b c d\r\n");
        assert_eq!(refold(&format!("A: {}\r\n", "x".repeat(100))), format!("A: {}\r\n", "x".repeat(100)));
    }

    fn load(key: &str) -> Result<Signer, String> {
        let config = DkimConfig { domain: "Lantern.Example.org.".into(), selector: "news".into(), key: key.into() };
        Signer::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim"), &config)
    }

    #[test]
    fn keys_load_with_their_records_and_weak_ones_are_refused() {
        let rsa = load("rsa2048.pem").unwrap();
        assert_eq!(rsa.domain, "lantern.example.org");
        // SubjectPublicKeyInfo of a 2048-bit key: always this prefix.
        assert!(
            rsa.record.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
            "{}",
            rsa.record
        );
        let ed = load("ed25519.pem").unwrap();
        assert!(ed.record.starts_with("v=DKIM1; k=ed25519; p=") && ed.record.len() == 22 + 44, "{}", ed.record);
        assert_eq!(
            load("rsa1024.pem").unwrap_err(),
            "the DKIM key `rsa1024.pem` is RSA of 1024 bits: mailbox providers ask for 2048 or more"
        );
        assert!(load("nothing.pem").unwrap_err().starts_with("cannot read the DKIM key `nothing.pem`"));
        assert!(rsa.aligns_with("lantern.example.org") && rsa.aligns_with("news.Lantern.example.org"));
        assert!(!rsa.aligns_with("example.org") && !rsa.aligns_with("evil-lantern.example.org"));
    }

    #[test]
    fn the_signature_covers_both_list_headers() {
        let message = b"From: a@lantern.example.org\r\nTo: b@x.org\r\nSubject: s\r\nList-Unsubscribe: <https://x>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nbody\r\n";
        let header = load("ed25519.pem").unwrap().header(message).unwrap();
        let unfolded = header.replace("\r\n\t", "").replace("\r\n ", "");
        let h = unfolded.split(';').find_map(|tag| tag.trim().strip_prefix("h=")).unwrap().to_ascii_lowercase();
        let covered: Vec<&str> = h.split(':').map(str::trim).collect();
        for name in ["from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post"] {
            assert!(covered.contains(&name), "{name} not in h={h}");
        }
        assert!(header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;") && header.ends_with("\r\n"), "{header}");
    }
}
