#![no_main]
//! Returned mail (`newsroom inbound`): any bytes are classified without a
//! panic, attributed only through a token that verifies or an address the
//! store holds, and recorded once: the same bytes again change nothing.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use newsroom::config::BouncePolicy;
use newsroom::inbound::{self, Intake, Outcome, Settings};
use newsroom::store::Store;
use newsroom::store::inbound::Applied;

static INTAKE: LazyLock<Intake> = LazyLock::new(|| Intake {
    settings: Settings::new(Some(("bounces+", "@example.org")), Some("unsubscribe@example.org")),
    secret: b"inbound-test-secret".to_vec(),
    list_id: "news.example.org".into(),
    policy: BouncePolicy::default(),
    // The settings above have a return path: a bounce acts through its VERP token only.
    bounces_need_token: true,
});

/// libFuzzer's panic hook aborts on any panic. mail-parser 0.11.9 has a
/// `debug_assert!` (parsers/message.rs, "Invalid part ID") that malformed
/// multipart nesting trips, in builds with debug assertions only;
/// `classify` catches it and calls the message unrecognised (seed
/// `mail-parser-debug-assert.eml`). That one panic is let through to be
/// caught; every other still aborts.
fn let_mail_parsers_debug_assertion_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let upstream = info.location().is_some_and(|at| {
                at.file().contains("mail-parser-0.11.9") && at.file().ends_with("parsers/message.rs")
            });
            if !upstream {
                fuzzer_hook(info)
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_mail_parsers_debug_assertion_unwind();
    let classification = inbound::classify(&INTAKE.settings, data);
    assert!(!classification.detail.contains('\n'), "a detail is one line: {:?}", classification.detail);
    if let Some(status) = &classification.status {
        let parts: Vec<&str> = status.split('.').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
            "{status}"
        );
    }
    let store = Store::open_in_memory().expect("an empty store");
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("a time");
    for address in ["ada@example.com", "bob@example.net", "carol@mail.example.org"] {
        store.add(address, None, false, now).expect("a subscriber");
    }
    let first = inbound::handle(&store, &INTAKE, data, now).expect("handling never fails on bad mail");
    let second = inbound::handle(&store, &INTAKE, data, now).expect("handling never fails on bad mail");
    match (&first, &second) {
        (Outcome::Handled { attribution, .. }, Outcome::Handled { applied, .. }) => {
            assert_eq!(applied, &Applied::AlreadyHandled, "the same bytes were recorded twice");
            if let Some(id) = attribution.subscriber_id {
                assert!(id >= 1 && id <= 3, "attributed to a subscriber the store does not have: {id}");
            }
        }
        (Outcome::Unrecognised(_), Outcome::Unrecognised(_)) => {}
        _ => panic!("the same bytes were handled differently: {first:?} then {second:?}"),
    }
});
