//! A re-build keeps the archive pages of the months whose inputs did not
//! change (issue 26, point 13): the previous output's page (same inode),
//! and the same bytes as a fresh build. A changed post makes its month's
//! page again; a changed config or template, a page changed in `public/`,
//! or a manifest that cannot be read, makes them again.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::support::*;

const MANIFEST: &str = ".newsroom-pages.json";

const MONTHS: [&str; 3] = ["2026-01", "2026-02", "2026-03"];

/// A post a month for three months, each showing a picture (the excerpt
/// the digest rewrites).
fn site() -> TempSite {
    let site = TempSite::new();
    for (month, name) in MONTHS.iter().zip(["a", "b", "c"]) {
        site.post(
            &format!("{month}-10-{name}.md"),
            format!(
                "---\ntitle: Post {name}\n---\n\n![{name}]({name}.png) About {name}.\n\n<!--truncate-->\n\nMore.\n"
            ),
        )
        .post(&format!("{name}.png"), name);
    }
    site
}

fn build(site: &TempSite) -> String {
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn page(site: &TempSite, month: &str) -> std::path::PathBuf {
    site.path().join("public/digest").join(month).join("index.html")
}

fn inodes(site: &TempSite) -> Vec<u64> {
    MONTHS.iter().map(|month| fs::metadata(page(site, month)).unwrap().ino()).collect()
}

/// The site's output is what a fresh build of it into another folder
/// writes, byte for byte, the manifests included.
fn assert_as_fresh(site: &TempSite) {
    let fresh = site.path().join("fresh");
    let _ = fs::remove_dir_all(&fresh);
    let output = run(site.path(), &["build", "--out", fresh.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("unchanged, kept"), "a fresh folder keeps nothing");
    let rebuilt = file_tree(&site.path().join("public"));
    let fresh = file_tree(&fresh);
    assert_eq!(rebuilt.keys().collect::<Vec<_>>(), fresh.keys().collect::<Vec<_>>());
    for (path, bytes) in &rebuilt {
        assert!(bytes == &fresh[path], "{path} differs from a fresh build's");
    }
}

#[test]
fn a_rebuild_keeps_every_unchanged_archive_page() {
    let site = site();
    assert!(!build(&site).contains("kept from the previous build, "));
    let before = inodes(&site);
    let stdout = build(&site);
    assert!(stdout.contains("3 digest archive page(s) (3 unchanged, kept from the previous build)"), "{stdout}");
    assert_eq!(inodes(&site), before, "a kept page is the previous output's");
    assert_as_fresh(&site);
}

#[test]
fn an_edited_post_makes_its_months_page_again() {
    let site = site();
    build(&site);
    let before = inodes(&site);
    site.post("2026-02-10-b.md", "---\ntitle: Post b, edited\n---\n\n![b](b.png) About b.\n\n<!--truncate-->\n");
    let stdout = build(&site);
    assert!(stdout.contains("(2 unchanged, kept from the previous build)"), "{stdout}");
    let after = inodes(&site);
    assert_eq!((after[0], after[2]), (before[0], before[2]), "January's and March's pages are kept");
    assert_ne!(after[1], before[1], "February's page is made again");
    assert!(fs::read_to_string(page(&site, "2026-02")).unwrap().contains("Post b, edited"));
    assert_as_fresh(&site);
    // A post moved to another month makes both months' pages again.
    fs::rename(site.path().join("posts/2026-02-10-b.md"), site.path().join("posts/2026-03-11-b.md")).unwrap();
    let stdout = build(&site);
    assert!(stdout.contains("2 digest archive page(s) (1 unchanged, kept"), "{stdout}");
    assert!(!page(&site, "2026-02").exists());
    assert!(fs::read_to_string(page(&site, "2026-03")).unwrap().contains("Post b, edited"));
    assert_as_fresh(&site);
}

#[test]
fn a_config_or_template_change_makes_every_page_again() {
    let site = site();
    build(&site);
    // A change the pages do not show still makes them again: the
    // fingerprint holds the whole config.
    let config = site.path().join("newsroom.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}feeds:\n  limit: 7\n")).unwrap();
    let before = inodes(&site);
    let stdout = build(&site);
    assert!(!stdout.contains("unchanged, kept from the previous build)"), "{stdout}");
    assert!(inodes(&site).iter().zip(&before).all(|(after, before)| after != before));
    assert_as_fresh(&site);
    // The site's title, which every page shows.
    fs::write(&config, text.replace("Test Blog", "Retitled Blog")).unwrap();
    assert!(!build(&site).contains("unchanged, kept from the previous build)"));
    for month in MONTHS {
        assert!(fs::read_to_string(page(&site, month)).unwrap().contains("Retitled Blog"), "{month}");
    }
    assert_as_fresh(&site);
    // The digest's template.
    fs::create_dir_all(site.path().join("templates")).unwrap();
    fs::write(
        site.path().join("templates/digest.md"),
        "---\nsubject: \"{site_title}: {month}\"\n---\n\nHello.\n\n<!-- footer -->\n\nA new footer.\n",
    )
    .unwrap();
    let before = inodes(&site);
    let stdout = build(&site);
    assert!(!stdout.contains("unchanged, kept from the previous build)"), "{stdout}");
    assert!(inodes(&site).iter().zip(&before).all(|(after, before)| after != before));
    for month in MONTHS {
        assert!(fs::read_to_string(page(&site, month)).unwrap().contains("A new footer."), "{month}");
    }
    assert_as_fresh(&site);
}

/// A page changed in `public/` (even to the same length), or a manifest
/// that is missing or does not parse, means the page is made again.
#[test]
fn a_page_changed_in_public_or_a_lost_manifest_makes_pages_again() {
    let site = site();
    build(&site);
    let original = fs::read(page(&site, "2026-01")).unwrap();
    let mut same_length = original.clone();
    let at = same_length.len() / 2;
    same_length[at] = if same_length[at] == b'x' { b'y' } else { b'x' };
    fs::write(page(&site, "2026-01"), &same_length).unwrap();
    let stdout = build(&site);
    assert!(stdout.contains("(2 unchanged, kept"), "{stdout}");
    assert_eq!(fs::read(page(&site, "2026-01")).unwrap(), original);
    for damage in [None, Some("{\"version\": 1, \"pages\": [tru"), Some("{\"version\": 99, \"pages\": {}}")] {
        let manifest = site.path().join("public").join(MANIFEST);
        match damage {
            None => fs::remove_file(&manifest).unwrap(),
            Some(text) => fs::write(&manifest, text).unwrap(),
        }
        let stdout = build(&site);
        assert!(!stdout.contains("unchanged, kept from the previous build)"), "{damage:?}: {stdout}");
        assert_as_fresh(&site);
    }
}

/// The manifest is newsroom's: a page it lists is kept only when its
/// previous copy is a file (not a link to something else).
#[test]
fn a_link_in_place_of_a_page_is_not_kept() {
    let site = site();
    build(&site);
    let elsewhere = site.path().join("elsewhere.html");
    fs::copy(page(&site, "2026-03"), &elsewhere).unwrap();
    fs::remove_file(page(&site, "2026-03")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, page(&site, "2026-03")).unwrap();
    let stdout = build(&site);
    assert!(stdout.contains("(2 unchanged, kept"), "{stdout}");
    assert!(fs::symlink_metadata(page(&site, "2026-03")).unwrap().is_file());
    assert_as_fresh(&site);
}
