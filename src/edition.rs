//! The calendar of sends. What one send is: an **edition**, a cadence and a period of it, with the
//! window of publication dates it covers, its id, its web path, its name
//! and when it ends (DESIGN.md, "Editions, topics and preferences").
//!
//! The monthly edition is the digest newsroom has always sent, and keeps
//! its bytes: id `digest-YYYY-MM` (the ledger key and the Message-IDs'
//! prefix), web path `YYYY-MM`. The others are new, and their ids name the
//! cadence so that no two cadences ever share a ledger key:
//!
//! | cadence    | name                  | id                             | web path              |
//! | ---------- | --------------------- | ------------------------------ | --------------------- |
//! | `monthly`  | `monthly/2026-10`     | `digest-2026-10`               | `2026-10`             |
//! | `weekly`   | `weekly/2026-W45`     | `digest-weekly-2026-W45`       | `weekly/2026-W45`     |
//! | `daily`    | `daily/2026-11-03`    | `digest-daily-2026-11-03`      | `daily/2026-11-03`    |
//! | `per_post` | `post/<slug>`         | `digest-post-<slug>`           | `post/<slug>`         |
//!
//! Weeks are ISO 8601 weeks (Monday first; week 1 holds the year's first
//! Thursday, so a week can span two years and a year can have 53). With
//! `week_starts: sunday` a week runs Sunday to Saturday and is named by the
//! ISO week of its Monday, with `-sun` after it (`weekly/2026-W45-sun`): a
//! site that changes the first day of its weeks never meets an edition of
//! the other kind under the same id.
//!
//! A post belongs to the period its own calendar date falls in (the date in
//! the offset it was published with), as it always has for months. A
//! period *ends* at `send_at` (an hour and a time zone, default 00:00 UTC)
//! on the day after its last: the October edition of a site sending at
//! `09:00 Europe/Berlin` is due on 1 November at 09:00 in Berlin, whatever
//! daylight saving says that day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use jiff::tz::TimeZone;

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cadence {
    Monthly,
    Weekly,
    Daily,
    /// One edition per post, once the post's date has passed.
    PerPost,
}

impl Cadence {
    pub const ALL: [Cadence; 4] = [Cadence::Monthly, Cadence::Weekly, Cadence::Daily, Cadence::PerPost];

    /// What one period is called: "month", "week", "day", "post".
    pub fn noun(self) -> &'static str {
        match self {
            Cadence::Monthly => "month",
            Cadence::Weekly => "week",
            Cadence::Daily => "day",
            Cadence::PerPost => "post",
        }
    }

    /// The word for its digests: the "monthly" of "monthly digest".
    pub fn adjective(self) -> &'static str {
        match self {
            Cadence::Monthly => "monthly",
            Cadence::Weekly => "weekly",
            Cadence::Daily => "daily",
            Cadence::PerPost => "new-post",
        }
    }

    /// The name in `newsroom.yaml` (`digest.cadence`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Monthly => "monthly",
            Cadence::Weekly => "weekly",
            Cadence::Daily => "daily",
            Cadence::PerPost => "per_post",
        }
    }
}

impl FromStr for Cadence {
    type Err = String;

    fn from_str(text: &str) -> Result<Cadence, String> {
        Cadence::ALL
            .into_iter()
            .find(|c| c.as_str() == text.trim())
            .ok_or_else(|| format!("`{text}` is not a cadence: use one of monthly, weekly, daily, per_post"))
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first day of a site's weeks (`digest.week_starts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum WeekStart {
    /// ISO 8601's weeks.
    #[default]
    Monday,
    Sunday,
}

impl FromStr for WeekStart {
    type Err = String;

    fn from_str(text: &str) -> Result<WeekStart, String> {
        match text.trim() {
            "monday" => Ok(WeekStart::Monday),
            "sunday" => Ok(WeekStart::Sunday),
            _ => Err(format!("`{text}` is not a first day of the week: use monday (ISO 8601) or sunday")),
        }
    }
}

/// A week: seven days from its first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    first: NaiveDate,
    starts: WeekStart,
}

impl Week {
    /// The week `date` is in.
    pub fn of(date: NaiveDate, starts: WeekStart) -> Week {
        let back = match starts {
            WeekStart::Monday => date.weekday().num_days_from_monday(),
            WeekStart::Sunday => date.weekday().num_days_from_sunday(),
        };
        Week { first: date - Days::new(u64::from(back)), starts }
    }

    /// The ISO week (year and number) that names it: its own, or for a
    /// Sunday week that of its Monday.
    pub fn iso(&self) -> (i32, u32) {
        let monday = match self.starts {
            WeekStart::Monday => self.first,
            WeekStart::Sunday => self.first + Days::new(1),
        };
        let iso = monday.iso_week();
        (iso.year(), iso.week())
    }

    pub fn first_day(&self) -> NaiveDate {
        self.first
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, week) = self.iso();
        write!(f, "{year:04}-W{week:02}")?;
        if self.starts == WeekStart::Sunday {
            f.write_str("-sun")?;
        }
        Ok(())
    }
}

/// The period an edition covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Month(Month),
    Week(Week),
    Day(NaiveDate),
    /// One post, by the slug of its permalink.
    Post(String),
}

/// One send: a cadence's period (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edition {
    pub period: Period,
}

impl Edition {
    /// The monthly edition of `month`: the digest of every earlier release.
    pub fn monthly(month: Month) -> Edition {
        Edition { period: Period::Month(month) }
    }

    /// The edition of one post.
    pub fn per_post(slug: &str) -> Edition {
        Edition { period: Period::Post(slug.to_string()) }
    }

    /// The edition of `cadence` whose window holds `date` (`None` for
    /// `per_post`, whose editions are posts, not windows).
    pub fn containing(cadence: Cadence, date: NaiveDate, starts: WeekStart) -> Option<Edition> {
        let period = match cadence {
            Cadence::Monthly => Period::Month(Month { year: date.year(), month: date.month() }),
            Cadence::Weekly => Period::Week(Week::of(date, starts)),
            Cadence::Daily => Period::Day(date),
            Cadence::PerPost => return None,
        };
        Some(Edition { period })
    }

    pub fn cadence(&self) -> Cadence {
        match self.period {
            Period::Month(_) => Cadence::Monthly,
            Period::Week(_) => Cadence::Weekly,
            Period::Day(_) => Cadence::Daily,
            Period::Post(_) => Cadence::PerPost,
        }
    }

    /// Whether `other` is of this edition's calendar: the same cadence
    /// and, for weeks, the same first day. Only such editions follow one
    /// another ([`Edition::next`]) and carry posts over between them.
    pub fn same_calendar(&self, other: &Edition) -> bool {
        match (&self.period, &other.period) {
            (Period::Week(a), Period::Week(b)) => a.starts == b.starts,
            _ => self.cadence() == other.cadence(),
        }
    }

    /// The ledger's key and the Message-IDs' prefix: `digest-2026-10` for
    /// a month, as always; the cadence in it for the others.
    pub fn id(&self) -> String {
        match &self.period {
            Period::Month(month) => month.digest_id(),
            Period::Week(week) => format!("digest-weekly-{week}"),
            Period::Day(day) => format!("digest-daily-{day}"),
            Period::Post(slug) => format!("digest-post-{slug}"),
        }
    }

    /// Where its web version and preview go, under `digest/` and
    /// `preview/`: `2026-10` for a month, as always.
    pub fn web_path(&self) -> String {
        match &self.period {
            Period::Month(month) => month.to_string(),
            _ => self.name(),
        }
    }

    /// The period as a return-path token names it, in digits (a VERP
    /// local part's letter case is not kept): `202610` for a month (the six
    /// digits of every earlier release, which `inbound` reads), `2026451`
    /// for a week (year, ISO week, 1 for Monday weeks, 0 for Sunday ones),
    /// `20261103` for a day; `0` for a post's edition, which the message's
    /// other clues name.
    pub fn token_period(&self) -> String {
        match &self.period {
            Period::Month(month) => month.compact(),
            Period::Week(week) => {
                let (year, number) = week.iso();
                let monday = u8::from(week.starts == WeekStart::Monday);
                format!("{year:04}{number:02}{monday}")
            }
            Period::Day(day) => day.format("%Y%m%d").to_string(),
            Period::Post(_) => "0".into(),
        }
    }

    /// The edition of a [`Edition::token_period`], when it names one.
    pub fn from_token_period(text: &str) -> Option<Edition> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match text.len() {
            6 => Month::from_compact(text).map(Edition::monthly),
            7 => {
                let starts = if &text[6..] == "1" { "" } else { "-sun" };
                Edition::parse(&format!("weekly/{}-W{}{starts}", &text[..4], &text[4..6])).ok()
            }
            8 => Edition::parse(&format!("daily/{}-{}-{}", &text[..4], &text[4..6], &text[6..])).ok(),
            _ => None,
        }
    }

    /// The edition of an [`Edition::id`] (`digest-2026-10`,
    /// `digest-weekly-2026-W45`, …), when it is one.
    pub fn from_id(id: &str) -> Option<Edition> {
        let rest = id.strip_prefix("digest-")?;
        for cadence in ["weekly", "daily", "post"] {
            if let Some(period) = rest.strip_prefix(cadence).and_then(|r| r.strip_prefix('-')) {
                return Edition::parse(&format!("{cadence}/{period}")).ok();
            }
        }
        rest.parse::<Month>().ok().map(Edition::monthly)
    }

    /// Its name on the command line (`--edition`) and in reports.
    pub fn name(&self) -> String {
        match &self.period {
            Period::Month(month) => format!("monthly/{month}"),
            Period::Week(week) => format!("weekly/{week}"),
            Period::Day(day) => format!("daily/{day}"),
            Period::Post(slug) => format!("post/{slug}"),
        }
    }

    /// How a reader sees the period: `October 2026`, `week 45 of 2026`,
    /// `3 November 2026` (`{period}` in the templates). A post's edition is
    /// named by its post, which the caller has.
    pub fn label(&self) -> String {
        match &self.period {
            Period::Month(month) => month.label(),
            Period::Week(week) => {
                let (year, number) = week.iso();
                let last = week.first + Days::new(6);
                format!("week {number} of {year} ({} – {})", week.first.format("%B %-d"), last.format("%B %-d"))
            }
            Period::Day(day) => day.format("%B %-d, %Y").to_string(),
            Period::Post(slug) => slug.clone(),
        }
    }

    /// The publication dates it covers: from the first, up to (not
    /// including) the second. `None` for a post's edition.
    pub fn window(&self) -> Option<(NaiveDate, NaiveDate)> {
        match &self.period {
            Period::Month(month) => {
                let first = NaiveDate::from_ymd_opt(month.year, month.month, 1)?;
                Some((first, first.checked_add_months(chrono::Months::new(1))?))
            }
            Period::Week(week) => Some((week.first, week.first + Days::new(7))),
            Period::Day(day) => Some((*day, *day + Days::new(1))),
            Period::Post(_) => None,
        }
    }

    /// Whether a post dated `date` (its own calendar date) is in it.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.window().is_some_and(|(first, after)| first <= date && date < after)
    }

    /// When the period ends and its edition may go out: `send_at` on the
    /// day after its window. `None` for a post's edition (it is due at the
    /// post's date) or past the calendar.
    pub fn ends(&self, send_at: &SendAt) -> Option<DateTime<Utc>> {
        let (_, after) = self.window()?;
        Some(send_at.on(after))
    }

    /// The edition after this one (`None` for a post's).
    pub fn next(&self) -> Option<Edition> {
        let (_, after) = self.window()?;
        let starts = match &self.period {
            Period::Week(week) => week.starts,
            _ => WeekStart::Monday,
        };
        Edition::containing(self.cadence(), after, starts)
    }

    /// The edition before this one (`None` for a post's).
    pub fn previous(&self) -> Option<Edition> {
        let (first, _) = self.window()?;
        let starts = match &self.period {
            Period::Week(week) => week.starts,
            _ => WeekStart::Monday,
        };
        Edition::containing(self.cadence(), first.pred_opt()?, starts)
    }

    /// The latest edition of `cadence` whose period has ended at `now`.
    pub fn last_ended(cadence: Cadence, now: DateTime<Utc>, send_at: &SendAt, starts: WeekStart) -> Option<Edition> {
        // The edition holding today in the send zone has not ended (it ends
        // at `send_at` tomorrow or later); one of the two before it has.
        let today = send_at.date_of(now);
        let mut edition = Edition::containing(cadence, today, starts)?;
        for _ in 0..3 {
            if edition.ends(send_at).is_some_and(|end| end <= now) {
                return Some(edition);
            }
            edition = edition.previous()?;
        }
        None
    }

    /// Reads an edition's name: `monthly/2026-10` (or `2026-10`, as
    /// `--month` takes it), `weekly/2026-W45` (`-sun` for a Sunday week),
    /// `daily/2026-11-03`, `post/<slug>`.
    pub fn parse(text: &str) -> Result<Edition, String> {
        let text = text.trim();
        let invalid = |why: &str| {
            format!(
                "`{text}` is not an edition ({why}): use monthly/YYYY-MM, weekly/YYYY-Www, daily/YYYY-MM-DD or post/SLUG"
            )
        };
        let Some((cadence, period)) = text.split_once('/') else {
            return text.parse::<Month>().map(Edition::monthly).map_err(|_| invalid("no cadence"));
        };
        let period = match cadence {
            "monthly" => Period::Month(period.parse().map_err(|e: String| invalid(&e))?),
            "weekly" => {
                let (week, starts) = match period.strip_suffix("-sun") {
                    Some(week) => (week, WeekStart::Sunday),
                    None => (period, WeekStart::Monday),
                };
                let (year, number) = week.split_once("-W").ok_or_else(|| invalid("a week is YYYY-Www"))?;
                let year: i32 = year.parse().map_err(|_| invalid("a week is YYYY-Www"))?;
                let number: u32 = number.parse().map_err(|_| invalid("a week is YYYY-Www"))?;
                let monday = NaiveDate::from_isoywd_opt(year, number, Weekday::Mon)
                    .ok_or_else(|| invalid(&format!("{year} has no week {number}")))?;
                let first = match starts {
                    WeekStart::Monday => monday,
                    WeekStart::Sunday => monday.pred_opt().ok_or_else(|| invalid("out of the calendar"))?,
                };
                Period::Week(Week { first, starts })
            }
            "daily" => {
                Period::Day(NaiveDate::parse_from_str(period, "%Y-%m-%d").map_err(|_| invalid("a day is YYYY-MM-DD"))?)
            }
            "post" if !period.is_empty() && !period.contains('/') => Period::Post(period.to_string()),
            _ => return Err(invalid("unknown cadence")),
        };
        Ok(Edition { period })
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// When a period ends (`digest.send_at`): a time of day in a time zone.
///
/// The zone is jiff's, from the IANA database bundled into the binary:
/// its rules are read lazily, one zone at a time, so a process that never
/// meets a zone carries none of them (chrono-tz's compiled-in tables were
/// ~1 MB of relocated data in every process, `serve` included: issue 27,
/// BENCHMARKS.md "Serve's peak RSS"), and a send does not depend on the
/// host's `/usr/share/zoneinfo`. Zone names match case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAt {
    pub time: NaiveTime,
    pub zone: TimeZone,
}

impl Default for SendAt {
    /// 00:00 UTC: a month ends when the next one starts, in UTC.
    fn default() -> SendAt {
        SendAt { time: NaiveTime::MIN, zone: TimeZone::UTC }
    }
}

impl SendAt {
    /// `send_at` on `day`, as an instant. A time that daylight saving
    /// skips that day is the first whole minute after the gap; one that it
    /// repeats is its first occurrence.
    pub fn on(&self, day: NaiveDate) -> DateTime<Utc> {
        let mut local = day.and_time(self.time);
        loop {
            if let Some(at) = self.unskipped(local) {
                break at;
            }
            // In the gap: try the next whole minute.
            local += chrono::Duration::minutes(1);
        }
    }

    /// The calendar date `at` falls on in the zone.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let offset = jiff::Timestamp::from_second(at.timestamp())
            .map(|instant| self.zone.to_offset(instant).seconds())
            .unwrap_or(0);
        (at + chrono::Duration::seconds(i64::from(offset))).date_naive()
    }

    /// `local` in the zone as an instant: its first occurrence if daylight
    /// saving repeats it, `None` if it skips it.
    fn unskipped(&self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).ok()?,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            0,
            0,
        )
        .ok()?;
        let ambiguous = self.zone.to_ambiguous_timestamp(civil);
        if matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
            return None;
        }
        let at = ambiguous.earlier().ok()?;
        DateTime::from_timestamp(at.as_second(), 0)
    }
}

impl FromStr for SendAt {
    type Err = String;

    /// `09:00` (UTC), `09:00 Europe/Berlin`, `00:00 UTC`.
    fn from_str(text: &str) -> Result<SendAt, String> {
        let invalid = |why: String| {
            format!(
                "`{text}` is not a send time ({why}): use HH:MM and an IANA time zone, such as `09:00 Europe/Berlin`"
            )
        };
        let mut words = text.split_whitespace();
        let time = words.next().ok_or_else(|| invalid("empty".into()))?;
        let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| invalid(format!("`{time}` is not HH:MM")))?;
        let zone = match words.next() {
            Some(zone) => TimeZone::get(zone).map_err(|_| invalid(format!("`{zone}` is not a time zone")))?,
            None => TimeZone::UTC,
        };
        if let Some(extra) = words.next() {
            return Err(invalid(format!("`{extra}` is one word too many")));
        }
        Ok(SendAt { time, zone })
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// The calendar month before the one `now` is in (UTC): the default digest.
    pub fn previous(now: DateTime<Utc>) -> Month {
        let (year, month) = (now.year(), now.month());
        if month == 1 { Month { year: year - 1, month: 12 } } else { Month { year, month: month - 1 } }
    }

    /// The month a post belongs to: the calendar date it was published on, in its own offset.
    pub fn of(date: DateTime<FixedOffset>) -> Month {
        Month { year: date.year(), month: date.month() }
    }

    /// `digest-YYYY-MM`: the digest's id, the ledger's key and the
    /// Message-IDs' prefix.
    pub fn digest_id(&self) -> String {
        format!("digest-{self}")
    }

    /// `202610`: the month in a return-path token.
    pub fn compact(&self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }

    /// The month of [`Month::compact`]'s form, if it is one.
    pub fn from_compact(text: &str) -> Option<Month> {
        let (year, month) = (text.get(..4)?, text.get(4..)?);
        if text.len() != 6 {
            return None;
        }
        format!("{year}-{month}").parse().ok()
    }

    /// The first instant after the month, in UTC: when its digest may be
    /// sent, every post dated in it published (but for one scheduled later
    /// in an offset west of UTC, which `send` checks for itself).
    pub fn end(&self) -> DateTime<Utc> {
        let (year, month) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        let first = NaiveDate::from_ymd_opt(year, month, 1).expect("a parsed month is valid");
        first.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    }

    /// `October 2026`.
    pub fn label(&self) -> String {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a parsed month is valid");
        first.format("%B %Y").to_string()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;

    fn from_str(text: &str) -> Result<Month, String> {
        let invalid = || format!("`{text}` is not a month: use YYYY-MM, such as 2026-10");
        let (year, month) = text.trim().split_once('-').ok_or_else(invalid)?;
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Month { year, month })
    }
}

#[cfg(test)]
#[path = "edition_tests.rs"]
mod tests;
