//! `newsroom store copy`: a whole store, with its history, from one backend
//! to the other (or to a second store of the same kind): every table, every
//! column, the ids as they were, in one transaction on the destination.
//!
//! Ids matter beyond the rows: unsubscribe links and VERP return paths name
//! subscribers by id, so the copy keeps them, and keeps the highest id ever
//! given (a forgotten subscriber's too), so that the destination never
//! gives one of them to somebody else.

use anyhow::{Result, bail};

use super::Store;
use super::db::{Backend, Db, Param, Row, params};

/// How a column is read and written.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Text,
    Bytes,
}

use Kind::{Bytes, Integer, Text};

/// Every table of the schema (version 7), parents before children.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "subscribers",
        &[
            ("id", Integer),
            ("address", Text),
            ("key", Text),
            ("name", Text),
            ("status", Text),
            ("source", Text),
            ("attributes", Text),
            ("created_at", Text),
            ("confirmed_at", Text),
            ("changed_at", Text),
            ("list", Text),
        ],
    ),
    (
        "events",
        &[
            ("id", Integer),
            ("subscriber_id", Integer),
            ("at", Text),
            ("kind", Text),
            ("channel", Text),
            ("detail", Text),
            ("digest_id", Text),
        ],
    ),
    ("forgotten", &[("key_hash", Text), ("at", Text)]),
    ("store_keys", &[("name", Text), ("value", Bytes)]),
    ("cadence_starts", &[("cadence", Text), ("since", Text), ("at", Text)]),
    (
        "digests",
        &[("digest_id", Text), ("frozen_at", Text), ("recipients", Integer), ("unfinished", Integer), ("posts", Text)],
    ),
    (
        "deliveries",
        &[
            ("id", Integer),
            ("digest_id", Text),
            ("address", Text),
            ("name", Text),
            ("state", Text),
            ("attempts", Integer),
            ("message_id", Text),
            ("reply", Text),
            ("updated_at", Text),
            ("subscriber_id", Integer),
            ("owner", Text),
            ("lease_until", Text),
        ],
    ),
    (
        "inbound_messages",
        &[
            ("hash", Text),
            ("at", Text),
            ("class", Text),
            ("subscriber_id", Integer),
            ("status", Text),
            ("detail", Text),
        ],
    ),
];

/// The tables whose ids come from a sequence on PostgreSQL.
const IDENTITY_TABLES: [&str; 3] = ["subscribers", "events", "deliveries"];

/// What a copy moved: rows per table, and the highest subscriber id ever given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, usize)>,
    pub highest_subscriber_id: i64,
}

/// Copies everything in `from` into `to`, which must hold no subscriber,
/// event, digest or delivery (nothing is written otherwise).
pub fn copy(from: &Store, to: &Store) -> Result<CopyReport> {
    let highest = highest_subscriber_id(&from.db)?;
    to.in_transaction(|db| {
        for table in
            ["subscribers", "events", "digests", "deliveries", "inbound_messages", "forgotten", "cadence_starts"]
        {
            let rows: i64 = db.query_one(&format!("SELECT COUNT(*) FROM {table}"), params![], |row| row.get(0))?;
            if rows > 0 {
                bail!("the destination store is not empty ({table}: {rows} rows); nothing was copied");
            }
        }
        // A key made on first use (forgotten addresses' hashes) must be the
        // source's: the hashes copied were made with it.
        db.execute("DELETE FROM store_keys", params![])?;
        let mut report = CopyReport { highest_subscriber_id: highest, ..CopyReport::default() };
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let select = format!("SELECT {} FROM {table}", names.join(", "));
            let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
            let insert = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), placeholders.join(", "));
            let rows = from.db.query(&select, params![], |row| read(row, columns))?;
            for values in &rows {
                let values: Vec<&dyn Param> = values.iter().map(|value| value.as_ref()).collect();
                db.execute(&insert, &values)?;
            }
            report.tables.push((table, rows.len()));
        }
        keep_ids_unused(db, highest)?;
        Ok(report)
    })
}

/// One row's values, each as the parameter that writes it back.
fn read(row: &Row, columns: &[(&str, Kind)]) -> Result<Vec<Box<dyn Param>>> {
    columns
        .iter()
        .enumerate()
        .map(|(index, (_, kind))| -> Result<Box<dyn Param>> {
            Ok(match kind {
                Integer => Box::new(row.get::<Option<i64>>(index)?),
                Text => Box::new(row.get::<Option<String>>(index)?),
                Bytes => Box::new(row.get::<Option<Vec<u8>>>(index)?),
            })
        })
        .collect()
}

/// The highest subscriber id the store ever gave, forgotten ones included.
fn highest_subscriber_id(db: &Db) -> Result<i64> {
    let in_table: i64 = db.query_one("SELECT COALESCE(MAX(id), 0) FROM subscribers", params![], |row| row.get(0))?;
    let given: i64 = match db.backend() {
        Backend::Sqlite => db
            .query_opt("SELECT seq FROM sqlite_sequence WHERE name = 'subscribers'", params![], |row| row.get(0))?
            .unwrap_or(0),
        Backend::Postgres => {
            let sequence = sequence_of(db, "subscribers")?;
            db.query_one(
                &format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"),
                params![],
                |row| row.get(0),
            )?
        }
    };
    Ok(in_table.max(given))
}

/// The sequence behind a table's identity column.
fn sequence_of(db: &Db, table: &str) -> Result<String> {
    db.query_one("SELECT pg_get_serial_sequence(?1, 'id')", params![table], |row| row.get(0))
}

/// Sets the destination's id counters past every copied id, and the
/// subscribers' past the highest the source ever gave.
fn keep_ids_unused(db: &Db, highest_subscriber: i64) -> Result<()> {
    match db.backend() {
        Backend::Sqlite => {
            // Inserting explicit ids already moved `sqlite_sequence` to the
            // largest copied; a forgotten subscriber's may be above it.
            let updated = db.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'subscribers'",
                params![highest_subscriber],
            )?;
            if updated == 0 && highest_subscriber > 0 {
                db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', ?1)",
                    params![highest_subscriber],
                )?;
            }
        }
        Backend::Postgres => {
            for table in IDENTITY_TABLES {
                let sequence = sequence_of(db, table)?;
                let mut next: i64 =
                    db.query_one(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), params![], |row| row.get(0))?;
                if table == "subscribers" {
                    next = next.max(highest_subscriber);
                }
                if next > 0 {
                    db.query_one(
                        "SELECT setval(CAST(CAST(?1 AS TEXT) AS regclass), ?2)::text",
                        params![sequence, next],
                        |row| row.get::<String>(0),
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ledger::{Claimant, State};
    use crate::store::testing::TestPlace;
    use crate::store::{Channel, Event, EventKind};
    use chrono::{TimeZone, Utc};

    fn at(minute: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 10, minute, 0).unwrap()
    }

    /// A store with something of every kind in it.
    fn fill(store: &mut Store) {
        store
            .merge(
                "email,name,status,company\nada@example.org,\"Lovelace, Ada\",subscribed,Analytical\nbob@example.org,Bob,subscribed,\nzoe@example.org,Zoë,unsubscribed,\n"
                    .as_bytes(),
                std::path::Path::new("list.csv"),
                false,
                at(0),
            )
            .unwrap();
        store.add("cli@example.org", None, false, at(1)).unwrap();
        store.add("cy@example.org", Some("Cy"), false, at(1)).unwrap();
        store.unsubscribe("bob@example.org", Channel::OneClick, Some("digest-2026-10"), at(2)).unwrap();
        let ada = store.subscriber("ada@example.org").unwrap().unwrap();
        store.bounce(ada.id, &Event::new(EventKind::Bounced, Channel::Relay).detail("550 5.1.1"), at(3)).unwrap();
        // The newest subscriber, forgotten: its id must never be given again.
        store.add("newest@example.org", None, false, at(4)).unwrap();
        store.forget("newest@example.org", at(5)).unwrap();
        store.freeze_subscribed("digest-2026-10").unwrap();
        let claimant = Claimant::new(std::time::Duration::from_secs(60));
        let rows = store.claim("digest-2026-10", &claimant, 10).unwrap();
        store.mark_sending(rows[0].id, "<m1@x>", &claimant).unwrap();
        store.mark(rows[0].id, State::Sent, "250 ok").unwrap();
        let cy = store.subscriber("cy@example.org").unwrap().unwrap();
        let returned = crate::store::inbound::Inbound {
            hash: "c0ffee".into(),
            class: crate::store::inbound::InboundClass::SoftBounce,
            subscriber_id: Some(cy.id),
            status: Some("4.2.2".into()),
            detail: "mailbox full".into(),
            digest_id: Some("digest-2026-10".into()),
            unverified: None,
        };
        store.apply_inbound(&returned, crate::config::BouncePolicy::default(), at(6)).unwrap();
        store.begin_cadence("weekly", chrono::NaiveDate::from_ymd_opt(2026, 10, 12).unwrap(), at(7)).unwrap();
    }

    /// Everything a user could compare: the export's bytes, every
    /// subscriber's history, every delivery row.
    /// The export's text, each subscriber's history, each delivery row.
    type Snapshot = (String, Vec<(String, Vec<Event>)>, Vec<(String, State, u32, Option<String>)>);

    fn snapshot(store: &Store) -> Snapshot {
        let mut export = Vec::new();
        store.export(&mut export, false).unwrap();
        let history = store
            .subscribers(None)
            .unwrap()
            .into_iter()
            .map(|s| (s.address.clone(), store.events(s.id).unwrap()))
            .collect();
        let rows = store
            .rows("digest-2026-10", None)
            .unwrap()
            .into_iter()
            .map(|r| (r.address, r.state, r.attempts, r.reply))
            .collect();
        (String::from_utf8(export).unwrap(), history, rows)
    }

    #[test]
    fn sqlite_to_postgres_and_back_keeps_everything() {
        let Some(postgres) = TestPlace::postgres("sqlite_to_postgres_and_back_keeps_everything") else { return };
        let (first, last) = (TestPlace::sqlite(), TestPlace::sqlite());
        let mut source = first.open();
        fill(&mut source);
        let before = snapshot(&source);
        let to_postgres = copy(&source, &postgres.open()).unwrap();
        let back = copy(&postgres.open(), &last.open()).unwrap();
        assert_eq!(to_postgres, back);
        assert!(to_postgres.tables.iter().all(|(_, n)| *n > 0), "{to_postgres:?}");
        for place in [&postgres, &last] {
            let store = place.open();
            assert_eq!(snapshot(&store), before);
            assert_eq!(store.cadence_starts().unwrap(), source.cadence_starts().unwrap());
            assert!(store.is_forgotten(&crate::subscriber::matching_key("newest@example.org")).unwrap());
            // A new subscriber gets an id above any the first store gave.
            let (next, _) = store.add("next@example.org", None, false, at(9)).unwrap();
            assert!(next.id > to_postgres.highest_subscriber_id, "id {} given again", next.id);
        }
        assert!(before.0.contains("Lovelace, Ada") && before.1.len() == 5 && before.2.len() == 2, "{before:?}");
    }

    crate::store::testing::store_tests! {
    /// A store that holds anything is not written to.
    fn a_destination_that_is_not_empty_is_refused(place: &TestPlace) {
        let from = TestPlace::sqlite();
        let mut source = from.open();
        fill(&mut source);
        let destination = place.open();
        destination.add("someone@example.org", None, false, at(0)).unwrap();
        let error = copy(&source, &destination).unwrap_err();
        assert!(error.to_string().contains("not empty (subscribers: 1 rows)"), "{error:#}");
        assert_eq!(destination.subscribers(None).unwrap().len(), 1);
    }
    }
}
