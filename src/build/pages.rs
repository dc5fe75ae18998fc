//! Keeping a re-build's archive pages whose inputs did not change.
//!
//! A month's archive page (`digest/YYYY-MM/index.html`) is made from the
//! site's config, the digest template and the month's rendered posts, and
//! from nothing else. Making it is a rewrite of every excerpt with a
//! picture (lol_html), the page's markup, a folder and a file: at 10,000
//! posts of 132 months, ~0.06 s of a re-build whose budget is 0.44 s
//! (BENCHMARKS.md, issue 26, point 13). The posts are rendered on every
//! build anyway (the feeds, the posts' files and the warnings need them);
//! what a re-build can skip is the page.
//!
//! So each page's *fingerprint* is a hash of all it is made of: the
//! newsroom binary itself (its size and modification time, so that another
//! build of newsroom, whose pages may differ, makes them again), the whole
//! config, and what [`Digest::archive_fingerprint`] feeds of the template
//! and the edition's renderings. The output holds a manifest ([`MANIFEST`])
//! of each page's fingerprint and the hash of its bytes. A re-build whose
//! page has the manifest's fingerprint, and whose previous copy still hashes
//! as the manifest says (nobody changed it in `public/`), takes that copy: a
//! hard link from the previous output. Reading and hashing the previous
//! copies is a few milliseconds at 10,000 posts; a check by modification
//! time would have been cheaper, but the manifest would then differ between
//! a fresh build and a re-build. Anything else, or no manifest, or a file
//! system without links, means the page is made again.
//!
//! The manifest holds nothing that differs between a fresh build and a
//! re-build of the same site (no times), so that their outputs are the same
//! bytes, the manifest's included.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::digest::{Digest, DigestInput};
use crate::email::template::DigestTemplate;
use crate::site::FileStamp;

/// The manifest of the archive pages, at the top of the output folder
/// (hidden, as the files' manifest).
pub const MANIFEST: &str = ".newsroom-pages.json";

/// Which version of the manifest's format this build writes and reads.
const MANIFEST_VERSION: u32 = 1;

/// The manifest's content: output-relative path of a page → what it was
/// made of and how long it is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    pages: BTreeMap<String, Page>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Page {
    /// What it was made of.
    fingerprint: u64,
    /// The hash of its bytes ([`bytes_hash`]).
    bytes: u64,
}

/// The previous output's pages, and the pages of this build.
pub struct Pages {
    /// The hash of the binary and the config every fingerprint starts
    /// from; `None` when the binary cannot be found: then nothing is kept.
    base: Option<DefaultHasher>,
    previous: Option<Previous>,
    written: Mutex<Manifest>,
    /// How many pages were taken from the previous output.
    kept: AtomicUsize,
}

/// The previous output's manifest.
struct Previous {
    dir: PathBuf,
    manifest: Manifest,
}

impl Pages {
    /// What the previous output folder `previous` holds of its pages, for a
    /// build of `config`.
    pub fn start(previous: &Path, config: &Config) -> Pages {
        Pages {
            base: base_hasher(config),
            previous: Previous::read(previous),
            written: Mutex::new(Manifest { version: MANIFEST_VERSION, pages: BTreeMap::new() }),
            kept: AtomicUsize::new(0),
        }
    }

    /// The fingerprint of the page made of `template` and `input`.
    pub fn fingerprint(&self, template: &DigestTemplate, input: &DigestInput) -> Option<u64> {
        let mut hasher = self.base.clone()?;
        Digest::archive_fingerprint(template, input, &mut hasher);
        Some(hasher.finish())
    }

    /// Puts the previous output's page `relative` into the staging folder
    /// `out` if it was made of `fingerprint` and nobody changed it since;
    /// whether it did.
    pub fn keep(&self, out: &Path, relative: &str, fingerprint: u64) -> bool {
        let Some(previous) = &self.previous else { return false };
        let Some(&page) = previous.manifest.pages.get(relative) else { return false };
        if page.fingerprint != fingerprint {
            return false;
        }
        let old = previous.dir.join(relative);
        // A link, or a page whose bytes changed, is not newsroom's page.
        let is_file = fs::symlink_metadata(&old).is_ok_and(|metadata| metadata.is_file());
        let unchanged = is_file && fs::read(&old).is_ok_and(|bytes| bytes_hash(&bytes) == page.bytes);
        let target = out.join(relative);
        let linked = unchanged
            && target.parent().is_some_and(|dir| fs::create_dir_all(dir).is_ok())
            && fs::hard_link(&old, &target).is_ok();
        if linked {
            self.record(relative, page);
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
        linked
    }

    /// Records the page just written at `relative`.
    pub fn wrote(&self, relative: &str, fingerprint: Option<u64>, html: &str) {
        if let Some(fingerprint) = fingerprint {
            self.record(relative, Page { fingerprint, bytes: bytes_hash(html.as_bytes()) });
        }
    }

    fn record(&self, relative: &str, page: Page) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        written.pages.insert(relative.to_string(), page);
    }

    /// Writes the manifest into the staging folder `out`, after every page;
    /// how many pages were kept. A post's own file of that name would be
    /// overwritten: then no manifest, and the next build makes every page.
    pub fn finish(self, out: &Path) -> Result<usize> {
        let kept = self.kept.into_inner();
        let path = out.join(MANIFEST);
        if path.exists() {
            return Ok(kept);
        }
        let manifest = self.written.into_inner().unwrap_or_else(PoisonError::into_inner);
        let json = serde_json::to_vec(&manifest).context("failed to write the pages' manifest")?;
        fs::write(&path, json).with_context(|| format!("failed to write `{}`", path.display()))?;
        Ok(kept)
    }
}

impl Previous {
    fn read(dir: &Path) -> Option<Previous> {
        let manifest: Manifest = serde_json::from_slice(&fs::read(dir.join(MANIFEST)).ok()?).ok()?;
        (manifest.version == MANIFEST_VERSION).then(|| Previous { dir: dir.to_path_buf(), manifest })
    }
}

/// The hasher every page's fingerprint starts from: the running binary's
/// stamp and the whole config. (`DefaultHasher::new` hashes alike in every
/// run of one binary, and another binary makes other fingerprints anyway.)
fn base_hasher(config: &Config) -> Option<DefaultHasher> {
    let binary = std::env::current_exe().and_then(fs::metadata).ok()?;
    let mut hasher = DefaultHasher::new();
    let stamp = FileStamp::of(&binary);
    (stamp.size, stamp.modified).hash(&mut hasher);
    format!("{config:?}").hash(&mut hasher);
    Some(hasher)
}

/// The hash of a page's bytes.
fn bytes_hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}
