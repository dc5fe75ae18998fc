#![no_main]
//! `templates/digest.md` (and, after a NUL byte, `templates/email.css`):
//! parsing, then the digest of a sample post and one subscriber's message.

use libfuzzer_sys::fuzz_target;
use newsroom::email::template::{DEFAULT_EMAIL_CSS, DigestTemplate};
use newsroom_fuzz::{CONFIG, SAMPLE, email};

fuzz_target!(|data: &[u8]| {
    let (markdown, css) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, DEFAULT_EMAIL_CSS.as_bytes()),
    };
    // `DigestTemplate::load` reads both files as UTF-8 text.
    let (Ok(markdown), Ok(css)) = (std::str::from_utf8(markdown), std::str::from_utf8(css)) else { return };
    let Ok(template) = DigestTemplate::parse(markdown, "templates/digest.md".as_ref(), css.to_string()) else {
        return;
    };
    let (post, rendered) = &*SAMPLE;
    email(&CONFIG, &template, post, rendered);
});
