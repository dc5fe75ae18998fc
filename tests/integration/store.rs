//! The subscriber store (issue 17): the merge rules of a subscriber file as
//! a table, export → import → export, erasure down to the file's bytes, and
//! random sequences of changes that must keep every opt-out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use newsroom::store::{Channel, Event, EventKind, Store, SubscriberStatus};
use proptest::prelude::*;

use crate::support::*;

const LIST: &str = "list.csv";

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, minute, 0).unwrap()
}

fn merge(store: &Store, csv: &str, minute: u32) -> newsroom::store::import::ImportReport {
    store.merge(csv.as_bytes(), Path::new(LIST), false, at(minute)).unwrap()
}

fn kinds(store: &Store, address: &str) -> Vec<EventKind> {
    match store.subscriber(address).unwrap() {
        Some(subscriber) => store.events(subscriber.id).unwrap().into_iter().map(|e| e.kind).collect(),
        None => Vec::new(),
    }
}

/// A store holding `ada@example.org` in `stored` (`None`: not at all),
/// reached the way a real one gets there.
fn store_in(stored: Option<&str>) -> TestStore {
    let store = fresh_store();
    let Some(stored) = stored else { return store };
    match stored {
        "subscribed" | "pending" | "complained" => {
            merge(&store, &format!("email,status\nada@example.org,{stored}\n"), 0);
        }
        "unsubscribed" => {
            merge(&store, "email\nada@example.org\n", 0);
            store.unsubscribe("ada@example.org", Channel::OneClick, Some("digest-2026-10"), at(1)).unwrap();
        }
        "bounced" => {
            merge(&store, "email\nada@example.org\n", 0);
            let id = store.subscriber("ada@example.org").unwrap().unwrap().id;
            let event = Event::new(EventKind::Bounced, Channel::Relay).detail("hard: 550 5.1.1 unknown");
            store.bounce(id, &event, at(1)).unwrap();
        }
        "removed" => {
            merge(&store, "email\nada@example.org\n", 0);
            merge(&store, "email\nbob@example.org\n", 1);
        }
        other => panic!("no way to {other}"),
    }
    let status = store.subscriber("ada@example.org").unwrap().unwrap().status;
    assert_eq!(status.as_str(), stored, "setting the table's row up");
    store
}

both_backends! {
/// The merge rules, as a table: what the store holds × what the file's row
/// says (or no row) → the status after the merge and the events it
/// recorded. Written out by hand, row by row, from the rules in the README.
fn the_merge_rules_as_a_table() {
    use EventKind::{Bounced as B, Complained as C, Imported as I, Removed as R, Unsubscribed as U};
    type Expected = (&'static str, &'static [EventKind]);
    // Columns: the row says subscribed, unsubscribed, bounced, complained, pending, removed; no row.
    let columns = ["subscribed", "unsubscribed", "bounced", "complained", "pending", "removed", "(no row)"];
    let table: [(Option<&str>, [Expected; 7]); 7] = [
        (
            None,
            [
                ("subscribed", &[I]),
                ("unsubscribed", &[I]),
                ("bounced", &[I]),
                ("complained", &[I]),
                ("pending", &[I]),
                ("removed", &[I]),
                ("(absent)", &[]),
            ],
        ),
        (
            Some("subscribed"),
            [
                ("subscribed", &[]),
                ("unsubscribed", &[U]),
                ("bounced", &[B]),
                ("complained", &[C]),
                ("subscribed", &[]),
                ("removed", &[R]),
                ("removed", &[R]),
            ],
        ),
        // An opt-out in the store: no row undoes it or changes it.
        (Some("unsubscribed"), [("unsubscribed", &[]); 7]),
        (Some("bounced"), [("bounced", &[]); 7]),
        (Some("complained"), [("complained", &[]); 7]),
        // Not confirmed: a row cannot confirm it, an opt-out row applies.
        (
            Some("pending"),
            [
                ("pending", &[]),
                ("unsubscribed", &[U]),
                ("bounced", &[B]),
                ("complained", &[C]),
                ("pending", &[]),
                ("pending", &[]),
                ("pending", &[]),
            ],
        ),
        // Removed because its row went: the row back brings it back.
        (
            Some("removed"),
            [
                ("subscribed", &[I]),
                ("unsubscribed", &[U]),
                ("bounced", &[B]),
                ("complained", &[C]),
                ("removed", &[]),
                ("removed", &[]),
                ("removed", &[]),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (stored, row) in &table {
        for (column, (expected_status, expected_events)) in columns.iter().zip(row) {
            let store = store_in(*stored);
            let before = kinds(&store, "ada@example.org");
            let file = match *column {
                "(no row)" => "email,status\nbob@example.org,subscribed\n".to_string(),
                says => format!("email,status\nada@example.org,{says}\n"),
            };
            merge(&store, &file, 30);
            let status = store.subscriber("ada@example.org").unwrap().map(|s| s.status.as_str());
            let events = kinds(&store, "ada@example.org")[before.len()..].to_vec();
            let got = (status.unwrap_or("(absent)"), events.as_slice());
            if got != (*expected_status, *expected_events) {
                failures.push(format!(
                    "store {stored:?} × row {column}: got {got:?}, expected {:?}",
                    (expected_status, expected_events)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Subscribers who did not come from the file (the web, the command line)
/// are never removed by it; those of another file neither.
fn a_file_removes_only_its_own_subscribers() {
    let store = fresh_store();
    store.add("cli@example.org", None, false, at(0)).unwrap();
    store.merge("email\nother@example.org\n".as_bytes(), Path::new("other.csv"), false, at(1)).unwrap();
    merge(&store, "email\nada@example.org\n", 2);
    let report = merge(&store, "email\nbob@example.org\n", 3);
    assert_eq!(report.removed, ["ada@example.org"]);
    for address in ["cli@example.org", "other@example.org"] {
        assert_eq!(store.subscriber(address).unwrap().unwrap().status, SubscriberStatus::Subscribed, "{address}");
    }
}

/// A file longer than the rows merged at a time: the rules hold across
/// the chunk boundaries. Each new subscriber gets its id in file order and
/// one `imported` event naming its line; a duplicate in a later chunk, a
/// forgotten address, a stored opt-out and a changed name are each
/// handled as they are in a short file.
fn a_long_file_merges_across_chunks_as_it_does_row_by_row() {
    let store = fresh_store();
    store.add("optout@example.org", None, false, at(0)).unwrap();
    store.unsubscribe("optout@example.org", Channel::OneClick, None, at(0)).unwrap();
    store.add("gone@example.org", None, false, at(0)).unwrap();
    assert!(store.forget("gone@example.org", at(0)).unwrap());
    merge(&store, "email,name\nrenamed@example.org,Old Name\n", 0);
    let rows = 1_234;
    let mut csv = String::from("email,name\n");
    for line in 2..=rows + 1 {
        let address = match line {
            11 => "optout@example.org".to_string(),
            // A second spelling of line 4's address, in another chunk.
            600 => "READER000004@example.org".to_string(),
            701 => "gone@example.org".to_string(),
            1_101 => "renamed@example.org".to_string(),
            _ => format!("reader{line:06}@example.org"),
        };
        let name = if line == 1_101 { "New Name".to_string() } else { format!("Reader {line}") };
        csv.push_str(&format!("{address},{name}\n"));
    }
    let report = merge(&store, &csv, 1);
    assert_eq!(report.added.len(), rows - 4, "every row but the four special ones is new");
    assert_eq!(report.kept_opted_out.len(), 1);
    assert_eq!(report.kept_opted_out[0].0, "optout@example.org");
    assert_eq!(report.forgotten, [701]);
    // The opt-out's name follows the file as anyone's does.
    assert_eq!(report.updated, ["optout@example.org", "renamed@example.org"]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!((report.skipped[0].line, report.skipped[0].reason.as_str()), (600, "duplicate of line 4 (READER000004@example.org)"));

    let added: Vec<_> = store
        .subscribers(None)
        .unwrap()
        .into_iter()
        .filter(|s| s.address.starts_with("reader"))
        .collect();
    assert_eq!(added.len(), rows - 4);
    let addresses: Vec<&str> = added.iter().map(|s| s.address.as_str()).collect();
    let in_file_order: Vec<&str> = report.added.iter().map(String::as_str).collect();
    assert_eq!(addresses, in_file_order, "ids are given in file order");
    assert!(added.windows(2).all(|pair| pair[0].id < pair[1].id));
    for subscriber in added.iter().step_by(97).chain(added.last()) {
        let line: usize = subscriber.address["reader".len()..]["000000".len() - 6..6].parse().unwrap();
        let events = store.events(subscriber.id).unwrap();
        assert_eq!(events.len(), 1, "{}", subscriber.address);
        assert_eq!(events[0].kind, EventKind::Imported);
        assert_eq!(events[0].detail.as_deref(), Some(format!("{LIST}, line {line}").as_str()));
        assert_eq!(subscriber.name.as_deref(), Some(format!("Reader {line}").as_str()));
    }
    assert_eq!(store.subscriber("renamed@example.org").unwrap().unwrap().name.as_deref(), Some("New Name"));
    assert_eq!(store.subscriber("gone@example.org").unwrap(), None);

    // The same file again changes nothing; one row fewer removes that row's reader.
    let again = merge(&store, &csv, 2);
    // Unchanged: the readers added and the renamed one; the opt-out is kept opted out.
    assert_eq!((again.added.len(), again.updated.len(), again.unchanged), (0, 0, rows - 4 + 1));
    assert_eq!(again.kept_opted_out.len(), 1);
    let shorter: String = csv.lines().filter(|line| !line.starts_with("reader001000@")).map(|l| format!("{l}\n")).collect();
    assert_eq!(merge(&store, &shorter, 3).removed, ["reader001000@example.org"]);
}

/// Every kind of subscriber, exported, imported into an empty store and
/// exported again: the same bytes. The export reads back with the csv crate.
fn export_import_export_gives_the_same_bytes() {
    let store = fresh_store();
    merge(
        &store,
        "email,name,status,company,city\n\
         ada@example.org,\"Lovelace, Ada\",subscribed,\"Example \"\"Corp\"\"\",London\n\
         Bob@Example.ORG,Bob,subscribed,,\n\
         zoe@example.org,Zoë Ångström,unsubscribed,Fjord,\n\
         pat@example.org,,pending,,Oslo\n\
         gone@example.org,Gone,subscribed,,\n",
        0,
    );
    merge(
        &store,
        "email,name,status,company,city\n\
         ada@example.org,\"Lovelace, Ada\",subscribed,\"Example \"\"Corp\"\"\",London\n\
         Bob@Example.ORG,Bob,subscribed,,\n\
         zoe@example.org,Zoë Ångström,unsubscribed,Fjord,\n\
         pat@example.org,,pending,,Oslo\n",
        1,
    );
    store.add("cli@example.org", Some("Cli Person"), false, at(2)).unwrap();
    // Issue 27, point 11: what a reader may type on the sign-up form, which a
    // spreadsheet opening the export would evaluate.
    store.add("-dash@example.org", Some("=HYPERLINK(\"http://e.test\",\"x\")"), false, at(2)).unwrap();
    store.add("quote@example.org", Some("'=already quoted"), false, at(2)).unwrap();
    store.unsubscribe("bob@example.org", Channel::Mailto, None, at(3)).unwrap();
    store.unsubscribe("never@example.org", Channel::Cli, None, at(4)).unwrap();
    let id = store.subscriber("ada@example.org").unwrap().unwrap().id;
    store.bounce(id, &Event::new(EventKind::Bounced, Channel::Relay), at(5)).unwrap();

    let mut first = Vec::new();
    assert_eq!(store.export(&mut first, false).unwrap(), 9);
    let again = fresh_store();
    let report = again.merge(first.as_slice(), Path::new("export.csv"), false, at(59)).unwrap();
    assert_eq!(report.added.len(), 9, "{report:?}");
    let name = |store: &newsroom::store::Store, address: &str| store.subscriber(address).unwrap().unwrap().name;
    assert_eq!(name(&again, "-dash@example.org").as_deref(), Some("=HYPERLINK(\"http://e.test\",\"x\")"));
    assert_eq!(name(&again, "quote@example.org").as_deref(), Some("'=already quoted"));
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let mut second = Vec::new();
    again.export(&mut second, false).unwrap();
    assert_eq!(String::from_utf8(second).unwrap(), String::from_utf8(first.clone()).unwrap());

    let mut reader = csv::Reader::from_reader(first.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        ["email", "name", "status", "source", "created_at", "confirmed_at", "changed_at", "city", "company"]
    );
    let rows: BTreeMap<String, Vec<String>> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[0].to_string(), r.iter().map(str::to_string).collect()))
        .collect();
    assert_eq!(rows["ada@example.org"][1], "Lovelace, Ada");
    assert_eq!(rows["ada@example.org"][2], "bounced");
    assert_eq!(rows["ada@example.org"][8], "Example \"Corp\"");
    assert_eq!(rows["Bob@example.org"][2], "unsubscribed");
    assert_eq!(rows["gone@example.org"][2], "removed");
    assert_eq!(rows["cli@example.org"][3], "cli");
    assert_eq!(rows["pat@example.org"][2], "pending");
    assert_eq!(rows["pat@example.org"][5], "", "a pending sign-up has no confirmation time");
    // No cell a spreadsheet would evaluate: each is shielded with a `'`.
    assert_eq!(rows["'-dash@example.org"][1], "'=HYPERLINK(\"http://e.test\",\"x\")");
    assert_eq!(rows["quote@example.org"][1], "''=already quoted");
    for row in rows.values() {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a live cell: {cell:?}");
        }
    }
    // `--raw` writes the values as stored.
    let mut raw = Vec::new();
    store.export(&mut raw, true).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("\n-dash@example.org,\"=HYPERLINK("), "{raw}");
}
}

/// `forget`: the address, its name, its history and its delivery rows are
/// gone, down to the bytes of the database file and its write-ahead log;
/// what is kept is a keyed hash, which stops an import from bringing the
/// address back.
#[test]
fn a_forgotten_address_leaves_no_bytes_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newsroom.sqlite");
    let mut store = Store::open(&path).unwrap();
    let secret_local = "erase.me.please";
    let name = "Quirinius Zebedee";
    merge(
        &store,
        &format!("email,name,team\n{secret_local}@example.org,{name},Zanzibar-Unique\nkeep@example.org,Keep,\n"),
        0,
    );
    let subscriber = store.subscriber(&format!("{secret_local}@example.org")).unwrap().unwrap();
    store.unsubscribe(&subscriber.address, Channel::OneClick, Some("digest-2026-10"), at(1)).unwrap();
    store.add(&subscriber.address, None, true, at(2)).unwrap();
    store
        .freeze("digest-2026-11", [(Some(subscriber.id), subscriber.address.as_str(), Some(name))].into_iter())
        .unwrap();
    let row = store.pending("digest-2026-11").unwrap()[0].id;
    store.mark(row, newsroom::store::State::Sent, &format!("250 ok <{secret_local}@example.org>")).unwrap();

    let everything = |path: &Path| -> Vec<u8> {
        let mut bytes = std::fs::read(path).unwrap();
        for side in ["-wal", "-shm", "-journal"] {
            if let Ok(more) = std::fs::read(format!("{}{side}", path.display())) {
                bytes.extend(more);
            }
        }
        bytes
    };
    let contains = |haystack: &[u8], needle: &str| haystack.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(&everything(&path), secret_local), "the test cannot fail if the bytes were never there");

    assert!(store.forget(&format!("{secret_local}@Example.org"), at(3)).unwrap());
    let bytes = everything(&path);
    for needle in [secret_local, name, "Zanzibar-Unique"] {
        assert!(!contains(&bytes, needle), "`{needle}` is still in the database file after forget");
    }
    assert!(contains(&bytes, "keep@example.org"), "forget erased the wrong subscriber");
    assert!(store.subscriber(&format!("{secret_local}@example.org")).unwrap().is_none());

    // An import does not bring it back, in any spelling.
    let report = merge(&store, &format!("email\n{}@EXAMPLE.org\n", secret_local.to_uppercase()), 4);
    assert_eq!(report.forgotten, [2]);
    assert!(store.subscriber(&format!("{secret_local}@example.org")).unwrap().is_none());
    drop(store);
    assert!(!contains(&everything(&path), secret_local), "the refused import wrote the address");
}

/// One change to the store, as a proptest draws them.
#[derive(Debug, Clone)]
enum Op {
    /// Merge a file with these (address index, status) rows.
    Import(Vec<(usize, &'static str)>),
    Unsubscribe(usize),
    Add(usize, bool),
    Remove(usize),
    Forget(usize),
    Bounce(usize),
}

/// Five people, each in two spellings (the key is the same).
fn spelling(index: usize, upper: bool) -> String {
    let local = ["ada", "bob", "cy", "dee", "eve"][index];
    if upper { format!("{}@Example.ORG", local.to_uppercase()) } else { format!("{local}@example.org") }
}

fn op() -> impl Strategy<Value = Op> {
    let status = proptest::sample::select(vec!["subscribed", "subscribed", "unsubscribed", "bounced", ""]);
    prop_oneof![
        3 => proptest::collection::vec((0..5usize, status), 0..6).prop_map(Op::Import),
        2 => (0..5usize).prop_map(Op::Unsubscribe),
        2 => (0..5usize, any::<bool>()).prop_map(|(i, r)| Op::Add(i, r)),
        1 => (0..5usize).prop_map(Op::Remove),
        1 => (0..5usize).prop_map(Op::Forget),
        1 => (0..5usize).prop_map(Op::Bounce),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    /// Random sequences of import / unsubscribe / add / remove / forget /
    /// bounce: an opt-out is never lost (only `add --resubscribe` or
    /// `forget` ends one), no person is in the store twice, every status
    /// change has its event, and a forgotten address stays out until added
    /// again by hand.
    #[test]
    fn opt_outs_survive_any_sequence_of_changes(ops in proptest::collection::vec((op(), any::<bool>()), 1..14)) {
        // The same changes on each backend, each checked against the model.
        for store in fresh_stores("opt_outs_survive_any_sequence_of_changes").iter() {
        // The model: who opted out, who was forgotten.
        let mut opted_out: BTreeSet<usize> = BTreeSet::new();
        let mut forgotten: BTreeSet<usize> = BTreeSet::new();
        let mut last: BTreeMap<String, (SubscriberStatus, usize)> = BTreeMap::new();
        for (step, (op, upper)) in ops.iter().enumerate() {
            let now = at(step as u32);
            match op {
                Op::Import(rows) => {
                    let mut csv = String::from("email,status\n");
                    for (index, status) in rows {
                        csv.push_str(&format!("{},{status}\n", spelling(*index, *upper)));
                    }
                    store.merge(csv.as_bytes(), Path::new(LIST), false, now).unwrap();
                    // The file's opt-outs apply to whoever is not forgotten
                    // (the first row of a person counts; later ones are duplicates).
                    let mut seen = BTreeSet::new();
                    for (index, status) in rows {
                        if seen.insert(*index) && !forgotten.contains(index) && matches!(*status, "unsubscribed" | "bounced") {
                            opted_out.insert(*index);
                        }
                    }
                }
                Op::Unsubscribe(index) => {
                    store.unsubscribe(&spelling(*index, *upper), Channel::OneClick, None, now).unwrap();
                    // A forgotten address is not stored again.
                    if !forgotten.contains(index) {
                        opted_out.insert(*index);
                    }
                }
                Op::Add(index, resubscribe) => {
                    let result = store.add(&spelling(*index, *upper), None, *resubscribe, now);
                    prop_assert_eq!(result.is_err(), forgotten.contains(index) && !resubscribe, "{:?}", result.err());
                    if *resubscribe {
                        opted_out.remove(index);
                        forgotten.remove(index);
                    }
                }
                Op::Remove(index) => {
                    store.remove(&spelling(*index, *upper), now).unwrap();
                }
                Op::Forget(index) => {
                    store.forget(&spelling(*index, *upper), now).unwrap();
                    opted_out.remove(index);
                    forgotten.insert(*index);
                }
                Op::Bounce(index) => {
                    if let Some(subscriber) = store.subscriber(&spelling(*index, false)).unwrap() {
                        store.bounce(subscriber.id, &Event::new(EventKind::Bounced, Channel::Dsn), now).unwrap();
                        opted_out.insert(*index);
                    }
                }
            }
            let subscribers = store.subscribers(None).unwrap();
            let keys: BTreeSet<String> = subscribers.iter().map(|s| s.address.to_lowercase()).collect();
            prop_assert_eq!(keys.len(), subscribers.len(), "a person is in the store twice after {:?}", op);
            for index in &opted_out {
                let status = store.subscriber(&spelling(*index, false)).unwrap().map(|s| s.status);
                prop_assert!(
                    status.is_some_and(SubscriberStatus::is_opt_out),
                    "step {}: {:?} lost {}'s opt-out: {:?}", step, op, spelling(*index, false), status
                );
            }
            for index in &forgotten {
                prop_assert!(store.subscriber(&spelling(*index, false)).unwrap().is_none(), "{} came back", spelling(*index, false));
            }
            for subscriber in &subscribers {
                let events = store.events(subscriber.id).unwrap().len();
                let key = subscriber.address.to_lowercase();
                if let Some((status, before)) = last.get(&key) {
                    if *status != subscriber.status {
                        prop_assert!(events > *before, "{}: {} → {} with no event", key, status, subscriber.status);
                    }
                } else {
                    prop_assert!(events > 0, "{} is in the store with no event", key);
                }
                last.insert(key, (subscriber.status, events));
            }
            last.retain(|key, _| keys.contains(key));
        }
        }
    }
}

// ---------------------------------------------------------------------------
// The commands, run as a user would.

fn cli(site: &Path, args: &[&str]) -> std::process::Output {
    run(site, args)
}

both_backends! {
/// `subscribers import --dry-run` says what would change, row by row, and
/// changes nothing; the import itself then does exactly that.
fn import_says_what_changes_and_a_dry_run_changes_nothing() {
    let site = copy_example_site();
    let store = site_store();
    // The store knows some of the list already: one unsubscribed by a
    // reader, one added by hand.
    assert!(cli(site.path(), &["subscribers", "import", "subscribers.example.csv"]).status.success());
    assert!(cli(site.path(), &["unsubscribe", "ada.reader@example.org"]).status.success());
    assert!(cli(site.path(), &["subscribers", "add", "hand@example.org"]).status.success());
    let next = "email,name,status\n\
                ada.reader@example.org,Ada Reader,subscribed\n\
                marcus.lee@example.com,Marcus Renamed,subscribed\n\
                new.person@example.org,New Person,\n\
                bob@,Broken,subscribed\n\
                zoe.angstrom@example.org,Zoë Ångström,unsubscribed\n";
    std::fs::write(site.path().join("next.csv"), next).unwrap();
    let before = stdout(&cli(site.path(), &["subscribers", "export"]));

    let dry = cli(site.path(), &["subscribers", "import", "next.csv", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "an invalid row is exit status 1: {}", stderr(&dry));
    let said = stdout(&dry);
    assert_eq!(stdout(&cli(site.path(), &["subscribers", "export"])), before, "the dry run changed the store");
    for expected in [
        "next.csv would change: 1 added, 1 updated, 1 opted out or back by the file; 1 kept opted out, 1 invalid row(s) skipped\n",
        "added:\n  new.person@example.org\n",
        "updated:\n  marcus.lee@example.com\n",
        "status changed:\n  zoe.angstrom@example.org: now unsubscribed\n",
        "kept opted out (only `subscribers add --resubscribe` undoes an opt-out):\n  ada.reader@example.org: unsubscribed\n",
        "rows skipped:\n  line 5: `bob@` is not a valid email address\n",
    ] {
        assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
    }
    // Another file removes none of the example list's subscribers.
    assert!(!said.contains("removed"), "{said}");

    let real = cli(site.path(), &["subscribers", "import", "next.csv"]);
    assert_eq!(stdout(&real), said.replace("would change", "changed"));
    let show = stdout(&cli(site.path(), &["subscribers", "show", "zoe.angstrom@example.org"]));
    assert!(show.contains(" unsubscribed (csv): next.csv, line 6, was subscribed\n"), "{show}");
    // The site's list again changes nothing and records nothing.
    let events = |site: &Path| {
        let store = store.open(site);
        store.subscribers(None).unwrap().iter().map(|s| store.events(s.id).unwrap().len()).sum::<usize>()
    };
    assert!(cli(site.path(), &["subscribers", "import", "subscribers.example.csv"]).status.success());
    let recorded = events(site.path());
    let again = cli(site.path(), &["subscribers", "import", "subscribers.example.csv"]);
    assert_eq!(stdout(&again).lines().next(), Some("subscribers.example.csv changed: nothing; 2 kept opted out"));
    assert_eq!(events(site.path()), recorded);
}

/// The list in its three formats, each read back with its own parser.
fn list_prints_a_table_csv_and_json() {
    let site = copy_example_site();
    let _store = site_store();
    assert!(cli(site.path(), &["subscribers", "import", "subscribers.example.csv"]).status.success());
    let table = stdout(&cli(site.path(), &["subscribers", "list", "--status", "unsubscribed"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ADDRESS") && lines[0].ends_with("NAME"), "{table}");
    assert_eq!(lines.last(), Some(&"2 subscriber(s)"));
    // Columns line up: STATUS starts at the same place on every row.
    let column = lines[0].find("STATUS").unwrap();
    for line in &lines[1..lines.len() - 1] {
        assert_eq!(&line[column..column + "unsubscribed".len()], "unsubscribed", "{table}");
    }
    let csv_text = stdout(&cli(site.path(), &["subscribers", "list", "--format", "csv"]));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().any(|r| &r[0] == "jane.doe@example.net" && &r[1] == "Doe, Jane"));
    let json: serde_json::Value = serde_json::from_str(&stdout(&cli(
        site.path(),
        &["subscribers", "list", "--format", "json", "--status", "bounced"],
    )))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["address"], "old.address@example.net");
    assert_eq!(json[0]["status"], "bounced");
    let bad = cli(site.path(), &["subscribers", "list", "--status", "gone"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `add`, `remove`, `forget` and `unsubscribe` by hand: an opt-out is only
/// undone with `--resubscribe`; an address the site's file lists is removed
/// by deleting its row; a forgotten address stays out.
fn the_hand_commands_keep_opt_outs_and_say_what_they_did() {
    let site = copy_example_site();
    let _store = site_store();
    let add = cli(site.path(), &["subscribers", "add", "oliver.grant@example.org"]);
    assert_eq!(add.status.code(), Some(2));
    assert!(stderr(&add).contains("oliver.grant@example.org is unsubscribed: nothing changed"), "{}", stderr(&add));
    let add = cli(site.path(), &["subscribers", "add", "Oliver.Grant@EXAMPLE.org", "--resubscribe"]);
    assert_eq!(stdout(&add), "oliver.grant@example.org: resubscribed (recorded as an event)\n");
    let show = stdout(&cli(site.path(), &["subscribers", "show", "oliver.grant@example.org"]));
    assert!(show.contains(" resubscribed (cli): was unsubscribed\n"), "{show}");

    let remove = cli(site.path(), &["subscribers", "remove", "ada.reader@example.org"]);
    assert_eq!(remove.status.code(), Some(2));
    assert!(stderr(&remove).contains("is on line 2 of subscribers.example.csv"), "{}", stderr(&remove));
    assert!(cli(site.path(), &["subscribers", "add", "hand@example.org", "--name", "By Hand"]).status.success());
    let remove = cli(site.path(), &["subscribers", "remove", "hand@example.org"]);
    assert_eq!(stdout(&remove), "hand@example.org: removed\n");

    let forget = cli(site.path(), &["subscribers", "forget", "jane.doe@example.net"]);
    assert!(forget.status.success(), "{}", stderr(&forget));
    let show = cli(site.path(), &["subscribers", "show", "jane.doe@example.net"]);
    assert_eq!(show.status.code(), Some(1));
    // Still in the file, but a preview does not mail it, and says why.
    let preview = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
        .args(["digest", "preview", "--month", "2026-10", "--out", "out"])
        .output()
        .unwrap();
    assert!(preview.status.success(), "{}", stderr(&preview));
    let manifest = std::fs::read_to_string(site.path().join("out/2026-10/manifest.csv")).unwrap();
    assert!(!manifest.contains("jane.doe"), "{manifest}");
    assert!(manifest.contains(",skipped,,0,forgotten on request; not imported again,4\n"), "{manifest}");
    let unsubscribe = cli(site.path(), &["unsubscribe", "jane.doe@example.net"]);
    assert!(stdout(&unsubscribe).contains("was forgotten on request"), "{}", stdout(&unsubscribe));
    let add = cli(site.path(), &["subscribers", "add", "jane.doe@example.net"]);
    assert_eq!(add.status.code(), Some(2));
}

/// `store migrate` creates and then leaves alone; `store copy` moves a
/// list with its history to another store, here the other backend when
/// there is a server, and back: the same export bytes and the same
/// history, and a destination that holds anything is refused.
fn store_migrate_and_copy_there_and_back() {
    let site = copy_example_site();
    let _store = site_store();
    let check = cli(site.path(), &["store", "migrate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    let migrate = cli(site.path(), &["store", "migrate"]);
    assert!(stdout(&migrate).contains(": created at schema version "), "{}", stdout(&migrate));
    assert!(stdout(&cli(site.path(), &["store", "migrate"])).ends_with(", up to date\n"));
    assert_eq!(cli(site.path(), &["store", "migrate", "--check"]).status.code(), Some(0));
    assert!(cli(site.path(), &["subscribers", "import", "subscribers.example.csv"]).status.success());
    assert!(cli(site.path(), &["unsubscribe", "ada.reader@example.org"]).status.success());
    let export = stdout(&cli(site.path(), &["subscribers", "export"]));
    let history = stdout(&cli(site.path(), &["subscribers", "show", "ada.reader@example.org"]));

    // The store the commands use, named as `store copy` takes it, and one
    // on the other backend (SQLite to SQLite without a server).
    let source = _store.location(site.path());
    let other = match (_store.backend(), std::env::var("NEWSROOM_TEST_POSTGRES").is_ok_and(|url| !url.is_empty())) {
        (Backend::Sqlite, true) => TestStore::new(Backend::Postgres),
        _ => TestStore::new(Backend::Sqlite),
    };
    let there = other.location();
    let copied = cli(site.path(), &["store", "copy", "--from", &source, "--to", &there]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    assert!(stdout(&copied).contains("  subscribers: 12\n"), "{}", stdout(&copied));
    let again = cli(site.path(), &["store", "copy", "--from", &source, "--to", &there]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("not empty (subscribers: 12 rows); nothing was copied"), "{}", stderr(&again));
    let back = TestStore::new(Backend::Sqlite);
    assert!(cli(site.path(), &["store", "copy", "--from", &there, "--to", &back.location()]).status.success());
    let on = |location: &str, args: &[&str]| {
        stdout(&newsroom(site.path()).env("NEWSROOM_STORE_URL", location).args(args).output().unwrap())
    };
    for location in [there.as_str(), back.location().as_str()] {
        assert_eq!(on(location, &["subscribers", "export"]), export, "{location}");
        assert_eq!(on(location, &["subscribers", "show", "ada.reader@example.org"]), history, "{location}");
    }
}
}

/// A site set up by the release before the store: `delivery.ledger` and
/// the ledger file it wrote. Every command works, the key is reported as
/// deprecated at its line, and the ledger's history is all there.
#[test]
fn a_site_from_before_the_store_keeps_working() {
    let site = copy_example_site();
    let config = std::fs::read_to_string(site.path().join("newsroom.yaml")).unwrap();
    let config = config
        .replace("store: .newsroom/newsroom.sqlite\n", "")
        .replace("delivery:\n", "delivery:\n  ledger: .newsroom/ledger.sqlite\n");
    std::fs::write(site.path().join("newsroom.yaml"), &config).unwrap();
    let line = config.lines().position(|l| l.trim_start().starts_with("ledger:")).unwrap() + 1;
    std::fs::create_dir_all(site.path().join(".newsroom")).unwrap();
    std::fs::copy(
        repo_root().join("tests/fixtures/legacy-ledger/ledger.sqlite"),
        site.path().join(".newsroom/ledger.sqlite"),
    )
    .unwrap();

    let check = stdout(&cli(site.path(), &["check"]));
    assert!(check.contains(&format!("newsroom.yaml:{line}:11: warning: delivery.ledger is deprecated")), "{check}");
    let status = cli(site.path(), &["digest", "status", "--month", "2026-08"]);
    assert!(stderr(&status).contains("delivery.ledger is deprecated"), "{}", stderr(&status));
    let said = stdout(&status);
    assert!(said.starts_with("digest-2026-08: 34 recipients\n  sent: 28\n"), "{said}");
    let show = stdout(&cli(site.path(), &["subscribers", "show", "reader7@example.org"]));
    assert!(show.lines().any(|l| l.split_whitespace().eq(["status:", "unsubscribed"])), "{show}");
    // Still the same file: the alias names the store.
    assert!(site.path().join(".newsroom/ledger.sqlite").exists());
    assert!(!site.path().join(".newsroom/newsroom.sqlite").exists());

    // Without the key, the default store takes the ledger over, once.
    std::fs::write(site.path().join("newsroom.yaml"), config.replace("  ledger: .newsroom/ledger.sqlite\n", ""))
        .unwrap();
    let status = cli(site.path(), &["digest", "status", "--month", "2026-09"]);
    assert!(stdout(&status).starts_with("digest-2026-09: 33 recipients\n  sent: 29\n"), "{}", stdout(&status));
    assert!(!site.path().join(".newsroom/ledger.sqlite").exists());
    assert!(site.path().join(".newsroom/newsroom.sqlite").exists());
}

/// A subscriber file read slowly: it stops once at `pause_at` bytes, says
/// so, and goes on when told.
struct Paused {
    bytes: Vec<u8>,
    at: usize,
    pause_at: usize,
    paused: Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>,
}

impl std::io::Read for Paused {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pause_at
            && let Some((paused, go)) = self.paused.take()
        {
            paused.send(()).unwrap();
            go.recv().unwrap();
        }
        let end = if self.at < self.pause_at { self.pause_at } else { self.bytes.len() };
        let n = buf.len().min(end - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// On PostgreSQL a reader may sign up (serve, on another machine) while a
/// merge into an empty store runs. The merge finds the address taken when
/// it inserts, and merges the row into that subscriber as if it had been
/// there from the start, instead of failing on the duplicate key.
#[test]
fn an_address_added_while_a_merge_runs_is_merged_into_not_duplicated() {
    if postgres_server("an_address_added_while_a_merge_runs_is_merged_into_not_duplicated").is_none() {
        return;
    }
    let store = TestStore::new(Backend::Postgres);
    let other = store.open();
    let mut csv = String::from("email,name\n");
    for line in 2..=1_201 {
        csv.push_str(&format!("reader{line:06}@example.org,Reader {line}\n"));
    }
    // Paused after the first chunk of rows was merged, before the second
    // chunk (which holds line 900) is read.
    let pause_at = csv.find("reader000800@").unwrap();
    let (paused, paused_here) = std::sync::mpsc::channel();
    let (go, go_here) = std::sync::mpsc::channel();
    let reader = Paused { bytes: csv.into_bytes(), at: 0, pause_at, paused: Some((paused, go_here)) };
    let report = std::thread::scope(|scope| {
        let merger = store.open();
        let merging = scope.spawn(move || merger.merge(reader, Path::new(LIST), false, at(1)));
        paused_here.recv().unwrap();
        other.add("Reader000900@example.org", Some("Signed Up"), false, at(1)).unwrap();
        go.send(()).unwrap();
        merging.join().unwrap()
    })
    .expect("the merge goes on past the address added meanwhile");
    assert_eq!(report.added.len(), 1_199);
    assert!(!report.added.iter().any(|a| a == "reader000900@example.org"));
    assert_eq!(report.updated, ["reader000900@example.org"], "the file's name is taken, as for any known reader");
    let late = store.subscriber("reader000900@example.org").unwrap().unwrap();
    assert_eq!((late.name.as_deref(), late.status), (Some("Reader 900"), SubscriberStatus::Subscribed));
    assert_eq!(store.subscribers(None).unwrap().len(), 1_200);
    assert_eq!(kinds(&store, "reader000900@example.org").len(), 1, "one event: the sign-up's, none from the file");
}

/// A long merge commits in batches (issue 27, point 12): another writer,
/// `serve`'s when a reader unsubscribes, waits for one batch, not for the
/// whole file. The merge is held inside its first batch (the write lock
/// taken), let go, and the other writer's change must be in while the
/// merge still runs.
#[test]
fn a_writer_gets_in_between_a_long_merges_batches() {
    let store = TestStore::new(Backend::Sqlite);
    let other = store.open();
    other.add("early@example.org", None, false, at(0)).unwrap();
    let rows = 40_000;
    let mut csv = String::from("email,name\n");
    for line in 2..=rows + 1 {
        csv.push_str(&format!("reader{line:06}@example.org,Reader {line}\n"));
    }
    let pause_at = csv.find("reader000300@").unwrap();
    let (paused, paused_here) = std::sync::mpsc::channel();
    let (go, go_here) = std::sync::mpsc::channel();
    let reader = Paused { bytes: csv.into_bytes(), at: 0, pause_at, paused: Some((paused, go_here)) };
    std::thread::scope(|scope| {
        let merger = store.open();
        let merging = scope.spawn(move || merger.merge(reader, Path::new(LIST), false, at(1)));
        paused_here.recv().unwrap();
        go.send(()).unwrap();
        other.unsubscribe("early@example.org", Channel::OneClick, None, at(2)).unwrap();
        assert!(!merging.is_finished(), "the unsubscribe waited for the whole merge");
        let report = merging.join().unwrap().unwrap();
        assert_eq!(report.added.len(), rows);
    });
    assert_eq!(store.subscriber("early@example.org").unwrap().unwrap().status, SubscriberStatus::Unsubscribed);
}

both_backends! {
/// What a batch committed stays when the process dies after it, and the
/// next import finishes the work without doing any of it twice.
fn an_import_killed_after_a_batch_keeps_it_and_the_next_run_finishes() {
    let site = TempSite::new();
    let store = site_store();
    std::fs::write(site.path().join("newsroom.yaml"), "site:\n  title: T\n  url: https://t.example.org\n").unwrap();
    let rows = 40_000;
    let mut csv = String::from("email,name\n");
    for line in 2..=rows + 1 {
        csv.push_str(&format!("reader{line:06}@example.org,Reader {line}\n"));
    }
    std::fs::write(site.path().join("big.csv"), csv).unwrap();
    let killed = newsroom(site.path())
        .env("NEWSROOM_FAILPOINT", "merge-batch-committed")
        .args(["subscribers", "import", "big.csv"])
        .output()
        .unwrap();
    assert!(!killed.status.success(), "the failpoint was not reached: {}", stdout(&killed));
    assert!(stderr(&killed).contains("failpoint merge-batch-committed@1: aborting"), "{}", stderr(&killed));
    let store = store.open(site.path());
    let kept = store.subscribers(None).unwrap().len();
    assert!(kept > 0 && kept < rows, "{kept} of {rows} subscribers after the crash");
    let again = run(site.path(), &["subscribers", "import", "big.csv"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).starts_with(&format!("big.csv changed: {} added", rows - kept)), "{}", stdout(&again));
    let subscribers = store.subscribers(None).unwrap();
    assert_eq!(subscribers.len(), rows);
    for subscriber in subscribers.iter().step_by(1_000) {
        assert_eq!(kinds(&store, &subscriber.address), [EventKind::Imported], "{}", subscriber.address);
    }
}
}
