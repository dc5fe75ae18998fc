#![no_main]
//! Markdown → HTML: a post body (`.md` or `.mdx`, with or without a
//! description, picked by the input's length) under fixed front matter,
//! rendered to the feeds' HTML and to the digest email built from it.

use libfuzzer_sys::fuzz_target;
use newsroom_fuzz::{CONFIG, TEMPLATE, email, load_post, publish_feeds, render};

fuzz_target!(|data: &[u8]| {
    let extension = if data.len() % 2 == 0 { "md" } else { "mdx" };
    let description = if data.len() % 4 < 2 { "" } else { "description: A <b>short</b> description\n" };
    let mut file = format!("---\ntitle: Fuzz\n{description}authors: [ada]\ntags: [fuzz]\n---\n").into_bytes();
    file.extend_from_slice(data);
    let path = format!("posts/2026-10-05-fuzz.{extension}");
    if let Some((post, body)) = load_post(&file, path.as_ref()) {
        let rendered = render(&post, &body);
        publish_feeds(&CONFIG, &post, &rendered);
        email(&CONFIG, &TEMPLATE, &post, &rendered);
    }
});
