//! Where returned mail is read from, and where read mail goes.
//!
//! One message at a time, whatever the source: a Maildir's files are
//! listed, then each is read after its size is checked on the file's
//! metadata; an mbox is streamed line by line (the `From ` separator
//! lines, `>From` unquoted, as mail-parser's mbox reader does), so a
//! message over the limit is skipped without being held; standard input
//! is read to its end, and what is over the limit is drained, not kept.
//! Memory is bounded by one message of at most the limit, whatever the
//! mailbox holds.
//!
//! What `inbound` promises of a Maildir: a handled message is moved, never
//! deleted, into the Maildir++ folder `.Done`; an unrecognised one into
//! `.Unrecognised` and an oversized one, unread, into `.Oversized`, so
//! each is read once. A message from standard input that is not
//! recognised is kept in a Maildir of its own, written as an MTA does
//! (tmp/, fsync, rename into new/), before the command says it is done
//! with it.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// The Maildir++ folder handled messages move to, inside the Maildir.
pub const DONE_FOLDER: &str = ".Done";
/// The Maildir++ folder unrecognised messages move to.
pub const UNRECOGNISED_FOLDER: &str = ".Unrecognised";
/// The Maildir++ folder messages over the limit move to, unread.
pub const OVERSIZED_FOLDER: &str = ".Oversized";

/// One message read from a source.
#[derive(Debug)]
pub struct Incoming {
    /// Where it is, for reports: a file, `mbox FILE, message N`, `standard input`.
    pub name: String,
    /// The Maildir file, for moving it once handled.
    pub path: Option<PathBuf>,
    pub body: Body,
}

/// A message's bytes, or only its size when it is over the limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    Read(Vec<u8>),
    /// More than the limit: this many bytes, none of them kept.
    Oversized(u64),
}

/// The message files of a Maildir, `cur/` then `new/`, each sorted by
/// name: a stable order for reports. Listed, not read.
pub fn maildir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let folder = dir.join(sub);
        if !folder.is_dir() {
            anyhow::bail!("`{}` is not a Maildir: it has no `{sub}/` folder", dir.display());
        }
        let entries = std::fs::read_dir(&folder).with_context(|| format!("failed to read `{}`", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to read `{}`", folder.display()))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type().is_ok_and(|kind| kind.is_file()) {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// One message of a Maildir: its size from the file's metadata first, so
/// a message over `limit` bytes is not read at all.
pub fn maildir_message(path: &Path, limit: usize) -> Result<Incoming> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path).with_context(|| format!("failed to read `{name}`"))?.len();
    let body = if size > limit as u64 {
        Body::Oversized(size)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("failed to open `{name}`"))?;
        // The file may have grown since: at most one byte more than the limit.
        let mut raw = Vec::with_capacity(size as usize);
        file.take(limit as u64 + 1).read_to_end(&mut raw).with_context(|| format!("failed to read `{name}`"))?;
        if raw.len() > limit { Body::Oversized(raw.len() as u64) } else { Body::Read(raw) }
    };
    Ok(Incoming { name, path: Some(path.to_path_buf()), body })
}

/// The messages of an mbox, one at a time.
pub fn mbox(file: &Path, limit: usize) -> Result<Mbox<std::io::BufReader<std::fs::File>>> {
    let reader = std::fs::File::open(file).with_context(|| format!("failed to open the mbox `{}`", file.display()))?;
    Ok(Mbox::new(std::io::BufReader::with_capacity(64 << 10, reader), file.display().to_string(), limit))
}

/// An mbox read as a stream: each message ends where the next `From `
/// line starts. Holds one message, of at most the limit.
pub struct Mbox<R> {
    reader: R,
    name: String,
    limit: usize,
    /// Messages given so far.
    index: usize,
    /// The separator of the next message has been read.
    at_message: bool,
}

impl<R: BufRead> Mbox<R> {
    pub fn new(reader: R, name: String, limit: usize) -> Mbox<R> {
        Mbox { reader, name, limit, index: 0, at_message: false }
    }

    fn next_message(&mut self) -> std::io::Result<Option<Incoming>> {
        let mut line = Vec::with_capacity(256);
        // Anything before the first separator is not a message.
        while !self.at_message {
            line.clear();
            if read_line(&mut self.reader, &mut line, 5)? == 0 {
                return Ok(None);
            }
            self.at_message = line.starts_with(b"From ");
        }
        self.at_message = false;
        let mut raw = Vec::new();
        let mut oversized: Option<u64> = None;
        loop {
            line.clear();
            let keep = match oversized {
                Some(_) => 5,
                None => (self.limit + 2).saturating_sub(raw.len()).max(5),
            };
            let length = read_line(&mut self.reader, &mut line, keep)?;
            if length == 0 {
                break;
            }
            if line.starts_with(b"From ") {
                self.at_message = true;
                break;
            }
            if let Some(size) = &mut oversized {
                *size += length;
                continue;
            }
            // `>From ` (any number of `>`) loses one `>`, as mboxrd and mail-parser have it.
            let quoted = line.iter().position(|&b| b != b'>').is_some_and(|i| i > 0 && line[i..].starts_with(b"From "));
            let kept = if quoted { &line[1..] } else { &line[..] };
            let whole = (length as usize).saturating_sub(line.len()) + kept.len();
            if raw.len() + whole > self.limit {
                oversized = Some(raw.len() as u64 + whole as u64);
                raw = Vec::new();
            } else {
                raw.extend_from_slice(kept);
            }
        }
        self.index += 1;
        let body = match oversized {
            Some(size) => Body::Oversized(size),
            None => Body::Read(raw),
        };
        Ok(Some(Incoming { name: format!("{}, message {}", self.name, self.index), path: None, body }))
    }
}

impl<R: BufRead> Iterator for Mbox<R> {
    type Item = Result<Incoming>;

    fn next(&mut self) -> Option<Result<Incoming>> {
        self.next_message()
            .with_context(|| format!("failed to read message {} of `{}`", self.index + 1, self.name))
            .transpose()
    }
}

/// Reads one line (through its `\n`, or to the end), keeping at most
/// `keep` bytes of it in `line`; returns the line's whole length, 0 at the end.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, keep: usize) -> std::io::Result<u64> {
    let mut length = 0u64;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            return Ok(length);
        }
        let (used, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        let room = keep.saturating_sub(line.len()).min(used);
        line.extend_from_slice(&buffer[..room]);
        reader.consume(used);
        length += used as u64;
        if ended {
            return Ok(length);
        }
    }
}

/// The message on standard input (an MTA's pipe), read to its end: at
/// most `limit` bytes are kept, and a larger message is drained and
/// counted, so the MTA sees its whole message taken, and none of it kept.
pub fn stdin(limit: usize) -> Result<Incoming> {
    let mut input = std::io::stdin().lock();
    let mut raw = Vec::new();
    (&mut input).take(limit as u64 + 1).read_to_end(&mut raw).context("failed to read standard input")?;
    let body = if raw.len() > limit {
        let rest = std::io::copy(&mut input, &mut std::io::sink()).context("failed to read standard input")?;
        Body::Oversized(raw.len() as u64 + rest)
    } else {
        Body::Read(raw)
    };
    Ok(Incoming { name: "standard input".into(), path: None, body })
}

/// Moves a handled message of the Maildir `dir` into its `.Done/cur/`,
/// marked seen; returns where it is now.
pub fn move_to_done(dir: &Path, path: &Path) -> Result<PathBuf> {
    move_to_folder(dir, DONE_FOLDER, path)
}

/// Moves a message of the Maildir `dir` into the cur/ of its Maildir++
/// folder `folder` (made when needed), marked seen; returns where it is now.
pub fn move_to_folder(dir: &Path, folder: &str, path: &Path) -> Result<PathBuf> {
    let done = dir.join(folder);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(done.join(sub)).with_context(|| format!("failed to create `{}`", done.display()))?;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("message");
    // A message in cur/ has an info part (`:2,` and its flags); one from new/ gets it.
    let name = if name.contains(":2,") { name.to_string() } else { format!("{name}:2,S") };
    let target = done.join("cur").join(name);
    std::fs::rename(path, &target)
        .with_context(|| format!("failed to move `{}` to `{}`", path.display(), target.display()))?;
    Ok(target)
}

/// Delivers `raw` into the Maildir `dir` (made when needed) as an MTA does:
/// written under tmp/, synced, renamed into new/, the folder synced.
pub fn deliver(dir: &Path, raw: &[u8]) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("failed to create `{}`", dir.display()))?;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let name = format!(
        "{}.M{}P{}Q{}.newsroom",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let temporary = dir.join("tmp").join(&name);
    let mut file =
        std::fs::File::create(&temporary).with_context(|| format!("failed to create `{}`", temporary.display()))?;
    file.write_all(raw)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{}`", temporary.display()))?;
    let target = dir.join("new").join(&name);
    std::fs::rename(&temporary, &target).with_context(|| format!("failed to move `{}`", temporary.display()))?;
    std::fs::File::open(dir.join("new")).and_then(|folder| folder.sync_all()).ok();
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 10 << 20;

    fn read(path: &Path) -> Vec<u8> {
        match maildir_message(path, LIMIT).unwrap().body {
            Body::Read(raw) => raw,
            Body::Oversized(size) => panic!("{size} bytes"),
        }
    }

    fn mbox_bodies(file: &Path, limit: usize) -> Vec<Body> {
        mbox(file, limit).unwrap().map(|m| m.unwrap().body).collect()
    }

    #[test]
    fn a_delivered_message_is_read_back_and_moves_to_done_once() {
        let dir = tempfile::tempdir().unwrap();
        let maildir_path = dir.path().join("Maildir");
        let first = deliver(&maildir_path, b"Subject: one\n\nbody\n").unwrap();
        deliver(&maildir_path, b"Subject: two\n\nbody\n").unwrap();
        let messages = maildir(&maildir_path).unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages.iter().any(|m| read(m) == b"Subject: one\n\nbody\n"));
        let moved = move_to_done(&maildir_path, &first).unwrap();
        assert!(moved.starts_with(maildir_path.join(".Done/cur")) && moved.to_str().unwrap().ends_with(":2,S"));
        assert_eq!(std::fs::read(&moved).unwrap(), b"Subject: one\n\nbody\n", "moved, not changed");
        assert_eq!(maildir(&maildir_path).unwrap().len(), 1, "the done folder is not read again");
        assert!(maildir(dir.path()).unwrap_err().to_string().contains("is not a Maildir"));
    }

    /// A returned message read out of a Maildir and out of an mbox is the
    /// same message: the same hash, so reading both records it once.
    #[test]
    fn a_message_has_one_hash_in_a_maildir_and_in_an_mbox() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/returned");
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        let mut mbox_bytes = Vec::new();
        for file in &files {
            deliver(&dir.path().join("Maildir"), &std::fs::read(file).unwrap()).unwrap();
            mbox_bytes.extend_from_slice(b"From MAILER-DAEMON Sun Nov 22 12:00:00 2026\n");
            mbox_bytes.extend_from_slice(&std::fs::read(file).unwrap());
            mbox_bytes.extend_from_slice(b"\n");
        }
        std::fs::write(dir.path().join("mbox"), mbox_bytes).unwrap();
        let hash = |raw: &[u8]| super::super::message_hash(raw);
        let from_maildir: std::collections::BTreeSet<String> =
            maildir(&dir.path().join("Maildir")).unwrap().iter().map(|path| hash(&read(path))).collect();
        let from_mbox: std::collections::BTreeSet<String> = mbox_bodies(&dir.path().join("mbox"), LIMIT)
            .into_iter()
            .map(|body| match body {
                Body::Read(raw) => hash(&raw),
                Body::Oversized(size) => panic!("{size}"),
            })
            .collect();
        assert_eq!(from_maildir.len(), files.len());
        assert_eq!(from_maildir, from_mbox);
    }

    #[test]
    fn an_mbox_gives_each_message_with_from_lines_unquoted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mbox");
        std::fs::write(
            &file,
            "From a@example.org Mon Nov  2 10:00:00 2026\nSubject: one\n\n>From here\n>>From there\n\nFrom b@example.org Mon Nov  2 10:00:01 2026\nSubject: two\n\nx\n",
        )
        .unwrap();
        let messages: Vec<Incoming> = mbox(&file, LIMIT).unwrap().map(Result::unwrap).collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].body, Body::Read(b"Subject: one\n\nFrom here\n>From there\n\n".to_vec()));
        assert_eq!(messages[1].body, Body::Read(b"Subject: two\n\nx\n".to_vec()));
        assert!(messages[1].name.ends_with("message 2"));
    }

    /// A message over the limit is skipped, counted, and not held; the
    /// next one is read whole, and a line without an end is bounded too.
    #[test]
    fn an_mbox_message_over_the_limit_is_counted_not_kept_and_the_next_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mbox");
        let long_line = "y".repeat(300);
        std::fs::write(
            &file,
            format!(
                "junk before the first\nFrom a Mon Nov  2 10:00:00 2026\nSubject: big\n\n{long_line}\n{long_line}\nFrom b Mon Nov  2 10:00:01 2026\nSubject: small\n\nx\nFrom c Mon Nov  2 10:00:02 2026\n{long_line}"
            ),
        )
        .unwrap();
        let bodies = mbox_bodies(&file, 200);
        assert_eq!(
            bodies,
            vec![Body::Oversized(14 + 301 * 2), Body::Read(b"Subject: small\n\nx\n".to_vec()), Body::Oversized(300)]
        );
        assert_eq!(
            mbox_bodies(&file, 1000)[0],
            Body::Read(format!("Subject: big\n\n{long_line}\n{long_line}\n").into_bytes())
        );
    }

    #[test]
    fn a_maildir_message_over_the_limit_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = deliver(&dir.path().join("Maildir"), &[b'x'; 300]).unwrap();
        assert_eq!(maildir_message(&path, 200).unwrap().body, Body::Oversized(300));
        assert_eq!(maildir_message(&path, 300).unwrap().body, Body::Read(vec![b'x'; 300]));
    }
}
