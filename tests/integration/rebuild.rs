//! A re-build keeps newsroom's own earlier copies of the posts' files that
//! did not change (issue 26, point 13): they are the previous output's
//! files (same inode), never links to the posts' files, and anything
//! changed on either side, or a manifest that cannot be read, means a fresh
//! copy.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::*;

const MANIFEST: &str = ".newsroom-assets.json";

/// A site of two posts: one showing two images of a folder of its own
/// (`2026-01-01-a/`), one showing a shared image (`assets/`) and one in
/// the posts folder itself.
fn site() -> TempSite {
    let site = TempSite::new();
    site.post(
        "2026-01-01-a.md",
        "---\ntitle: A\n---\n\n![one](2026-01-01-a/one.png) ![two](2026-01-01-a/two.png)\n\n<!--truncate-->\n",
    )
    .post("2026-01-01-a/one.png", "one")
    .post("2026-01-01-a/two.png", "two")
    .post("2026-01-02-b.md", "---\ntitle: B\n---\n\n![shared](assets/shared.png) ![top](top.png)\n\n<!--truncate-->\n")
    .post("assets/shared.png", "shared")
    .post("top.png", "top");
    site
}

const FILES: [&str; 4] = ["2026-01-01-a/one.png", "2026-01-01-a/two.png", "assets/shared.png", "top.png"];

fn build(site: &TempSite) -> String {
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn inode(path: &Path) -> u64 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).ino()
}

fn public(site: &TempSite, file: &str) -> std::path::PathBuf {
    site.path().join("public").join(file)
}

fn source(site: &TempSite, file: &str) -> std::path::PathBuf {
    site.path().join("posts").join(file)
}

/// Sets a file's modification time `seconds` later than it is.
fn touch_later(path: &Path, seconds: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    let modified = file.metadata().unwrap().modified().unwrap();
    file.set_modified(modified + Duration::from_secs(seconds)).unwrap();
}

/// Every published file is the previous output's copy, whether its folder
/// is moved whole or the file linked alone (the posts folder's own files),
/// and none is the post's file.
#[test]
fn a_rebuild_keeps_the_previous_outputs_copies_of_unchanged_files() {
    let site = site();
    assert!(build(&site).contains("4 file(s) copied"));
    let before: Vec<u64> = FILES.iter().map(|f| inode(&public(&site, f))).collect();
    let stdout = build(&site);
    assert!(stdout.contains("0 file(s) copied, 4 unchanged file(s) kept from the previous build"), "{stdout}");
    for (file, before) in FILES.iter().zip(before) {
        assert_eq!(inode(&public(&site, file)), before, "{file} was copied again");
        assert_ne!(inode(&public(&site, file)), inode(&source(&site, file)), "{file} is the post's file");
        assert_eq!(fs::read(public(&site, file)).unwrap(), fs::read(source(&site, file)).unwrap(), "{file}");
    }
    // The previous output is gone, and nothing but the output is beside the site.
    let names: Vec<String> =
        fs::read_dir(site.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| ["newsroom.yaml", "posts", "public"].contains(&n.as_str())), "{names:?}");
}

/// A source with another size or another modification time is copied again;
/// the other files of its folder are still the previous output's.
#[test]
fn a_changed_source_is_copied_again() {
    let site = site();
    build(&site);
    let two = inode(&public(&site, "2026-01-01-a/two.png"));
    let shared = inode(&public(&site, "assets/shared.png"));
    fs::write(source(&site, "2026-01-01-a/one.png"), "one, longer").unwrap();
    touch_later(&source(&site, "assets/shared.png"), 5);
    let stdout = build(&site);
    assert!(stdout.contains("2 file(s) copied, 2 unchanged file(s) kept from the previous build"), "{stdout}");
    assert_eq!(fs::read_to_string(public(&site, "2026-01-01-a/one.png")).unwrap(), "one, longer");
    assert_ne!(inode(&public(&site, "assets/shared.png")), shared, "same size, later time: a new copy");
    assert_eq!(inode(&public(&site, "2026-01-01-a/two.png")), two);
    // And the build after that keeps all four.
    assert!(build(&site).contains("0 file(s) copied, 4 unchanged"));
}

/// Editing a published file changes no post's file, and the next build
/// puts the post's file back.
#[test]
fn an_edit_in_public_changes_no_source_and_is_undone() {
    let site = site();
    build(&site);
    build(&site);
    for file in FILES {
        fs::write(public(&site, file), "edited in public/").unwrap();
        assert_ne!(fs::read_to_string(source(&site, file)).unwrap(), "edited in public/", "{file}");
    }
    let stdout = build(&site);
    assert!(stdout.contains("4 file(s) copied"), "{stdout}");
    for file in FILES {
        assert_eq!(fs::read(public(&site, file)).unwrap(), fs::read(source(&site, file)).unwrap(), "{file}");
    }
}

/// Without a manifest, or with one that does not parse, everything is copied.
#[test]
fn a_missing_or_corrupt_manifest_means_copies() {
    let site = site();
    build(&site);
    for damage in [None, Some("{\"version\": 1, \"files\": [tru"), Some("{\"version\": 99, \"files\": {}}")] {
        match damage {
            None => fs::remove_file(public(&site, MANIFEST)).unwrap(),
            Some(text) => fs::write(public(&site, MANIFEST), text).unwrap(),
        }
        let before: Vec<u64> = FILES.iter().map(|f| inode(&public(&site, f))).collect();
        let stdout = build(&site);
        assert!(stdout.contains("4 file(s) copied") && !stdout.contains("file(s) kept"), "{damage:?}: {stdout}");
        for (file, before) in FILES.iter().zip(before) {
            assert_ne!(inode(&public(&site, file)), before, "{damage:?}: {file}");
            assert_eq!(fs::read(public(&site, file)).unwrap(), fs::read(source(&site, file)).unwrap());
        }
    }
}

/// A re-build's output is the same as a fresh build's: a file put into a
/// kept folder of `public/`, or a file no post shows any more, is not in it.
#[test]
fn a_rebuild_publishes_what_a_fresh_build_does() {
    let site = site();
    build(&site);
    fs::write(public(&site, "2026-01-01-a/stray.png"), "stray").unwrap();
    fs::create_dir(public(&site, "assets/empty")).unwrap();
    site.post("2026-01-02-b.md", "---\ntitle: B\n---\n\n![top](top.png)\n\n<!--truncate-->\n");
    build(&site);
    let fresh = site.path().join("fresh");
    assert!(run(site.path(), &["build", "--out", fresh.to_str().unwrap()]).status.success());
    let tree = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut entries: Vec<_> = walkdir::WalkDir::new(dir)
            .into_iter()
            .map(Result::unwrap)
            .map(|e| {
                let bytes = if e.file_type().is_file() { fs::read(e.path()).unwrap() } else { Vec::new() };
                (e.path().strip_prefix(dir).unwrap().display().to_string(), bytes)
            })
            .collect();
        entries.sort();
        entries
    };
    let rebuilt = tree(&site.path().join("public"));
    assert!(
        !rebuilt.iter().any(|(path, _)| path.contains("stray") || path.contains("shared") || path.contains("empty"))
    );
    assert_eq!(rebuilt, tree(&fresh));
    // The copies carry their source's modification time, which the next build compares.
    let modified = |path: &Path| fs::metadata(path).unwrap().modified().unwrap();
    assert_eq!(modified(&public(&site, "top.png")), modified(&source(&site, "top.png")));
    assert!(modified(&public(&site, "top.png")) < SystemTime::now());
}

/// A folder whose name another one's starts (`pics/a` and `pics/a-b`, which
/// sorts between `pics/a` and `pics/a/…`) is still checked whole: a stray
/// file in it keeps it from being moved, and each file is still kept.
#[test]
fn a_folder_is_checked_whole_whatever_sorts_beside_it() {
    let site = TempSite::new();
    site.post(
        "2026-01-01-a.md",
        "---\ntitle: A\n---\n\n![a](pics/a/one.png) ![b](pics/a-b/two.png) ![c](pics/a/deep/three.png)\n\n<!--truncate-->\n",
    )
    .post("pics/a/one.png", "one")
    .post("pics/a-b/two.png", "two")
    .post("pics/a/deep/three.png", "three");
    build(&site);
    let kept: Vec<u64> =
        ["pics/a/one.png", "pics/a-b/two.png", "pics/a/deep/three.png"].map(|f| inode(&public(&site, f))).to_vec();
    fs::write(public(&site, "pics/a/stray.png"), "stray").unwrap();
    fs::write(public(&site, "pics/a/deep/stray.png"), "stray").unwrap();
    let report = build(&site);
    assert!(report.contains("0 file(s) copied, 3 unchanged file(s) kept"), "{report}");
    assert!(!public(&site, "pics/a/stray.png").exists());
    assert!(!public(&site, "pics/a/deep/stray.png").exists());
    let again: Vec<u64> =
        ["pics/a/one.png", "pics/a-b/two.png", "pics/a/deep/three.png"].map(|f| inode(&public(&site, f))).to_vec();
    assert_eq!(kept, again);
}
