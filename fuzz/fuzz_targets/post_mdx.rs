#![no_main]
//! Post loading of a whole `.mdx` file (MDX-lite: imports, exports, components, `{/* */}` comments) (front matter and body), then
//! rendering and the feed set, as `newsroom build` does for each post, and
//! the digest of its month with one subscriber's message, as `digest preview` does.

use libfuzzer_sys::fuzz_target;
use newsroom_fuzz::{CONFIG, TEMPLATE, email, load_post, post_path, publish_feeds, render};

fuzz_target!(|data: &[u8]| {
    if let Some((post, body)) = load_post(data, &post_path(data.len(), "mdx")) {
        let rendered = render(&post, &body);
        publish_feeds(&CONFIG, &post, &rendered);
        email(&CONFIG, &TEMPLATE, &post, &rendered);
    }
});
