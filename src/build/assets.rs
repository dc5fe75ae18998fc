//! Publishing the posts' local files (images and the like) into `build`'s
//! staging folder, on a thread of its own, from the moment a rendering
//! names them; and, on a re-build, keeping newsroom's own earlier copies of
//! the files that did not change.
//!
//! A site whose posts each show an image of their own has as many files to
//! create as posts, and at 10,000 posts creating them costs the kernel more
//! than reading and rendering the posts costs both cores. So:
//!
//! - **Copies start early**, on one thread ([`Copier`]): creating files and
//!   folders does not go faster on two (the file system serialises it). The
//!   renderings hand their files over in batches, each file once: one
//!   wake-up per post (a channel message each) was ~8% of a build.
//! - **A re-build does not copy again** what it copied before. The output
//!   holds a manifest ([`MANIFEST`]) of every file it published with its
//!   source's size and modification time, and each copy is given its
//!   source's modification time. A file whose source still has the
//!   manifest's size and time, and whose copy in the previous output does
//!   too (nobody edited it in `public/`), is taken from the previous output:
//!   a folder holding only such files is moved whole into the new output
//!   when it is swapped in ([`crate::staging::replace_dir_reusing`]), any
//!   other such file is hard-linked. Linking each file alone was not enough:
//!   10,000 images in 4,000 folders took 0.42 s to link and 0.58 s to
//!   remove again, against 0.31 s for rendering everything (the render
//!   limit of BENCHMARKS.md).
//!
//! What is reused is always newsroom's own earlier copy, never the post's
//! file: an edit of a file in `public/` changes no source. A missing or
//! unreadable manifest, or a changed source, means a fresh copy.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::diagnostics::Diagnostic;
use crate::markdown::RenderedPost;
use crate::site::{FileStamp as Stamp, LocalFile};

/// The manifest of the published files, at the top of the output folder
/// (hidden: `serve --preview`'s index of `public/` leaves it out).
pub const MANIFEST: &str = ".newsroom-assets.json";

/// How many files the copying thread takes at once: a wake-up per post
/// (even without a channel) was 4% of a re-build of 10,000 posts.
const BATCH: usize = 256;

/// Which version of the manifest's format this build writes and reads.
const MANIFEST_VERSION: u32 = 1;

/// What the posts' files cost the build: how many were copied, and how many
/// were kept from the previous output.
#[derive(Debug, Default)]
pub struct Published {
    /// Files copied from the posts folder.
    pub copied: usize,
    /// Files taken from the previous output (moved with their folder, or
    /// hard-linked).
    pub reused: usize,
    /// Folders (relative to the output) to move whole from the previous
    /// output into the new one when it is swapped in.
    pub reused_folders: Vec<PathBuf>,
}

/// The manifest's content: output-relative path → its source's stamp.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    files: BTreeMap<String, Stamp>,
}

/// The files handed over and not yet taken by the copying thread. Paths
/// relative to the output are `/`-separated strings here (as the posts name
/// them): comparing and hashing `Path`s component by component was a tenth
/// of the copying thread's time.
#[derive(Default)]
struct Queue {
    files: Vec<(String, LocalFile)>,
    /// Every output path ever handed over: a file named by many posts is
    /// handed over once.
    named: HashSet<String>,
    /// No more files will be handed over (or the thread stopped).
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        queue.files.clear();
        drop(queue);
        self.ready.notify_all();
    }
}

/// Copies the posts' local files (output-relative path → source file) into
/// the staging folder on a thread of its own (see the module's doc).
pub struct Copier {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<Result<Published>>>,
}

impl Copier {
    /// Starts the copying thread for the staging folder `out`, which will
    /// replace `previous` (the output folder, whose earlier copies a
    /// re-build may keep).
    pub fn start(out: &Path, previous: &Path) -> Result<Copier> {
        let (out, previous) = (out.to_path_buf(), previous.to_path_buf());
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("copy-files".into())
            .spawn(move || {
                let result = publish_all(out, &previous, &theirs);
                // Nothing is taken any more: later hand-overs are dropped.
                theirs.close();
                result
            })
            .context("failed to start the thread that copies the posts' files")?;
        Ok(Copier { shared, thread: Some(thread) })
    }

    /// Hands the files a rendering names over to be copied, unless the
    /// rendering failed (a post left out publishes nothing).
    pub fn take_copies(&self, rendered: &mut RenderedPost) {
        if rendered.copies.is_empty() || rendered.diagnostics.iter().any(Diagnostic::is_error) {
            return;
        }
        let copies = std::mem::take(&mut rendered.copies);
        let mut queue = self.shared.lock();
        if queue.closed {
            return;
        }
        let before = queue.files.len();
        for (relative, file) in copies {
            if queue.named.insert(relative.clone()) {
                queue.files.push((relative, file));
            }
        }
        // The thread waits for a batch (or the end): waking it once per
        // batch is enough.
        let wake = before < BATCH && queue.files.len() >= BATCH;
        drop(queue);
        if wake {
            self.shared.ready.notify_one();
        }
    }

    /// Waits for every file handed over to be published; what was done.
    pub fn finish(mut self) -> Result<Published> {
        let mut queue = self.shared.lock();
        queue.closed = true;
        drop(queue);
        self.shared.ready.notify_all();
        match self.thread.take().map(thread::JoinHandle::join) {
            Some(Ok(published)) => published,
            Some(Err(_)) => anyhow::bail!("the thread that copies the posts' files panicked"),
            None => Ok(Published::default()),
        }
    }
}

impl Drop for Copier {
    /// A build that stops early still waits for the copying to stop, so that
    /// nothing writes into the staging folder while it is removed.
    fn drop(&mut self) {
        self.shared.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The copying thread: takes the handed-over files in batches until the
/// build closes the queue, then links what it kept from the previous output.
fn publish_all(out: PathBuf, previous: &Path, shared: &Shared) -> Result<Published> {
    let mut publisher = Publisher::new(out, Previous::read(previous));
    loop {
        let batch = {
            let mut queue = shared.lock();
            while queue.files.len() < BATCH && !queue.closed {
                queue = shared.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
            if queue.files.is_empty() {
                break;
            }
            std::mem::take(&mut queue.files)
        };
        for (relative, file) in batch {
            publisher.publish(relative, file)?;
        }
    }
    publisher.finish()
}

/// What the previous output holds of the files it published.
struct Previous {
    dir: PathBuf,
    manifest: Manifest,
    /// Every entry under the folders the manifest's files are in (and those
    /// files themselves), as found on disk.
    on_disk: BTreeMap<String, Entry>,
}

/// An entry of the previous output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Folder,
    File(Stamp),
    /// A link, or anything else that is not newsroom's.
    Other,
}

impl Previous {
    /// The previous output's manifest and what is on disk, or `None` when
    /// there is no previous output or no manifest that can be read (then
    /// everything is copied).
    fn read(dir: &Path) -> Option<Previous> {
        let text = fs::read(dir.join(MANIFEST)).ok()?;
        let manifest: Manifest = serde_json::from_slice(&text).ok()?;
        if manifest.version != MANIFEST_VERSION {
            return None;
        }
        let mut on_disk = BTreeMap::new();
        let mut tops = BTreeSet::new();
        for relative in manifest.files.keys() {
            match relative.split_once('/') {
                Some((top, _)) => {
                    tops.insert(top);
                }
                None => {
                    if let Ok(metadata) = fs::symlink_metadata(dir.join(relative)) {
                        on_disk.insert(relative.clone(), Entry::of(&metadata));
                    }
                }
            }
        }
        // Walking only the folders the files are in; walkdir's file types
        // come from the folder listing, a stat only for files.
        for top in tops {
            for entry in walkdir::WalkDir::new(dir.join(top)).follow_links(false).into_iter().filter_map(Result::ok) {
                let Some(relative) = entry.path().strip_prefix(dir).ok().and_then(Path::to_str) else { continue };
                let kind = if entry.file_type().is_dir() {
                    Entry::Folder
                } else if entry.file_type().is_file() {
                    entry.metadata().map_or(Entry::Other, |m| Entry::of(&m))
                } else {
                    Entry::Other
                };
                on_disk.insert(relative.to_string(), kind);
            }
        }
        Some(Previous { dir: dir.to_path_buf(), manifest, on_disk })
    }

    /// Whether the previous output's copy of `relative` is still the one
    /// published from a source with `stamp`.
    fn holds(&self, relative: &str, stamp: Stamp) -> bool {
        self.manifest.files.get(relative) == Some(&stamp) && self.on_disk.get(relative) == Some(&Entry::File(stamp))
    }
}

impl Entry {
    fn of(metadata: &fs::Metadata) -> Entry {
        if metadata.is_dir() {
            Entry::Folder
        } else if metadata.is_file() {
            Entry::File(Stamp::of(metadata))
        } else {
            Entry::Other
        }
    }
}

/// The copying thread's state.
struct Publisher {
    /// The staging folder.
    out: PathBuf,
    previous: Option<Previous>,
    /// Folders made in the staging folder.
    folders: HashSet<String>,
    /// The new manifest.
    manifest: Manifest,
    /// Files the previous output holds unchanged (output-relative path →
    /// source), taken from it in [`Publisher::finish`].
    kept: BTreeMap<String, PathBuf>,
    copied: usize,
}

impl Publisher {
    fn new(out: PathBuf, previous: Option<Previous>) -> Publisher {
        Publisher {
            out,
            previous,
            folders: HashSet::new(),
            manifest: Manifest { version: MANIFEST_VERSION, files: BTreeMap::new() },
            kept: BTreeMap::new(),
            copied: 0,
        }
    }

    /// Publishes one file: copied now, unless the previous output holds it
    /// unchanged (then it is kept for [`Publisher::finish`]).
    /// (The source's stamp is the one its rendering found: stating it again
    /// here was a tenth of the copying thread's time.)
    fn publish(&mut self, relative: String, file: LocalFile) -> Result<()> {
        if let Some(previous) = &self.previous
            && previous.holds(&relative, file.stamp)
        {
            self.manifest.files.insert(relative.clone(), file.stamp);
            self.kept.insert(relative, file.source);
            return Ok(());
        }
        self.make_parent(&relative)?;
        let stamp = copy_file(&file.source, &self.out.join(&relative))
            .with_context(|| format!("failed to copy `{}`", file.source.display()))?;
        self.manifest.files.insert(relative, stamp);
        self.copied += 1;
        Ok(())
    }

    fn make_parent(&mut self, relative: &str) -> Result<()> {
        relative.rsplit_once('/').map_or(Ok(()), |(folder, _)| self.make_folder(folder))
    }

    /// Makes `folder` in the staging folder, once.
    fn make_folder(&mut self, folder: &str) -> Result<()> {
        if !self.folders.contains(folder) {
            let dir = self.out.join(folder);
            fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
            self.folders.insert(folder.to_string());
        }
        Ok(())
    }

    /// Takes the kept files from the previous output (whole folders where
    /// it can, see [`Publisher::movable`]; hard links otherwise) and writes
    /// the manifest.
    fn finish(mut self) -> Result<Published> {
        let mut published = Published { copied: self.copied, ..Published::default() };
        let kept = std::mem::take(&mut self.kept);
        if let Some(previous) = self.previous.take() {
            // Every folder a kept file is in; parents first, as a prefix
            // sorts before what it starts.
            let needed: BTreeSet<&str> = kept.keys().flat_map(|r| folders_of(r)).collect();
            let mut moved: HashSet<&str> = HashSet::new();
            for &folder in &needed {
                if folders_of(folder).any(|parent| moved.contains(parent)) {
                    continue;
                }
                if self.movable(&previous, &needed, &kept, folder) {
                    self.make_parent(folder)?;
                    moved.insert(folder);
                    published.reused_folders.push(PathBuf::from(folder));
                }
            }
            for (relative, source) in &kept {
                published.reused += 1;
                if folders_of(relative).any(|folder| moved.contains(folder)) {
                    continue;
                }
                self.make_parent(relative)?;
                let target = self.out.join(relative);
                if fs::hard_link(previous.dir.join(relative), &target).is_err() {
                    // Another file system, or one without links: a copy.
                    copy_file(source, &target).with_context(|| format!("failed to copy `{}`", source.display()))?;
                    published.reused -= 1;
                    published.copied += 1;
                }
            }
        }
        // A post's own file of that name would be overwritten: then no
        // manifest, and the next build copies everything.
        if !self.manifest.files.contains_key(MANIFEST) {
            let json = serde_json::to_vec(&self.manifest).context("failed to write the files' manifest")?;
            let path = self.out.join(MANIFEST);
            fs::write(&path, json).with_context(|| format!("failed to write `{}`", path.display()))?;
        }
        Ok(published)
    }

    /// Whether `folder` of the previous output can be moved whole into the
    /// new one: it is not in the new one yet, and holds the kept files under
    /// it and nothing else (no other file, no folder without a kept file).
    fn movable(
        &self,
        previous: &Previous,
        needed: &BTreeSet<&str>,
        kept: &BTreeMap<String, PathBuf>,
        folder: &str,
    ) -> bool {
        if previous.on_disk.get(folder) != Some(&Entry::Folder) {
            return false;
        }
        if fs::symlink_metadata(self.out.join(folder)).map_or_else(|e| e.kind() != io::ErrorKind::NotFound, |_| true) {
            return false;
        }
        // What the folder holds: the paths starting with `folder/` (one run
        // of the sorted paths; `folder-x` may sort between `folder` and it).
        let inside = format!("{folder}/");
        previous.on_disk.range(inside.clone()..).take_while(|(path, _)| path.starts_with(&inside)).all(
            |(path, entry)| match entry {
                Entry::Folder => needed.contains(path.as_str()),
                // Kept files were checked against the disk when kept.
                Entry::File(_) => kept.contains_key(path),
                Entry::Other => false,
            },
        )
    }
}

/// The folders `relative` is in, innermost first (`a/b/c` → `a/b`, `a`).
fn folders_of(relative: &str) -> impl Iterator<Item = &str> {
    relative.rmatch_indices('/').map(|(at, _)| &relative[..at])
}

/// Copies `source` to `target` with its permissions (as [`fs::copy`]) and
/// its modification time, which the next build compares; the source's stamp.
fn copy_file(source: &Path, target: &Path) -> io::Result<Stamp> {
    let mut from = fs::File::open(source)?;
    let metadata = from.metadata()?;
    let mut to = fs::File::create(target)?;
    io::copy(&mut from, &mut to)?;
    to.set_permissions(metadata.permissions())?;
    // Without it the next build copies the file again: nothing worse.
    let _ = to.set_modified(metadata.modified()?);
    Ok(Stamp::of(&metadata))
}
