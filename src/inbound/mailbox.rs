//! Where returned mail is read from, and where handled mail goes.
//!
//! Reading is mail-parser's: its Maildir iterator (`new/` and `cur/`) and
//! its mbox reader (the `From ` separator lines, `>From` unquoting). What
//! is added here is what `inbound` promises: a handled Maildir message is
//! moved, never deleted, into the Maildir++ folder `.Done`; a message from
//! standard input that is not recognised is kept in a Maildir of its own,
//! written as an MTA does (tmp/, fsync, rename into new/), before the
//! command says it is done with it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// The Maildir++ folder handled messages move to, inside the Maildir.
pub const DONE_FOLDER: &str = ".Done";

/// One message read from a source.
#[derive(Debug)]
pub struct Incoming {
    /// Where it is, for reports: a file, `mbox FILE, message N`, `standard input`.
    pub name: String,
    /// The Maildir file, for moving it once handled.
    pub path: Option<PathBuf>,
    pub raw: Vec<u8>,
}

/// The messages of a Maildir, `cur/` then `new/` (mail-parser's order),
/// each file name sorted within: a stable order for reports.
pub fn maildir(dir: &Path) -> Result<Vec<Incoming>> {
    for sub in ["new", "cur"] {
        if !dir.join(sub).is_dir() {
            anyhow::bail!("`{}` is not a Maildir: it has no `{sub}/` folder", dir.display());
        }
    }
    let iterator = mail_parser::mailbox::maildir::MessageIterator::new(dir)
        .with_context(|| format!("failed to read the Maildir `{}`", dir.display()))?;
    let mut messages = Vec::new();
    for message in iterator {
        let message = message.with_context(|| format!("failed to read a message of `{}`", dir.display()))?;
        let path = message.path().to_path_buf();
        messages.push(Incoming { name: path.display().to_string(), path: Some(path), raw: message.unwrap_contents() });
    }
    messages.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(messages)
}

/// The messages of an mbox file.
pub fn mbox(file: &Path) -> Result<Vec<Incoming>> {
    let reader = std::fs::File::open(file).with_context(|| format!("failed to open the mbox `{}`", file.display()))?;
    let iterator = mail_parser::mailbox::mbox::MessageIterator::new(std::io::BufReader::new(reader));
    let mut messages = Vec::new();
    for (index, message) in iterator.enumerate() {
        let message =
            message.map_err(|_| anyhow::anyhow!("failed to read message {} of `{}`", index + 1, file.display()))?;
        messages.push(Incoming {
            name: format!("{}, message {}", file.display(), index + 1),
            path: None,
            raw: message.unwrap_contents(),
        });
    }
    Ok(messages)
}

/// One message on standard input (an MTA's pipe), at most `limit` bytes
/// read (one more, to tell that it is larger).
pub fn stdin(limit: usize) -> Result<Incoming> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::io::stdin().lock().take(limit as u64 + 1).read_to_end(&mut raw).context("failed to read standard input")?;
    Ok(Incoming { name: "standard input".into(), path: None, raw })
}

/// Moves a handled message of the Maildir `dir` into its `.Done/cur/`,
/// marked seen; returns where it is now.
pub fn move_to_done(dir: &Path, path: &Path) -> Result<PathBuf> {
    let done = dir.join(DONE_FOLDER);
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

    #[test]
    fn a_delivered_message_is_read_back_and_moves_to_done_once() {
        let dir = tempfile::tempdir().unwrap();
        let maildir_path = dir.path().join("Maildir");
        let first = deliver(&maildir_path, b"Subject: one\n\nbody\n").unwrap();
        deliver(&maildir_path, b"Subject: two\n\nbody\n").unwrap();
        let messages = maildir(&maildir_path).unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages.iter().any(|m| m.raw == b"Subject: one\n\nbody\n"));
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
        let hashes = |messages: Vec<Incoming>| -> std::collections::BTreeSet<String> {
            messages.iter().map(|m| super::super::message_hash(&m.raw)).collect()
        };
        let from_maildir = hashes(maildir(&dir.path().join("Maildir")).unwrap());
        let from_mbox = hashes(mbox(&dir.path().join("mbox")).unwrap());
        assert_eq!(from_maildir.len(), files.len());
        assert_eq!(from_maildir, from_mbox);
    }

    #[test]
    fn an_mbox_gives_each_message_with_from_lines_unquoted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mbox");
        std::fs::write(
            &file,
            "From a@example.org Mon Nov  2 10:00:00 2026\nSubject: one\n\n>From here\n\nFrom b@example.org Mon Nov  2 10:00:01 2026\nSubject: two\n\nx\n",
        )
        .unwrap();
        let messages = mbox(&file).unwrap();
        assert_eq!(messages.len(), 2);
        assert!(
            String::from_utf8_lossy(&messages[0].raw).contains("From here"),
            "{:?}",
            String::from_utf8_lossy(&messages[0].raw)
        );
        assert!(messages[1].name.ends_with("message 2"));
    }
}
