//! `digest:`'s keys for editions (issue 28, point 6): which cadences a site
//! sends, when their periods end, and what a period with too few posts
//! does. Read as text with the rest of `digest:` and checked here, each
//! problem with its key so that `check` places it at `newsroom.yaml:line:col`.

use crate::edition::{Cadence, SendAt, WeekStart};

/// The keys as written, read with the rest of `digest:` (serde's
/// `flatten` and `deny_unknown_fields` do not go together).
#[derive(Debug, Clone, Default)]
pub(super) struct EditionsText {
    pub cadence: Option<String>,
    pub cadences: Option<Vec<String>>,
    pub week_starts: Option<String>,
    pub min_posts: Option<u32>,
    pub send_at: Option<String>,
    pub catch_up: Option<String>,
    pub per_post_content: Option<String>,
}

/// What a run of `send --due` after a gap sends for a cadence's missed
/// periods (`digest.catch_up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// One edition covering the whole gap.
    #[default]
    Combine,
    /// Each missed period's own edition, oldest first.
    Each,
}

/// What a per-post edition carries (`digest.per_post_content`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PerPostContent {
    /// The excerpt above the truncate marker, as the other editions.
    #[default]
    Excerpt,
    /// The whole post.
    Full,
}

/// The editions a site sends, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditionsConfig {
    /// The cadences offered, never empty; the first is every reader's
    /// until readers choose (the preferences issue).
    pub cadences: Vec<Cadence>,
    pub week_starts: WeekStart,
    /// A period with fewer listed posts sends nothing; its posts carry
    /// over into the next period of the cadence.
    pub min_posts: u32,
    pub send_at: SendAt,
    pub catch_up: CatchUp,
    pub per_post_content: PerPostContent,
}

impl Default for EditionsConfig {
    /// The community newsletter: monthly, ISO weeks, a period with a post
    /// is sent, periods end at 00:00 UTC.
    fn default() -> EditionsConfig {
        EditionsConfig {
            cadences: vec![Cadence::Monthly],
            week_starts: WeekStart::Monday,
            min_posts: 1,
            send_at: SendAt::default(),
            catch_up: CatchUp::Combine,
            per_post_content: PerPostContent::Excerpt,
        }
    }
}

impl EditionsConfig {
    /// The cadence every reader gets for now: the first offered.
    pub fn cadence(&self) -> Cadence {
        self.cadences[0]
    }
}

impl EditionsText {
    /// Checks the keys; each problem with its key (under `digest`).
    pub(super) fn check(self) -> Result<EditionsConfig, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut config = EditionsConfig::default();
        match (self.cadence, self.cadences) {
            (Some(_), Some(_)) => problems.push((
                "cadences",
                "set digest.cadence (one) or digest.cadences (a list, the first the default), not both".into(),
            )),
            (Some(one), None) => {
                if let Some(cadence) = parsed(&mut problems, "cadence", Some(one)) {
                    config.cadences = vec![cadence];
                }
            }
            (None, Some(list)) => {
                let mut cadences = Vec::new();
                for text in &list {
                    match text.parse::<Cadence>() {
                        Ok(cadence) if cadences.contains(&cadence) => {
                            problems.push(("cadences", format!("digest.cadences names `{cadence}` twice")));
                        }
                        Ok(cadence) => cadences.push(cadence),
                        Err(problem) => problems.push(("cadences", format!("digest.cadences: {problem}"))),
                    }
                }
                if list.is_empty() {
                    problems.push(("cadences", "digest.cadences is empty: name one cadence at least".into()));
                }
                if !cadences.is_empty() {
                    config.cadences = cadences;
                }
            }
            (None, None) => {}
        }
        if let Some(starts) = parsed(&mut problems, "week_starts", self.week_starts) {
            config.week_starts = starts;
        }
        match self.min_posts {
            Some(0) => problems.push((
                "min_posts",
                "digest.min_posts is 0: an edition of no posts is never sent; use 1 or more".into(),
            )),
            Some(count) => config.min_posts = count,
            None => {}
        }
        if let Some(send_at) = parsed(&mut problems, "send_at", self.send_at) {
            config.send_at = send_at;
        }
        match self.catch_up.as_deref().map(str::trim) {
            None | Some("combine") => {}
            Some("each") => config.catch_up = CatchUp::Each,
            Some(other) => problems.push((
                "catch_up",
                format!("digest.catch_up `{other}` is not a choice: combine (one edition for a gap) or each"),
            )),
        }
        match self.per_post_content.as_deref().map(str::trim) {
            None | Some("excerpt") => {}
            Some("full") => config.per_post_content = PerPostContent::Full,
            Some(other) => problems.push((
                "per_post_content",
                format!("digest.per_post_content `{other}` is not a choice: excerpt or full"),
            )),
        }
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }
}

/// `text` (the value of `digest.{key}`, when written) parsed, or the
/// problem pushed under `key`.
pub(super) fn parsed<T: std::str::FromStr>(
    problems: &mut Vec<(&'static str, String)>,
    key: &'static str,
    text: Option<String>,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match text?.parse() {
        Ok(value) => Some(value),
        Err(problem) => {
            problems.push((key, format!("digest.{key}: {problem}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn digest(keys: &str) -> String {
        format!("site:\n  title: T\n  url: https://example.org\ndigest:\n{keys}")
    }

    #[test]
    fn no_keys_mean_the_monthly_newsletter() {
        let config = Config::parse(&digest("  postal_address: 1 Road\n"), Path::new("newsroom.yaml")).unwrap();
        assert_eq!(config.digest.editions, EditionsConfig::default());
        assert_eq!(config.digest.editions.cadence(), Cadence::Monthly);
        assert_eq!(
            Config::parse("site:\n  title: T\n  url: https://e.org\n", Path::new("n"))
                .unwrap()
                .digest
                .editions
                .min_posts,
            1
        );
    }

    #[test]
    fn every_key_reads_its_values() {
        let text = digest(
            "  cadences: [weekly, monthly]\n  week_starts: sunday\n  min_posts: 3\n  send_at: 09:30 Europe/Berlin\n  catch_up: each\n  per_post_content: full\n",
        );
        let editions = Config::parse(&text, Path::new("newsroom.yaml")).unwrap().digest.editions;
        assert_eq!(editions.cadences, [Cadence::Weekly, Cadence::Monthly]);
        assert_eq!(editions.cadence(), Cadence::Weekly);
        assert_eq!(editions.week_starts, WeekStart::Sunday);
        assert_eq!(editions.min_posts, 3);
        assert_eq!(editions.send_at, "09:30 Europe/Berlin".parse().unwrap());
        assert_eq!(editions.catch_up, CatchUp::Each);
        assert_eq!(editions.per_post_content, PerPostContent::Full);
        let one = Config::parse(&digest("  cadence: per_post\n"), Path::new("n")).unwrap();
        assert_eq!(one.digest.editions.cadences, [Cadence::PerPost]);
    }

    /// Each problem names its key and sits where the key is written
    /// (`check` prints `newsroom.yaml:line:col`).
    #[test]
    fn problems_are_placed_at_their_keys() {
        for (keys, line, says) in [
            ("  cadence: fortnightly\n", 5, "digest.cadence: `fortnightly` is not a cadence"),
            ("  cadence: weekly\n  cadences: [weekly]\n", 6, "not both"),
            ("  cadences: [weekly, weekly]\n", 5, "names `weekly` twice"),
            ("  cadences: []\n", 5, "digest.cadences is empty"),
            ("  week_starts: friday\n", 5, "digest.week_starts: `friday`"),
            ("  from: A <a@example.org>\n  min_posts: 0\n", 6, "digest.min_posts is 0"),
            ("  send_at: 9am\n", 5, "digest.send_at: `9am` is not a send time"),
            ("  send_at: 09:00 Europe/Atlantis\n", 5, "`Europe/Atlantis` is not a time zone"),
            ("  catch_up: all\n", 5, "digest.catch_up `all`"),
            ("  per_post_content: half\n", 5, "digest.per_post_content `half`"),
        ] {
            let text = digest(keys);
            let errors = Config::parse(&text, Path::new("newsroom.yaml")).unwrap_err();
            let error = &errors.0[0];
            // At the key's value, as every `digest:` problem.
            let written = text.lines().nth(line - 1).unwrap();
            let column = written.find(": ").unwrap() + 3;
            assert_eq!((error.line, error.column), (line, column), "{keys}: {error}");
            assert!(error.message.contains(says), "{keys}: {error}");
        }
    }
}
