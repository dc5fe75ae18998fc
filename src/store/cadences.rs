//! Where each cadence's editions began: the first day of the period the
//! first `digest send --due` of that cadence looked at (migration 7).
//!
//! An edition carries the posts dated since the edition of its cadence
//! sent before it, so a period with fewer posts than `digest.min_posts`,
//! or a gap sent as one edition (`digest.catch_up: combine`), loses none.
//! Before any edition of a cadence was sent there is no such edition; this
//! date takes its place, so posts of a first period passed over are not
//! lost either. It is written once and never moved.

use anyhow::{Result, anyhow};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::Store;
use super::db::params;

impl Store {
    /// Where `cadence`'s editions began, if a `--due` run said so.
    pub fn cadence_start(&self, cadence: &str) -> Result<Option<NaiveDate>> {
        let since: Option<String> =
            self.db
                .query_opt("SELECT since FROM cadence_starts WHERE cadence = ?1", params![cadence], |row| row.get(0))?;
        since.map(|since| parse(cadence, &since)).transpose()
    }

    /// Every cadence's start.
    pub fn cadence_starts(&self) -> Result<Vec<(String, NaiveDate)>> {
        let rows: Vec<(String, String)> =
            self.db.query("SELECT cadence, since FROM cadence_starts ORDER BY cadence", params![], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        rows.into_iter().map(|(cadence, since)| Ok((cadence.clone(), parse(&cadence, &since)?))).collect()
    }

    /// Records that `cadence`'s editions begin at `since`, unless a start
    /// is recorded already; returns the start in force.
    pub fn begin_cadence(&self, cadence: &str, since: NaiveDate, now: DateTime<Utc>) -> Result<NaiveDate> {
        self.db.execute(
            "INSERT INTO cadence_starts (cadence, since, at) VALUES (?1, ?2, ?3) ON CONFLICT (cadence) DO NOTHING",
            params![cadence, since.to_string(), now.to_rfc3339_opts(SecondsFormat::Millis, true)],
        )?;
        self.cadence_start(cadence)?.ok_or_else(|| anyhow!("the start of the {cadence} editions was not recorded"))
    }
}

fn parse(cadence: &str, since: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(since, "%Y-%m-%d")
        .map_err(|_| super::unknown_value(&format!("the start of the {cadence} editions"), since))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::testing::store_tests;

    store_tests! {
        fn a_cadence_begins_once_and_keeps_its_first_start(place: &TestPlace) {
            let store = place.open();
            let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
            assert_eq!(store.cadence_start("weekly").unwrap(), None);
            assert_eq!(store.begin_cadence("weekly", day(2), Utc::now()).unwrap(), day(2));
            assert_eq!(store.begin_cadence("weekly", day(9), Utc::now()).unwrap(), day(2), "never moved");
            assert_eq!(store.begin_cadence("daily", day(5), Utc::now()).unwrap(), day(5));
            assert_eq!(store.cadence_starts().unwrap(), [("daily".to_string(), day(5)), ("weekly".to_string(), day(2))]);
        }
    }
}
