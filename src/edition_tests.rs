//! The calendar of editions, as cases: ISO week edges, Sunday weeks, leap
//! days, daylight saving in `send_at`'s zone, and the monthly edition's
//! bytes, which must never change.

use chrono::{DateTime, NaiveDate, Utc};

use super::*;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The monthly edition is the digest of every earlier release: the same
/// id (ledger key, Message-ID prefix) and web path as `Month`'s.
#[test]
fn the_monthly_edition_keeps_the_months_bytes() {
    for text in ["2026-10", "2026-01", "1999-12"] {
        let month: Month = text.parse().unwrap();
        let edition = Edition::monthly(month);
        assert_eq!(edition.id(), month.digest_id());
        assert_eq!(edition.id(), format!("digest-{text}"));
        assert_eq!(edition.web_path(), text);
        assert_eq!(edition.label(), month.label());
        assert_eq!(Edition::parse(text).unwrap(), edition);
        assert_eq!(Edition::parse(&format!("monthly/{text}")).unwrap(), edition);
        assert_eq!(edition.name(), format!("monthly/{text}"));
        // The six digits of every earlier release's return paths.
        assert_eq!(edition.token_period(), text.replace('-', ""));
        assert_eq!(Edition::from_token_period(&edition.token_period()), Some(edition.clone()));
        assert_eq!(Edition::from_id(&edition.id()), Some(edition.clone()));
    }
}

/// (date, first day of the week, name, first day, day after).
const WEEKS: &[(&str, WeekStart, &str, &str, &str)] = &[
    // An ordinary week.
    ("2026-11-03", WeekStart::Monday, "weekly/2026-W45", "2026-11-02", "2026-11-09"),
    // Week 53 of a year that has one, reaching into the next year.
    ("2021-01-01", WeekStart::Monday, "weekly/2020-W53", "2020-12-28", "2021-01-04"),
    ("2026-12-31", WeekStart::Monday, "weekly/2026-W53", "2026-12-28", "2027-01-04"),
    ("2027-01-01", WeekStart::Monday, "weekly/2026-W53", "2026-12-28", "2027-01-04"),
    // Week 1 of a year that starts in December.
    ("2024-12-30", WeekStart::Monday, "weekly/2025-W01", "2024-12-30", "2025-01-06"),
    // A leap day.
    ("2028-02-29", WeekStart::Monday, "weekly/2028-W09", "2028-02-28", "2028-03-06"),
    // Sunday weeks: named by their Monday's ISO week.
    ("2026-11-01", WeekStart::Sunday, "weekly/2026-W45-sun", "2026-11-01", "2026-11-08"),
    ("2026-10-31", WeekStart::Sunday, "weekly/2026-W44-sun", "2026-10-25", "2026-11-01"),
    ("2027-01-02", WeekStart::Sunday, "weekly/2026-W53-sun", "2026-12-27", "2027-01-03"),
];

#[test]
fn weeks_follow_iso_8601_and_the_sites_first_day() {
    for &(date, starts, name, first, after) in WEEKS {
        let edition = Edition::containing(Cadence::Weekly, day(date), starts).unwrap();
        assert_eq!(edition.name(), name, "{date}");
        assert_eq!(edition.window(), Some((day(first), day(after))), "{date}");
        assert_eq!(edition.web_path(), name, "{date}");
        assert_eq!(edition.id(), format!("digest-{}", name.replace('/', "-")), "{date}");
        assert_eq!(Edition::from_id(&edition.id()), Some(edition.clone()), "{date}");
        let token = edition.token_period();
        assert!(token.len() == 7 && token.bytes().all(|b| b.is_ascii_digit()), "{token}");
        assert_eq!(Edition::from_token_period(&token), Some(edition.clone()), "{date}");
        assert_eq!(Edition::parse(name).unwrap(), edition, "{name}");
        assert!(edition.covers(day(date)) && !edition.covers(day(after)) && edition.covers(day(first)));
        // Consecutive editions tile the calendar.
        let next = edition.next().unwrap();
        assert_eq!(next.window().unwrap().0, day(after), "{date}");
        assert_eq!(next.previous().unwrap(), edition, "{date}");
    }
}

#[test]
fn days_and_months_tile_the_calendar_across_leap_days() {
    let leap = Edition::parse("daily/2028-02-29").unwrap();
    assert_eq!(leap.next().unwrap().name(), "daily/2028-03-01");
    assert_eq!(leap.previous().unwrap().name(), "daily/2028-02-28");
    assert_eq!(leap.id(), "digest-daily-2028-02-29");
    assert_eq!(leap.token_period(), "20280229");
    assert_eq!(Edition::from_token_period("20280229"), Some(leap.clone()));
    assert_eq!(Edition::from_token_period("20270229"), None);
    assert_eq!(Edition::from_id("digest-post-hello"), Some(Edition::per_post("hello")));
    assert_eq!(Edition::from_id("digest-2026-13"), None);
    assert_eq!(leap.label(), "February 29, 2028");
    let february = Edition::parse("2028-02").unwrap();
    assert_eq!(february.window(), Some((day("2028-02-01"), day("2028-03-01"))));
    assert!(february.covers(day("2028-02-29")));
    assert_eq!(Edition::parse("2026-12").unwrap().next().unwrap().name(), "monthly/2027-01");
    assert_eq!(Edition::parse("2027-01").unwrap().previous().unwrap().name(), "monthly/2026-12");
}

#[test]
fn names_that_are_not_editions_say_why() {
    for (text, why) in [
        ("daily/2027-02-29", "a day is YYYY-MM-DD"),
        ("weekly/2027-W53", "2027 has no week 53"),
        ("weekly/2026-45", "a week is YYYY-Www"),
        ("yearly/2026", "unknown cadence"),
        ("post/", "unknown cadence"),
        ("October", "no cadence"),
        ("monthly/2026-13", "not a month"),
    ] {
        let error = Edition::parse(text).unwrap_err();
        assert!(error.contains(why) && error.contains(text), "{text}: {error}");
    }
}

/// (send_at, the day after a period, the instant it ends).
const ENDS: &[(&str, &str, &str)] = &[
    ("00:00", "2026-11-01", "2026-11-01T00:00:00Z"),
    ("00:00 UTC", "2026-11-01", "2026-11-01T00:00:00Z"),
    // Winter and summer time in Berlin.
    ("09:00 Europe/Berlin", "2026-11-01", "2026-11-01T08:00:00Z"),
    ("09:00 Europe/Berlin", "2026-07-01", "2026-07-01T07:00:00Z"),
    // 02:30 does not exist on 29 March 2026 in Berlin: the gap's end, 03:00 CEST.
    ("02:30 Europe/Berlin", "2026-03-29", "2026-03-29T01:00:00Z"),
    // 02:30 happens twice on 25 October 2026: the first, in summer time.
    ("02:30 Europe/Berlin", "2026-10-25", "2026-10-25T00:30:00Z"),
    // West of UTC: the period ends after it has in UTC.
    ("00:00 America/Los_Angeles", "2026-11-01", "2026-11-01T07:00:00Z"),
];

#[test]
fn a_period_ends_at_send_at_in_its_zone_whatever_daylight_saving_does() {
    for &(send_at, after, end) in ENDS {
        let send_at: SendAt = send_at.parse().unwrap();
        let edition = Edition::containing(Cadence::Daily, day(after).pred_opt().unwrap(), WeekStart::Monday).unwrap();
        assert_eq!(edition.ends(&send_at), Some(at(end)), "{send_at:?} {after}");
    }
    for bad in ["9", "25:00", "09:00 Mars/Olympus", "09:00 UTC extra", ""] {
        assert!(bad.parse::<SendAt>().is_err(), "{bad}");
    }
}

/// (cadence, now, send_at, the latest edition ended by then).
const LAST_ENDED: &[(Cadence, &str, &str, &str)] = &[
    (Cadence::Monthly, "2026-11-03T10:00:00Z", "00:00", "monthly/2026-10"),
    (Cadence::Monthly, "2026-11-01T00:00:00Z", "00:00", "monthly/2026-10"),
    (Cadence::Monthly, "2026-10-31T23:59:59Z", "00:00", "monthly/2026-09"),
    // 07:00 UTC is 08:00 in Berlin: October ends at 09:00 there.
    (Cadence::Monthly, "2026-11-01T07:00:00Z", "09:00 Europe/Berlin", "monthly/2026-09"),
    (Cadence::Monthly, "2026-11-01T08:00:00Z", "09:00 Europe/Berlin", "monthly/2026-10"),
    (Cadence::Weekly, "2026-11-03T10:00:00Z", "00:00", "weekly/2026-W44"),
    (Cadence::Weekly, "2026-11-02T00:00:00Z", "00:00", "weekly/2026-W44"),
    (Cadence::Daily, "2026-11-03T10:00:00Z", "00:00", "daily/2026-11-02"),
    (Cadence::Daily, "2026-11-03T10:00:00Z", "11:00", "daily/2026-11-01"),
];

#[test]
fn the_last_ended_edition_is_the_latest_whose_end_has_passed() {
    for &(cadence, now, send_at, expected) in LAST_ENDED {
        let send_at: SendAt = send_at.parse().unwrap();
        let edition = Edition::last_ended(cadence, at(now), &send_at, WeekStart::Monday).unwrap();
        assert_eq!(edition.name(), expected, "{cadence} at {now}, {send_at:?}");
        assert!(edition.ends(&send_at).unwrap() <= at(now));
        assert!(edition.next().unwrap().ends(&send_at).unwrap() > at(now));
    }
    assert_eq!(
        Edition::last_ended(Cadence::PerPost, at("2026-11-03T10:00:00Z"), &SendAt::default(), WeekStart::Monday),
        None
    );
}

#[test]
fn cadences_and_week_starts_read_their_yaml_names() {
    for cadence in Cadence::ALL {
        assert_eq!(cadence.as_str().parse::<Cadence>().unwrap(), cadence);
    }
    assert!("fortnightly".parse::<Cadence>().unwrap_err().contains("monthly, weekly, daily, per_post"));
    assert_eq!("sunday".parse::<WeekStart>().unwrap(), WeekStart::Sunday);
    assert!("friday".parse::<WeekStart>().is_err());
}

#[test]
fn months_parse_and_default_to_the_previous_one() {
    assert_eq!("2026-10".parse::<Month>().unwrap().to_string(), "2026-10");
    assert!("2026-13".parse::<Month>().is_err());
    assert!("October".parse::<Month>().is_err());
    let january = DateTime::parse_from_rfc3339("2027-01-15T00:00:00Z").unwrap().with_timezone(&Utc);
    assert_eq!(Month::previous(january).to_string(), "2026-12");
    assert_eq!("2026-10".parse::<Month>().unwrap().label(), "October 2026");
}

/// Issue 26: a month's digest may be sent from the first instant of
/// the next month (UTC), December's in the next year.
#[test]
fn a_month_ends_at_midnight_utc_on_the_first_of_the_next() {
    let end = |month: &str| month.parse::<Month>().unwrap().end().to_rfc3339();
    assert_eq!(end("2026-10"), "2026-11-01T00:00:00+00:00");
    assert_eq!(end("2026-12"), "2027-01-01T00:00:00+00:00");
    assert_eq!(end("2028-02"), "2028-03-01T00:00:00+00:00");
}
