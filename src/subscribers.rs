//! `subscribers.csv`: who the digest is mailed to, read with the `csv` crate.
//!
//! The file is kept by people, often exported from a spreadsheet or another
//! mailing tool, so it is read leniently: any column order, header names in any
//! case, a UTF-8 BOM and CRLF line ends are all fine, and columns newsroom does
//! not know are kept for templates. A bad row is reported as a [`Diagnostic`]
//! with its line number and skipped; it never stops the rows after it, so one
//! typo cannot cancel a whole mailing. Addresses are normalised here once, so
//! de-duplication, the delivery ledger and unsubscribe tokens all agree on who
//! a subscriber is.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use csv::{ErrorKind, StringRecord};

use crate::diagnostics::Diagnostic;
use crate::limits::MAX_SUBSCRIBER_FILE_BYTES;
use crate::subscriber::{
    MAX_NAME_CHARS, Status, Subscriber, capped_name, clean_name, matching_key, normalise_address, shown,
};

/// The UTF-8 byte order mark some spreadsheet programs put at the start of a CSV export.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A row that is not a subscriber: invalid, empty, a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRow {
    /// 1-based line of the row.
    pub line: usize,
    /// The `email` cell as written (trimmed), empty when the row could not be read.
    pub address: String,
    /// Why it is skipped, in plain words.
    pub reason: String,
}

/// Everything the subscriber file held.
#[derive(Debug, Default)]
pub struct SubscriberList {
    /// Valid, de-duplicated rows in file order (the first occurrence of an address wins).
    pub subscribers: Vec<Subscriber>,
    /// Rows that are not subscribers, in file order, so that a report can
    /// account for every row of the file.
    pub skipped: Vec<SkippedRow>,
    /// Problems: rejected rows (error severity — invalid address, empty address, unknown status, wrong number of fields / unparseable row) and duplicates (warning severity, naming the line of the first occurrence, e.g. "duplicate of line 3 (ada@example.org); skipped"), plus a warning for a name that had control characters removed.
    pub diagnostics: Vec<Diagnostic>,
}

impl SubscriberList {
    /// Subscribers with status Subscribed.
    pub fn active(&self) -> impl Iterator<Item = &Subscriber> {
        self.subscribers.iter().filter(|s| s.is_active())
    }

    /// Number of rows rejected with an error. Problems with the file as a
    /// whole (an unreadable header, no `email` column) are reported at line 1
    /// and are not rows, so they are not counted.
    pub fn rejected(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error() && d.line > 1).count()
    }
}

/// Where each known column is in the header; the rest are extra columns.
struct Columns {
    email: usize,
    name: Option<usize>,
    status: Option<usize>,
    /// (index, header) of every other column, in file order.
    extra: Vec<(usize, String)>,
    /// How many fields the header has; rows must match it.
    len: usize,
    /// The file is an export (`subscribers export`: it has every one of
    /// [`EXPORT_COLUMNS`]): its cells may be shielded ([`shield_cell`]).
    export: bool,
}

/// The columns `subscribers export` writes besides `email`, `name` and
/// `status`; read back on import.
pub const EXPORT_COLUMNS: [&str; 4] = ["source", "created_at", "confirmed_at", "changed_at"];

/// What a spreadsheet takes a cell starting with for a formula (OWASP's
/// "CSV injection": `=HYPERLINK(…)` in a name signed up on the web became
/// a live cell in the export).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as `subscribers export` writes it: one a spreadsheet would
/// evaluate (starting with `=`, `+`, `-`, `@`, a tab or a carriage return)
/// gets a leading `'`, which spreadsheets read as "text" and do not show;
/// so does one that starts with `'` before such a character or another
/// `'`, so that [`unshield_cell`] gives every value back exactly.
pub fn shield_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let quoted = |rest: &str| rest.starts_with(FORMULA_STARTS) || rest.starts_with('\'');
    if value.starts_with(FORMULA_STARTS) || value.strip_prefix('\'').is_some_and(quoted) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// The value [`shield_cell`] wrote `cell` for.
pub fn unshield_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

impl Columns {
    /// Finds the columns by trimmed, case-insensitive header name. A repeated
    /// known header is warned about and kept as an extra column so its data is
    /// not silently lost.
    fn find(headers: &StringRecord, source: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<Self> {
        let mut email = None;
        let mut name = None;
        let mut status = None;
        let mut extra = Vec::new();
        for (index, header) in headers.iter().enumerate() {
            let header = header.trim();
            let slot = if header.eq_ignore_ascii_case("email") {
                &mut email
            } else if header.eq_ignore_ascii_case("name") {
                &mut name
            } else if header.eq_ignore_ascii_case("status") {
                &mut status
            } else {
                extra.push((index, header.to_owned()));
                continue;
            };
            if slot.is_none() {
                *slot = Some(index);
            } else {
                diagnostics.push(Diagnostic::warning(
                    source,
                    (1, 1),
                    format!(
                        "column {} repeats the `{}` header; only the first is read, this one is kept as an extra column",
                        index + 1,
                        shown(header)
                    ),
                ));
                extra.push((index, header.to_owned()));
            }
        }
        let Some(email) = email else {
            let message = if headers.iter().all(|h| h.trim().is_empty()) {
                "no header row; the first line must name the columns, including `email`".to_owned()
            } else {
                let found: Vec<&str> = headers.iter().map(str::trim).collect();
                format!("no `email` column in the header (found: {})", shown(&found.join(", ")))
            };
            diagnostics.push(Diagnostic::error(source, (1, 1), message));
            return None;
        };
        let export = EXPORT_COLUMNS.iter().all(|column| extra.iter().any(|(_, header)| header == column));
        Some(Columns { email, name, status, extra, len: headers.len(), export })
    }
}

/// Reads and validates a subscriber CSV from `reader`; `source` is the path shown in diagnostics.
pub fn parse(reader: impl Read, source: &Path) -> SubscriberList {
    let mut list = SubscriberList::default();
    // Matching key -> line of its first occurrence. The key is a second
    // copy of the address, cheaper than hashing into `subscribers` by index.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let problems = for_each_row(reader, source, |row| match row {
        Row::Subscriber(subscriber, mut warnings) => match seen.entry(matching_key(&subscriber.email)) {
            Entry::Occupied(first) => {
                let line = subscriber.line;
                let reason = format!("duplicate of line {} ({})", first.get(), subscriber.email);
                list.diagnostics.push(Diagnostic::warning(source, (line, 1), format!("{reason}; skipped")));
                list.skipped.push(SkippedRow { line, address: subscriber.email, reason });
            }
            Entry::Vacant(slot) => {
                slot.insert(subscriber.line);
                list.diagnostics.append(&mut warnings);
                list.subscribers.push(subscriber);
            }
        },
        Row::Skipped(row, diagnostic) => {
            list.diagnostics.push(diagnostic);
            list.skipped.push(row);
        }
    });
    // A problem with the header means no rows were read: it stands alone.
    list.diagnostics.splice(0..0, problems);
    list
}

/// One row of a subscriber file, as [`for_each_row`] reads it.
pub enum Row {
    /// A valid row, and its warnings (a name cleaned of control characters).
    Subscriber(Subscriber, Vec<Diagnostic>),
    /// A row that is not a subscriber, and the error that says why.
    Skipped(SkippedRow, Diagnostic),
}

/// Reads a subscriber CSV a row at a time, calling `each` with every row in
/// file order (duplicates included: finding them is the caller's), so a
/// file of millions of rows is never held whole. Returns the problems with
/// the file as a whole (its header).
pub fn for_each_row(reader: impl Read, source: &Path, mut each: impl FnMut(Row)) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let reader = match skip_bom(reader) {
        Ok(reader) => reader,
        Err(err) => {
            problems.push(Diagnostic::error(source, (1, 1), format!("could not read the file: {err}")));
            return problems;
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        // Fields are trimmed as they are read instead (`str::trim` borrows);
        // csv's `Trim::All` rewrites every record and doubles the parse time.
        .trim(csv::Trim::Headers)
        .buffer_capacity(64 * 1024)
        .from_reader(LineTracker::new(reader));

    let columns = match csv.headers() {
        Ok(headers) => Columns::find(headers, source, &mut problems),
        Err(err) => {
            problems.push(Diagnostic::error(source, (1, 1), read_problem(&err, None)));
            None
        }
    };
    let Some(columns) = columns else {
        return problems;
    };
    let mut record = StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = line_of(&mut csv, record.position());
                match read_row(&record, &columns, line) {
                    Ok((subscriber, warnings)) => {
                        let warnings =
                            warnings.into_iter().map(|w| Diagnostic::warning(source, (line, 1), w)).collect();
                        each(Row::Subscriber(subscriber, warnings));
                    }
                    Err(reason) => {
                        let address = record.get(columns.email).map_or("", str::trim).to_owned();
                        let diagnostic = Diagnostic::error(source, (line, 1), reason.clone());
                        each(Row::Skipped(SkippedRow { line, address, reason }, diagnostic));
                    }
                }
            }
            Err(err) => {
                let reader_position = csv.position().clone();
                let line = line_of(&mut csv, Some(err.position().unwrap_or(&reader_position))).max(1);
                let headers = csv.headers().ok().cloned();
                let reason = read_problem(&err, headers.as_ref());
                let diagnostic = Diagnostic::error(source, (line, 1), reason.clone());
                each(Row::Skipped(SkippedRow { line, address: String::new(), reason }, diagnostic));
                // A row that is not UTF-8 has been consumed whole, so the rows
                // after it can still be read; any other error (I/O) leaves the
                // reader in an unknown state.
                if !matches!(err.kind(), ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    problems
}

/// Opens a subscriber file for reading, refusing one over
/// [`MAX_SUBSCRIBER_FILE_BYTES`] or that is not a file.
pub fn open(path: &Path) -> Result<std::fs::File> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("failed to read the subscriber file `{}`", path.display()))?;
    if !metadata.is_file() {
        bail!("the subscriber file `{}` is not a file", path.display());
    }
    if metadata.len() > MAX_SUBSCRIBER_FILE_BYTES {
        bail!(
            "the subscriber file `{}` is {} bytes; it may be at most {MAX_SUBSCRIBER_FILE_BYTES} bytes (512 MiB)",
            path.display(),
            metadata.len()
        );
    }
    std::fs::File::open(path).with_context(|| format!("failed to read the subscriber file `{}`", path.display()))
}

/// Reads the file at `path` (refusing files over [`MAX_SUBSCRIBER_FILE_BYTES`]); `source` is the path shown in diagnostics.
pub fn load(path: &Path, source: &Path) -> Result<SubscriberList> {
    Ok(parse(open(path)?, source))
}

/// Turns one record into a subscriber, or the reason it is rejected. The
/// flag says whether control characters were removed from the name.
/// Reads one row: the subscriber and the warnings about it, or why it is not one.
fn read_row(record: &StringRecord, columns: &Columns, line: usize) -> Result<(Subscriber, Vec<String>), String> {
    let fields = record.len();
    let counted =
        || format!("row has {fields} field{}, the header has {}", if fields == 1 { "" } else { "s" }, columns.len);
    // Spreadsheets often pad rows with empty trailing cells; only data beyond
    // the header makes a long row wrong.
    let extra_data = fields > columns.len && record.iter().skip(columns.len).any(|f| !f.trim().is_empty());
    if extra_data {
        return Err(counted());
    }
    // A row appended by hand often stops short (`ada@example.org,Ada` under
    // `email,name,status`): its missing trailing fields are read as empty,
    // as a spreadsheet would show them, and said.
    let mut warnings = Vec::new();
    if fields < columns.len {
        warnings.push(format!("{}: its missing trailing fields are read as empty", counted()));
    }
    let field = |index: usize| {
        let field = record.get(index).map_or("", str::trim);
        if columns.export { unshield_cell(field) } else { field }
    };

    // Every problem with the row is named at once, so fixing the file takes
    // one round trip, but the row counts as one rejection.
    let email = normalise_address(field(columns.email));
    let status = Status::from_cell(columns.status.map_or("", field));
    let (email, status) = match (email, status) {
        (Ok(email), Ok(status)) => (email, status),
        (Err(a), Err(b)) => return Err(format!("{a}; {b}")),
        (Err(reason), _) | (_, Err(reason)) => return Err(reason),
    };

    let (mut name, name_had_controls) = clean_name(columns.name.map_or("", field));
    if name_had_controls {
        warnings.push("the name contained control characters (line breaks, tabs); they were replaced by spaces".into());
    }
    if let Some(long) = name.as_deref()
        && let (kept, true) = capped_name(long)
    {
        warnings.push(format!(
            "the name is {} characters long; only its first {MAX_NAME_CHARS} are kept",
            long.chars().count()
        ));
        name = Some(kept.to_string());
    }
    let extra = columns.extra.iter().map(|(index, header)| (header.clone(), field(*index).to_owned())).collect();
    Ok((Subscriber { id: None, email, name, status, extra, line }, warnings))
}

/// The 1-based line on which the record at `position` starts.
fn line_of<R: Read>(csv: &mut csv::Reader<LineTracker<R>>, position: Option<&csv::Position>) -> usize {
    let Some(position) = position else {
        return 1;
    };
    let fallback = position.line() as usize;
    csv.get_mut().line_at_or_after(position.byte()).unwrap_or(fallback).max(1)
}

/// Passes bytes through to the csv reader while noting where each line
/// starts, because csv's own `Position::line()` is wrong for the files people
/// actually have: a record after a CRLF is reported one line early (the LF is
/// counted as part of the next record) and skipped blank lines are not
/// counted. A line ends at LF, CRLF or a lone CR, as csv and editors agree.
struct LineTracker<R> {
    inner: R,
    /// Offset of the next byte read from `inner`.
    offset: u64,
    /// Line number of the next byte.
    line: usize,
    at_line_start: bool,
    after_cr: bool,
    /// (offset, line) of each line start that holds data (not a line end),
    /// not yet claimed by a record; csv reads at most a buffer ahead, so this
    /// stays small however long the file is.
    starts: VecDeque<(u64, usize)>,
}

impl<R: Read> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker { inner, offset: 0, line: 1, at_line_start: true, after_cr: false, starts: VecDeque::new() }
    }

    /// The line of the first data byte at or after `offset`. A record's
    /// position can point at the LF of the previous CRLF or at blank lines
    /// before it, and its first data byte is always at a line start.
    fn line_at_or_after(&mut self, offset: u64) -> Option<usize> {
        while self.starts.front().is_some_and(|&(start, _)| start < offset) {
            self.starts.pop_front();
        }
        self.starts.front().map(|&(_, line)| line)
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if self.after_cr {
                self.after_cr = false;
                self.line += 1;
                self.at_line_start = true;
                if byte == b'\n' {
                    self.offset += 1;
                    continue;
                }
            }
            match byte {
                b'\r' => {
                    self.after_cr = true;
                    self.at_line_start = false;
                }
                b'\n' => {
                    self.line += 1;
                    self.at_line_start = true;
                }
                _ if self.at_line_start => {
                    self.starts.push_back((self.offset, self.line));
                    self.at_line_start = false;
                }
                _ => {}
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

/// Drops a leading UTF-8 BOM. csv-core strips one too, but only when all
/// three bytes arrive in its first read, which a slow or chunked reader does
/// not promise; a BOM left in place would turn the header `email` into
/// `\u{feff}email` and make the whole file look like it has no `email` column.
fn skip_bom<R: Read>(mut reader: R) -> std::io::Result<impl Read> {
    let mut prefix = Vec::with_capacity(UTF8_BOM.len());
    (&mut reader).take(UTF8_BOM.len() as u64).read_to_end(&mut prefix)?;
    if prefix == UTF8_BOM {
        prefix.clear();
    }
    Ok(std::io::Cursor::new(prefix).chain(reader))
}

/// Explains a csv error in the terms of the file, naming the column for
/// text that is not UTF-8.
fn read_problem(err: &csv::Error, headers: Option<&StringRecord>) -> String {
    match err.kind() {
        ErrorKind::Utf8 { err: utf8, .. } => {
            let column = headers
                .and_then(|h| h.get(utf8.field()))
                .filter(|h| !h.is_empty())
                .map_or_else(|| format!("field {}", utf8.field() + 1), |h| format!("the `{}` column", shown(h)));
            format!("row is not valid UTF-8 (in {column}); save the file as UTF-8")
        }
        ErrorKind::Io(io) => format!("could not read the file: {io}"),
        _ => format!("could not read the row: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Severity;

    fn parse_str(text: &str) -> SubscriberList {
        parse(text.as_bytes(), Path::new("subscribers.csv"))
    }

    fn emails(list: &SubscriberList) -> Vec<&str> {
        list.subscribers.iter().map(|s| s.email.as_str()).collect()
    }

    fn messages(list: &SubscriberList) -> Vec<String> {
        list.diagnostics.iter().map(ToString::to_string).collect()
    }

    /// Hands out one byte per read, like a slow pipe.
    struct OneByteAtATime<'a>(&'a [u8]);

    impl Read for OneByteAtATime<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&byte, rest)), Some(slot)) => {
                    *slot = byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn bom_and_crlf_file_parses_with_the_right_header() {
        let text = "\u{feff}Email,Name\r\nada@example.org,Ada Lovelace\r\nbob@example.org,Bob\r\n";
        for list in [parse_str(text), parse(OneByteAtATime(text.as_bytes()), Path::new("subscribers.csv"))] {
            assert!(list.diagnostics.is_empty(), "{:?}", messages(&list));
            assert_eq!(emails(&list), ["ada@example.org", "bob@example.org"]);
            assert_eq!(list.subscribers[0].name.as_deref(), Some("Ada Lovelace"));
            assert_eq!(list.subscribers[0].line, 2);
            assert_eq!(list.subscribers[1].line, 3);
            assert!(list.subscribers[0].extra.is_empty());
        }
    }

    #[test]
    fn headers_are_trimmed_case_insensitive_and_in_any_order() {
        let list = parse_str(" STATUS ,Name, email \nbounced,Ada, ada@example.org \n");
        assert!(list.diagnostics.is_empty(), "{:?}", messages(&list));
        let ada = &list.subscribers[0];
        assert_eq!(ada.email, "ada@example.org");
        assert_eq!(ada.name.as_deref(), Some("Ada"));
        assert_eq!(ada.status, Status::Bounced);
    }

    #[test]
    fn missing_email_column_is_one_error_at_line_one() {
        let list = parse_str("name,status\nAda,subscribed\nBob,\n");
        assert!(list.subscribers.is_empty());
        assert_eq!(
            messages(&list),
            ["subscribers.csv:1:1: error: no `email` column in the header (found: name, status)"]
        );
        assert_eq!(list.rejected(), 0);
    }

    #[test]
    fn invalid_address_is_rejected_with_its_line() {
        let list = parse_str("email\nada@example.org\nbob@\ncarol@example.org\n");
        assert_eq!(emails(&list), ["ada@example.org", "carol@example.org"]);
        assert_eq!(messages(&list), ["subscribers.csv:3:1: error: `bob@` is not a valid email address"]);
        assert_eq!(list.rejected(), 1);
    }

    #[test]
    fn duplicates_match_in_any_case_and_the_first_spelling_is_mailed() {
        let list = parse_str("email,name\nAda@example.org,First\nAda@Example.ORG,Second\nADA@example.org,Third\n");
        assert_eq!(emails(&list), ["Ada@example.org"]);
        assert_eq!(list.subscribers[0].name.as_deref(), Some("First"));
        assert_eq!(list.diagnostics.len(), 2);
        let duplicate = &list.diagnostics[1];
        assert_eq!(duplicate.severity, Severity::Warning);
        assert_eq!(duplicate.line, 4);
        assert_eq!(duplicate.message, "duplicate of line 2 (ADA@example.org); skipped");
        assert_eq!(list.rejected(), 0);
        let skipped: Vec<(usize, &str)> = list.skipped.iter().map(|row| (row.line, row.address.as_str())).collect();
        assert_eq!(skipped, [(3, "Ada@example.org"), (4, "ADA@example.org")]);
    }

    /// Rows that are not subscribers are kept with their line, so a report
    /// can list every row of the file.
    #[test]
    fn skipped_rows_keep_their_line_address_and_reason() {
        let list = parse_str("email,name\nada@example.org,A\nnot-an-address,B\n,C\nada@example.org,D\n");
        let skipped: Vec<(usize, &str, &str)> =
            list.skipped.iter().map(|row| (row.line, row.address.as_str(), row.reason.as_str())).collect();
        assert_eq!(
            skipped,
            [
                (3, "not-an-address", "`not-an-address` is not a valid email address"),
                (4, "", "empty email address"),
                (5, "ada@example.org", "duplicate of line 2 (ada@example.org)"),
            ]
        );
    }

    #[test]
    fn control_characters_in_a_quoted_name_are_cleaned_and_warned() {
        let list = parse_str("email,name\nada@example.org,\"Ada\r\nBcc: evil@example.com\tLovelace\"\n");
        assert_eq!(list.subscribers[0].name.as_deref(), Some("Ada Bcc: evil@example.com Lovelace"));
        assert_eq!(list.diagnostics.len(), 1);
        assert_eq!(list.diagnostics[0].severity, Severity::Warning);
        assert_eq!(list.diagnostics[0].line, 2);
        assert!(list.diagnostics[0].message.contains("control characters"));
    }

    #[test]
    fn plain_names_are_not_warned_about() {
        let list = parse_str("email,name\nada@example.org,  Ada   Lovelace \nbob@example.org,\n");
        assert!(list.diagnostics.is_empty(), "{:?}", messages(&list));
        assert_eq!(list.subscribers[0].name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(list.subscribers[1].name, None);
    }

    #[test]
    fn empty_address_is_rejected() {
        let list = parse_str("email,name\n  ,Nobody\nada@example.org,Ada\n");
        assert_eq!(emails(&list), ["ada@example.org"]);
        assert_eq!(messages(&list), ["subscribers.csv:2:1: error: empty email address"]);
    }

    #[test]
    fn unknown_status_is_rejected_and_known_ones_match_any_case() {
        let list =
            parse_str("email,status\nada@example.org,maybe\nbob@example.org, Unsubscribed \ncarol@example.org,\n");
        assert_eq!(emails(&list), ["bob@example.org", "carol@example.org"]);
        assert_eq!(list.subscribers[0].status, Status::Unsubscribed);
        assert_eq!(list.subscribers[1].status, Status::Subscribed);
        assert_eq!(
            messages(&list),
            [
                "subscribers.csv:2:1: error: unknown status `maybe` (expected subscribed, unsubscribed, bounced, complained, pending or removed)"
            ]
        );
    }

    #[test]
    fn a_row_with_several_problems_names_them_all_and_counts_once() {
        let list = parse_str("email,status\nbob@,maybe\n");
        assert_eq!(list.rejected(), 1);
        assert_eq!(
            list.diagnostics[0].message,
            "`bob@` is not a valid email address; unknown status `maybe` (expected subscribed, unsubscribed, bounced, complained, pending or removed)"
        );
    }

    #[test]
    fn quoted_commas_in_a_name_are_kept_whole() {
        let list = parse_str("email,name\nada@example.org,\"Doe, Jane\"\n");
        assert!(list.diagnostics.is_empty(), "{:?}", messages(&list));
        assert_eq!(list.subscribers[0].name.as_deref(), Some("Doe, Jane"));
    }

    #[test]
    fn extra_columns_are_kept_in_file_order() {
        let list = parse_str("plan,email,name,Joined\npro,ada@example.org,Ada,2024-01-02\nfree,bob@example.org,Bob,\n");
        assert!(list.diagnostics.is_empty(), "{:?}", messages(&list));
        let pair = |h: &str, v: &str| (h.to_owned(), v.to_owned());
        assert_eq!(list.subscribers[0].extra, [pair("plan", "pro"), pair("Joined", "2024-01-02")]);
        assert_eq!(list.subscribers[1].extra, [pair("plan", "free"), pair("Joined", "")]);
    }

    /// Issue 27, point 11: what a spreadsheet would evaluate is shielded
    /// with a leading `'`, and every value comes back exactly.
    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_shielded_and_come_back_exactly() {
        for (value, written) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("+1", "'+1"),
            ("-bob", "'-bob"),
            ("@sum", "'@sum"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("''", "'''"),
            ("'", "'"),
            ("'plain", "'plain"),
            ("Ada", "Ada"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(shield_cell(value), written, "{value:?}");
            assert_eq!(unshield_cell(&shield_cell(value)), value, "{value:?}");
        }
    }

    /// Issue 26, point 4: a row appended as `addr,Name` under the header
    /// `email,name,status` was invalid, and `send` said only "nobody to
    /// send to". It is read with its status empty (subscribed), and said.
    #[test]
    fn a_short_row_is_read_with_empty_trailing_fields_and_a_long_one_rejected() {
        let list = parse_str(
            "email,name,status\n\
             ada@example.org,Ada\n\
             bob@example.org,Bob,subscribed,surprise\n\
             carol@example.org,Carol,,,\n\
             dan@example.org,Dan,\n\
             eve@example.org\n",
        );
        assert_eq!(emails(&list), ["ada@example.org", "carol@example.org", "dan@example.org", "eve@example.org"]);
        assert_eq!(list.subscribers[0].name.as_deref(), Some("Ada"));
        assert_eq!(list.subscribers[0].status, Status::Subscribed);
        assert_eq!(list.subscribers[3].name, None);
        assert_eq!(
            messages(&list),
            [
                "subscribers.csv:2:1: warning: row has 2 fields, the header has 3: its missing trailing fields are read as empty",
                "subscribers.csv:3:1: error: row has 4 fields, the header has 3",
                "subscribers.csv:6:1: warning: row has 1 field, the header has 3: its missing trailing fields are read as empty",
            ]
        );
        assert_eq!(list.rejected(), 1);
    }

    #[test]
    fn line_numbers_count_a_quoted_field_that_spans_lines_as_its_first_line() {
        let list = parse_str("email,name\r\nada@example.org,\"Ada\r\nLovelace\"\r\nbob@example.org,Bob\r\nbad,Bad\r\n");
        assert_eq!(list.subscribers[0].line, 2);
        assert_eq!(list.subscribers[1].line, 4);
        let lines: Vec<(usize, Severity)> = list.diagnostics.iter().map(|d| (d.line, d.severity)).collect();
        assert_eq!(lines, [(2, Severity::Warning), (5, Severity::Error)]);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_lone_carriage_returns() {
        let list = parse_str("email\r\n\r\nada@example.org\r\n\r\n\r\nbob@example.org\r\n");
        let lines: Vec<usize> = list.subscribers.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 6]);
        let list = parse_str("email\rada@example.org\rbob@example.org\r");
        let lines: Vec<usize> = list.subscribers.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn unsubscribed_and_bounced_rows_are_loaded_but_not_active() {
        let list = parse_str(
            "email,status\nada@example.org,subscribed\nbob@example.org,unsubscribed\ncarol@example.org,BOUNCED\n",
        );
        assert_eq!(list.subscribers.len(), 3);
        let active: Vec<&str> = list.active().map(|s| s.email.as_str()).collect();
        assert_eq!(active, ["ada@example.org"]);
        assert!(!list.subscribers[1].is_active());
        assert_eq!(list.subscribers[2].status, Status::Bounced);
    }

    #[test]
    fn a_row_that_is_not_utf8_is_rejected_and_later_rows_load() {
        let bytes = b"email,name\nada@example.org,Ad\xFF\nbob@example.org,Bob\n";
        let list = parse(&bytes[..], Path::new("subscribers.csv"));
        assert_eq!(emails(&list), ["bob@example.org"]);
        assert_eq!(
            messages(&list),
            ["subscribers.csv:2:1: error: row is not valid UTF-8 (in the `name` column); save the file as UTF-8"]
        );
    }

    #[test]
    fn header_only_and_empty_files() {
        let header_only = parse_str("email,name\n");
        assert!(header_only.subscribers.is_empty());
        assert!(header_only.diagnostics.is_empty());
        let empty = parse_str("");
        assert_eq!(empty.diagnostics.len(), 1);
        assert!(empty.diagnostics[0].is_error());
        assert_eq!(empty.diagnostics[0].line, 1);
    }

    #[test]
    fn load_reads_a_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subscribers.csv");
        let err = load(&path, Path::new("subscribers.csv")).unwrap_err();
        assert!(format!("{err:#}").contains(&path.display().to_string()), "{err:#}");

        std::fs::write(&path, "email\nada@example.org\n").unwrap();
        let list = load(&path, Path::new("subscribers.csv")).unwrap();
        assert_eq!(emails(&list), ["ada@example.org"]);
    }

    #[test]
    fn load_refuses_an_oversized_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subscribers.csv");
        // Sparse, so the test does not write half a gigabyte.
        std::fs::File::create(&path).unwrap().set_len(MAX_SUBSCRIBER_FILE_BYTES + 1).unwrap();
        let err = load(&path, Path::new("subscribers.csv")).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(&(MAX_SUBSCRIBER_FILE_BYTES + 1).to_string()), "{err}");
    }
}
