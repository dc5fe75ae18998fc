//! Post dates: from the file name (`2025-08-8-slug.md`) and from front matter.
//!
//! Real blogs write dates every way YAML allows: `2023-06-21`,
//! `2016-10-24 3:45:00`, `2019-03-19T12:00`, `'2024-01-12T00:00:00.000Z'`,
//! `2026-09-15T09:30:00+02:00`. A date without an offset is UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// The date prefix of a post's file (or folder) name and the name after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatedName<'a> {
    /// The date as written, possibly impossible (`2017-02-29`): `(year, month, day)`.
    pub ymd: (i32, u32, u32),
    /// The rest of the name, the `name` part of the permalink.
    pub name: &'a str,
}

/// Splits `YYYY-M(M)-D(D)-name` (or a bare `YYYY-MM-DD`) into its date and name.
pub fn split_dated_name(stem: &str) -> Option<DatedName<'_>> {
    let mut parts = stem.splitn(4, '-');
    let year = parts.next()?;
    let month = parts.next()?;
    let day = parts.next()?;
    let name = parts.next().unwrap_or("");
    let digits =
        |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4, 4) && digits(month, 1, 2) && digits(day, 1, 2)) {
        return None;
    }
    Some(DatedName { ymd: (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?), name })
}

/// Why a date could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    /// Well-formed but not on the calendar, such as February 29th of 2017.
    Impossible,
    /// Not a date in any of the accepted forms.
    Unreadable,
}

/// A calendar date from its parts, or [`DateError::Impossible`].
pub fn ymd_date((year, month, day): (i32, u32, u32)) -> Result<NaiveDate, DateError> {
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateError::Impossible)
}

/// Reads a front matter date: a date, or a date and time, with or without an offset.
pub fn parse_front_matter_date(text: &str) -> Result<DateTime<FixedOffset>, DateError> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant);
    }
    let (date_part, rest) = match text.find(['T', 't', ' ']) {
        Some(at) => (&text[..at], text[at + 1..].trim()),
        None => (text, ""),
    };
    let ymd = parse_ymd(date_part)?;
    let date = ymd_date(ymd)?;
    if rest.is_empty() {
        return Ok(utc().from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    let (time_part, offset) = split_offset(rest)?;
    let time = ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(time_part, format).ok())
        .ok_or(DateError::Unreadable)?;
    let naive = NaiveDateTime::new(date, time);
    offset.from_local_datetime(&naive).single().ok_or(DateError::Unreadable)
}

fn parse_ymd(text: &str) -> Result<(i32, u32, u32), DateError> {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(DateError::Unreadable);
    };
    let number = |s: &str, max_len: usize| {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            Err(DateError::Unreadable)
        } else {
            s.parse::<u32>().map_err(|_| DateError::Unreadable)
        }
    };
    if y.len() != 4 {
        return Err(DateError::Unreadable);
    }
    Ok((number(y, 4)? as i32, number(m, 2)?, number(d, 2)?))
}

/// Splits a trailing `Z`, `+hh:mm`, `+hhmm` or `+hh` from a time.
fn split_offset(text: &str) -> Result<(&str, FixedOffset), DateError> {
    let text = text.trim();
    if let Some(time) = text.strip_suffix(['Z', 'z']) {
        return Ok((time.trim(), utc()));
    }
    if let Some(at) = text.rfind(['+', '-']) {
        let (time, offset) = (text[..at].trim(), &text[at..]);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
            return Err(DateError::Unreadable);
        }
        let hours: i32 = digits[..2].parse().map_err(|_| DateError::Unreadable)?;
        let minutes: i32 = if digits.len() == 4 { digits[2..].parse().map_err(|_| DateError::Unreadable)? } else { 0 };
        let offset = FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or(DateError::Unreadable)?;
        return Ok((time, offset));
    }
    Ok((text, utc()))
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(text: &str) -> String {
        parse_front_matter_date(text).map(|d| d.to_rfc3339()).unwrap_or_else(|e| format!("{e:?}"))
    }

    #[test]
    fn reads_every_form_real_blogs_use() {
        assert_eq!(rfc3339("2023-06-21"), "2023-06-21T00:00:00+00:00");
        assert_eq!(rfc3339("2016-10-24 3:45:00"), "2016-10-24T03:45:00+00:00");
        assert_eq!(rfc3339("2015-11-3 10:30:00"), "2015-11-03T10:30:00+00:00");
        assert_eq!(rfc3339("2019-03-19T12:00"), "2019-03-19T12:00:00+00:00");
        assert_eq!(rfc3339("2024-01-12T00:00:00.000Z"), "2024-01-12T00:00:00+00:00");
        assert_eq!(rfc3339("2026-09-15T09:30:00+02:00"), "2026-09-15T09:30:00+02:00");
        assert_eq!(rfc3339("2026-09-15 09:30:00 -0500"), "2026-09-15T09:30:00-05:00");
    }

    #[test]
    fn impossible_and_unreadable_dates_are_told_apart() {
        assert_eq!(rfc3339("2017-02-29 11:00:00"), "Impossible");
        assert_eq!(rfc3339("2017-13-01"), "Impossible");
        assert_eq!(rfc3339("yesterday"), "Unreadable");
        assert_eq!(rfc3339("2017-02-01 25:00"), "Unreadable");
    }

    #[test]
    fn file_names_with_unpadded_dates_split() {
        let dated = split_dated_name("2025-08-8-migrating-to-x").unwrap();
        assert_eq!(dated.ymd, (2025, 8, 8));
        assert_eq!(dated.name, "migrating-to-x");
        assert!(split_dated_name("about").is_none());
        assert!(split_dated_name("2025-xx-01-a").is_none());
    }
}
