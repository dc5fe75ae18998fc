//! `newsroom digest preview`: the dry run. Writes exactly what `send` would
//! transmit, as files: one `.eml` per active subscriber, the HTML the first
//! one sees, the text part, and a manifest of every subscriber row.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rayon::prelude::*;

use super::assemble::{Selection, edition_digest_of};
use super::{Edition, GMAIL_CLIP_BYTES};
use crate::content::Scheduled;
use crate::diagnostics::{self, Diagnostic};
use crate::email::message::{self, SecretPolicy, UnsubscribeSecret};
use crate::email::template::Slot;
use crate::site::{Input, Site};
use crate::store::import::ListView;

/// A message written to disk: its Message-ID, its size, and for the first
/// subscriber the HTML and text that become `index.html` and `digest.txt`.
type WrittenMessage = (String, usize, Option<(String, String)>);

/// Messages built and written between two manifest flushes.
const PREVIEW_CHUNK: usize = 1024;

/// What `preview` did.
#[derive(Debug, Default)]
pub struct PreviewReport {
    pub edition: Option<Edition>,
    /// The edition's folder, when something was written.
    pub dir: Option<PathBuf>,
    pub posts: usize,
    pub messages: usize,
    /// Subscriber rows not mailed (unsubscribed, bounced, suppressed, invalid, duplicates).
    pub skipped: usize,
    /// With no posts to send: the edition's posts dated after now.
    pub scheduled: Scheduled,
    /// Problems with posts, subscribers or messages.
    pub diagnostics: Vec<Diagnostic>,
    /// Notes for the user (no secret set, Gmail clipping).
    pub warnings: Vec<String>,
}

/// A line of the subscriber file, or nothing for a subscriber not in it.
fn shown_line(line: usize) -> String {
    if line == 0 { String::new() } else { line.to_string() }
}

/// The text part with its personal slots filled for no one in particular:
/// what `digest.txt` shows when the preview mails nobody.
fn text_for_nobody(text: &str) -> String {
    crate::email::template::fill_slots(text, &|slot| {
        match slot {
            Slot::Greeting => "Hello,",
            Slot::Name => "there",
            Slot::Email => "[each subscriber's address]",
            Slot::UnsubscribeUrl => "[each subscriber's unsubscribe link]",
        }
        .to_string()
    })
}

/// A file name for an address that is safe on any file system.
pub fn safe_file_name(index: usize, address: &str) -> String {
    let cleaned: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '+' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    format!("{index:05}-{}.eml", cleaned.trim_start_matches('.'))
}

/// Writes the preview of `edition` into `out_dir/<its web path>/`
/// (`YYYY-MM/` for a month), replacing it
/// atomically: what `send` would transmit to each subscriber `list` (the
/// store with the site's subscriber file merged, unsaved) holds as
/// subscribed, and a manifest of every other subscriber and file row with
/// why it gets nothing. The edition carries the posts `selection` names:
/// those its first send recorded once its send has begun, as its later
/// runs do.
pub fn preview(
    site: &Site,
    edition: &Edition,
    out_dir: &Path,
    now: DateTime<Utc>,
    list: &ListView,
    selection: &Selection,
) -> Result<PreviewReport> {
    site.require(&[Input::Posts])?;
    let mut report = PreviewReport { edition: Some(edition.clone()), ..Default::default() };
    report.diagnostics.extend(site.unset_sending_keys());
    let assembled = edition_digest_of(site, edition, now, selection)?;
    report.diagnostics.extend(assembled.diagnostics);
    report.scheduled = assembled.scheduled;
    let Some(digest) = assembled.digest else {
        return Ok(report);
    };
    report.posts = digest.post_count;
    let secret = match UnsubscribeSecret::from_env(SecretPolicy::DevelopmentKeyAllowed)? {
        UnsubscribeSecret::Set(secret) => secret,
        UnsubscribeSecret::Development(secret, warning) => {
            report.warnings.push(warning);
            secret
        }
    };
    let mut sender = crate::email::sender(&site.config, secret, now.into());
    sender.dkim = crate::email::dkim::for_site(site)?;

    report.diagnostics.extend(list.report.diagnostics.iter().cloned());
    let month_dir = out_dir.join(edition.web_path());
    // `weekly/2026-W45`: the cadence's folder first.
    let parent = month_dir.parent().unwrap_or(out_dir);
    fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".newsroom-preview-")
        .tempdir_in(out_dir)
        .with_context(|| format!("failed to create a staging folder in `{}`", out_dir.display()))?;
    let messages_dir = staging.path().join("messages");
    fs::create_dir_all(&messages_dir)?;

    // Messages are built and written a chunk at a time and their manifest
    // rows written as each chunk ends, so memory does not grow with the list.
    let mut manifest = csv::Writer::from_path(staging.path().join("manifest.csv"))?;
    manifest.write_record(["address", "status", "message_id", "bytes", "reason", "line"])?;
    let mut first_view = None;
    let mut largest_html = 0;
    for (chunk_index, chunk) in list.mailed.chunks(PREVIEW_CHUNK).enumerate() {
        let offset = chunk_index * PREVIEW_CHUNK;
        let results: Vec<Result<WrittenMessage>> = chunk
            .par_iter()
            .enumerate()
            .map(|(index, subscriber)| {
                let index = offset + index;
                let outgoing = message::build(&digest, &sender, &subscriber.person())?;
                let bytes = outgoing.bytes();
                let path = messages_dir.join(safe_file_name(index + 1, &subscriber.email));
                fs::write(&path, &bytes).with_context(|| format!("failed to write `{}`", path.display()))?;
                let first = (index == 0).then(|| message::personal_parts(&digest, &sender, &subscriber.person()));
                Ok((outgoing.message_id, bytes.len(), first))
            })
            .collect();
        for (subscriber, result) in chunk.iter().zip(results) {
            let (message_id, bytes, first) = result?;
            if let Some(first) = first {
                largest_html = largest_html.max(first.0.len());
                first_view = Some(first);
            }
            let line = shown_line(subscriber.line);
            manifest.write_record([subscriber.email.as_str(), "ready", &message_id, &bytes.to_string(), "", &line])?;
            report.messages += 1;
        }
    }
    // Every other subscriber and row of the file, with why it gets nothing:
    // the file's rows in file order, then the store's others.
    let mut skipped: Vec<(usize, &str, String)> = list
        .not_mailed
        .iter()
        .map(|(line, address, reason)| (*line, address.as_str(), reason.clone()))
        .chain(list.report.skipped.iter().map(|row| (row.line, row.address.as_str(), row.reason.clone())))
        .chain(list.report.forgotten.iter().map(|line| (*line, "", "forgotten on request; not imported again".into())))
        .collect();
    skipped.sort_by_key(|(line, _, _)| if *line == 0 { usize::MAX } else { *line });
    for (line, address, reason) in skipped {
        manifest.write_record([address, "skipped", "", "0", &reason, &shown_line(line)])?;
        report.skipped += 1;
    }
    manifest.flush()?;
    drop(manifest);

    // With nobody to mail, the web version and the text part as no one in
    // particular would get it: its personal parts said, not left as slots.
    let (html, text) = first_view.unwrap_or_else(|| (digest.archive_html.clone(), text_for_nobody(&digest.text)));
    if html.len() > GMAIL_CLIP_BYTES {
        report.warnings.push(format!(
            "the HTML part is {} bytes; Gmail clips messages over {GMAIL_CLIP_BYTES} bytes (fewer or shorter excerpts help)",
            html.len()
        ));
    }
    fs::write(staging.path().join("index.html"), html)?;
    fs::write(staging.path().join("digest.txt"), text)?;
    crate::staging::replace_dir(staging, &month_dir)?;
    diagnostics::sort(&mut report.diagnostics);
    report.dir = Some(month_dir);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_for_any_address() {
        assert_eq!(safe_file_name(1, "ada@example.org"), "00001-ada@example.org.eml");
        assert_eq!(safe_file_name(2, "\"a/b\\c\"@x.org"), "00002-_a_b_c_@x.org.eml");
        assert_eq!(safe_file_name(3, "..@x"), "00003-@x.eml");
    }
}
