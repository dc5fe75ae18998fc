//! Replacing an output folder atomically: everything is written into a
//! staging folder beside it, then swapped in by renames, so a run that
//! fails leaves the previous folder as it was (`build`'s `public/`, a
//! preview's month).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A staging folder beside the output folder (same file system, so the swap is a rename).
pub fn stage_dir(out_dir: &Path) -> Result<tempfile::TempDir> {
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
    tempfile::Builder::new()
        .prefix(".newsroom-staging-")
        .tempdir_in(parent)
        .with_context(|| format!("failed to create a staging folder in `{}`", parent.display()))
}

/// Puts the staged output in place of `out_dir`: the old folder is moved
/// aside, the new one renamed in, then the old one removed. If the second
/// rename fails the old folder is put back.
pub fn replace_dir(staging: tempfile::TempDir, out_dir: &Path) -> Result<()> {
    replace_dir_reusing(staging, out_dir, &[])
}

/// [`replace_dir`], first moving the folders `reused` (relative paths) from
/// the old output into the staged one, where their parents exist: what a
/// re-build keeps of the old output without copying it again. They are
/// moved only now, once everything else is written, and moved back if the
/// swap fails, so that a build that fails leaves the old output as it was.
pub fn replace_dir_reusing(staging: tempfile::TempDir, out_dir: &Path, reused: &[PathBuf]) -> Result<()> {
    let staged = staging.keep();
    let mut moved = Vec::with_capacity(reused.len());
    let put_back = |moved: &[&PathBuf]| {
        for relative in moved.iter().rev() {
            let _ = fs::rename(staged.join(relative), out_dir.join(relative));
        }
    };
    for relative in reused {
        if let Err(error) = fs::rename(out_dir.join(relative), staged.join(relative)) {
            put_back(&moved);
            let _ = fs::remove_dir_all(&staged);
            return Err(error).with_context(|| format!("failed to move `{}`", out_dir.join(relative).display()));
        }
        moved.push(relative);
    }
    if out_dir.exists() {
        let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
        let aside = out_dir.with_file_name(format!(".{name}.old-{}", std::process::id()));
        if let Err(error) = fs::rename(out_dir, &aside) {
            put_back(&moved);
            let _ = fs::remove_dir_all(&staged);
            return Err(error).with_context(|| format!("failed to move `{}` aside", out_dir.display()));
        }
        if let Err(error) = fs::rename(&staged, out_dir) {
            let _ = fs::rename(&aside, out_dir);
            put_back(&moved);
            let _ = fs::remove_dir_all(&staged);
            return Err(error).with_context(|| format!("failed to put the new `{}` in place", out_dir.display()));
        }
        fs::remove_dir_all(&aside).with_context(|| format!("failed to remove `{}`", aside.display()))?;
    } else {
        fs::rename(&staged, out_dir).with_context(|| format!("failed to create `{}`", out_dir.display()))?;
    }
    Ok(())
}
