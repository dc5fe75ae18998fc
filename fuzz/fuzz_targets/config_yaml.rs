#![no_main]
//! `newsroom.yaml`: parsing, then a sample post's feeds and digest email
//! made with the configuration, since every text in it ends up in one or
//! the other.

use libfuzzer_sys::fuzz_target;
use newsroom::config::Config;
use newsroom_fuzz::{SAMPLE, TEMPLATE, email, publish_feeds};

fuzz_target!(|data: &[u8]| {
    // `Config::load` reads the file as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = Config::parse(text, "newsroom.yaml".as_ref()) else { return };
    let blog_url = config.blog_url();
    assert!(blog_url.ends_with('/') && url::Url::parse(&blog_url).is_ok(), "{blog_url}");
    let (post, rendered) = &*SAMPLE;
    publish_feeds(&config, post, rendered);
    email(&config, &TEMPLATE, post, rendered);
});
