#![no_main]
//! The subscriber CSV: reading, the promises `SubscriberList` makes about
//! its rows, a digest message for each subscriber it accepts, and the
//! merge of the same bytes into an empty store (one subscriber per accepted
//! row, each with its event; merging again changes nothing).

use std::collections::HashSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use newsroom::email::message;
use newsroom::digest::{Digest, DigestInput, Edition, Month};
use newsroom::store::Store;
use newsroom::subscriber::normalise_address;
use newsroom::subscribers::parse;
use newsroom_fuzz::{CONFIG, SAMPLE, TEMPLATE, check_diagnostics, check_head, check_page_html, sender};

static DIGEST: LazyLock<Digest> = LazyLock::new(|| {
    let (post, rendered) = &*SAMPLE;
    let input = DigestInput { edition: Edition::monthly(Month::of(post.date)), posts: vec![(post, rendered)] };
    Digest::render(&CONFIG, &TEMPLATE, &input).expect("the sample digest renders")
});

fuzz_target!(|data: &[u8]| {
    let list = parse(data, "subscribers.csv".as_ref());
    check_diagnostics(&list.diagnostics);
    let mut previous_line = 1;
    let mut addresses = HashSet::new();
    for subscriber in &list.subscribers {
        assert!(subscriber.line > previous_line, "rows in file order, below the header: {subscriber:?}");
        previous_line = subscriber.line;
        assert_eq!(normalise_address(&subscriber.email).as_ref(), Ok(&subscriber.email), "normalised once");
        assert!(addresses.insert(subscriber.email.clone()), "duplicate {}", subscriber.email);
        if let Some(name) = &subscriber.name {
            assert!(!name.is_empty() && !name.contains(char::is_control) && !name.contains("  "), "{name:?}");
            assert_eq!(name.trim(), name);
        }
    }
    let sender = sender(&CONFIG);
    for subscriber in list.active().take(8) {
        let message = message::build(&*DIGEST, &sender, &subscriber.person()).expect("a message for every accepted subscriber");
        check_page_html("message html", &message::personal_parts(&*DIGEST, &sender, &subscriber.person()).0);
        check_head(&message.bytes(), &sender, &subscriber.email);
    }
    let store = Store::open_in_memory().expect("an empty store");
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("a time");
    let report = store.merge(data, "subscribers.csv".as_ref(), false, now).expect("a merge never fails on bad rows");
    let stored = store.subscribers(None).expect("the subscribers");
    assert_eq!(stored.len(), list.subscribers.len(), "one subscriber per accepted row: {report:?}");
    for (row, subscriber) in list.subscribers.iter().zip(&stored) {
        assert_eq!(row.email, subscriber.address);
        assert_eq!(row.status, subscriber.status, "{}", row.email);
        assert_eq!(store.events(subscriber.id).expect("events").len(), 1, "{}", row.email);
    }
    let again = store.merge(data, "subscribers.csv".as_ref(), false, now).expect("a second merge");
    assert_eq!(again.changes(), None, "merging the same bytes again changed something");
    for subscriber in &stored {
        assert_eq!(store.events(subscriber.id).expect("events").len(), 1, "{}", subscriber.address);
    }
});
