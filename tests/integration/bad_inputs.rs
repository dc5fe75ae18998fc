//! A table of bad and awkward inputs, each with its expected outcome; the
//! exact `check` output of every case is snapshotted so error text is
//! reviewed like any other output.

use crate::support::*;

struct Case {
    name: &'static str,
    file: &'static str,
    bytes: &'static [u8],
    /// `check`'s exit code: 1 when the post has an error.
    exit: i32,
    /// Text the report must contain (besides the snapshot).
    expect: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "malformed_yaml",
        file: "2026-01-05-malformed.md",
        bytes: b"---\ntitle: [unclosed\ndate: 2026-01-05\n---\nBody\n",
        exit: 1,
        expect: "posts/2026-01-05-malformed.md:3:5: error: front matter is not valid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 2 column 8",
    },
    Case {
        name: "tab_indented_yaml",
        file: "2026-01-05-tabs.md",
        bytes: b"---\ntitle: Tabs\ntags:\n\t- one\n---\nBody\n",
        exit: 1,
        expect: "use spaces",
    },
    Case {
        name: "missing_title",
        file: "2026-01-05-untitled.md",
        bytes: b"---\nauthors: [nobody]\n---\nJust text.\n",
        exit: 1,
        expect: "missing `title`",
    },
    Case {
        name: "impossible_date",
        file: "2017-03-01-leap.md",
        bytes: b"---\ntitle: Leap\ndate:   2017-02-29 11:00:00\n---\nBody\n",
        exit: 1,
        expect: "posts/2017-03-01-leap.md:3:9: error: date 2017-02-29 11:00:00 is not a real date",
    },
    Case {
        name: "no_date",
        file: "undated.md",
        bytes: b"---\ntitle: Undated\n---\nBody\n",
        exit: 1,
        expect: "post has no date",
    },
    Case {
        name: "non_utf8",
        file: "2026-01-05-latin1.md",
        bytes: b"---\ntitle: Caf\xe9\n---\nBody\n",
        exit: 1,
        expect: "posts/2026-01-05-latin1.md:2:11: error: file is not valid UTF-8",
    },
    Case { name: "empty_file", file: "2026-01-05-empty.md", bytes: b"", exit: 1, expect: "empty file" },
    Case {
        name: "marker_inside_code",
        file: "2026-01-05-code.md",
        bytes: b"---\ntitle: Code\n---\nIntro\n\n```\n<!--truncate-->\n```\n\nStill excerpt.\n\n<!--truncate-->\n\nBody\n",
        exit: 0,
        expect: "0 error(s), 0 warning(s)",
    },
    Case {
        name: "cdata_end_and_script",
        file: "2026-01-05-hostile.md",
        bytes: b"---\ntitle: \"Ends ]]> here <script>alert(1)</script>\"\n---\nA ]]> B <script>alert(2)</script> <img src=x onerror=alert(3)>\n\n<!--truncate-->\n",
        exit: 0,
        expect: "0 error(s)",
    },
    Case {
        name: "crlf_line_ends",
        file: "2026-01-05-crlf.md",
        bytes: b"---\r\ntitle: Windows\r\ntags: [a]\r\n---\r\nIntro\r\n\r\n<!--truncate-->\r\n\r\nBody\r\n",
        exit: 0,
        expect: "0 error(s), 0 warning(s)",
    },
    Case {
        name: "utf8_bom",
        file: "2026-01-05-bom.md",
        bytes: b"\xef\xbb\xbf---\ntitle: BOM\n---\nIntro\n\n<!--truncate-->\n",
        exit: 0,
        expect: "0 error(s), 0 warning(s)",
    },
    Case {
        name: "control_characters",
        file: "2026-01-05-controls.md",
        bytes: b"---\ntitle: \"Bell \\u0007 here\"\n---\nForm\x0cfeed\n\n<!--truncate-->\n",
        exit: 0,
        expect: "posts/2026-01-05-controls.md:4:5: warning: control characters removed",
    },
    Case {
        name: "image_leaving_posts",
        file: "2026-01-05-escape.md",
        bytes: b"---\ntitle: Escape\n---\n![secret](../../etc/passwd)\n\n<!--truncate-->\n",
        exit: 0,
        expect: "posts/2026-01-05-escape.md:4:11: warning: `../../etc/passwd` leaves the posts folder; not copied",
    },
];

#[test]
fn each_bad_input_is_reported_as_expected() {
    for case in CASES {
        let site = TempSite::new();
        site.post(case.file, case.bytes);
        let output = run(site.path(), &["check"]);
        let report = stdout(&output);
        assert_eq!(output.status.code(), Some(case.exit), "{}: {report}{}", case.name, stderr(&output));
        assert!(report.contains(case.expect), "{}: expected {:?} in:\n{report}", case.name, case.expect);
        insta::assert_snapshot!(format!("bad_input_{}", case.name), report);
    }
}

/// Bad posts never stop the good ones: with --keep-going all cases build
/// together, the erroneous ones are skipped and named, and every feed reads back.
#[test]
fn keep_going_publishes_every_good_post() {
    let site = TempSite::new();
    for case in CASES {
        site.post(case.file, case.bytes);
    }
    let output = run(site.path(), &["build", "--keep-going"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let skipped: Vec<&str> = stderr(&output)
        .lines()
        .filter_map(|l| l.strip_prefix("skipped posts/"))
        .map(|l| l.to_owned().leak() as &str)
        .collect();
    let mut expected: Vec<&str> = CASES.iter().filter(|c| c.exit == 1).map(|c| c.file).collect();
    expected.sort();
    assert_eq!(skipped, expected);
    let good = CASES.iter().filter(|c| c.exit == 0).count();
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(&site.path().join("public").join(file));
        assert_eq!(feed.entries.len(), good, "{file}");
        let hostile = feed.entries.iter().find(|e| e.id.ends_with("hostile")).unwrap();
        assert_eq!(hostile.title.as_ref().unwrap().content, "Ends ]]> here <script>alert(1)</script>", "{file}");
        let body = hostile
            .summary
            .as_ref()
            .map(|s| s.content.clone())
            .or_else(|| hostile.content.as_ref().and_then(|c| c.body.clone()))
            .unwrap();
        assert!(body.contains("A ]]&gt; B"), "{file}: {body}");
        assert!(!body.contains("<script") && !body.contains("onerror"), "{file}: {body}");
        let controls = feed.entries.iter().find(|e| e.id.ends_with("controls")).unwrap();
        assert_eq!(controls.title.as_ref().unwrap().content, "Bell  here", "{file}");
        let windows = feed.entries.iter().find(|e| e.id.ends_with("crlf")).unwrap();
        assert_eq!(windows.title.as_ref().unwrap().content, "Windows");
        assert_eq!(windows.categories.len(), 1, "{file}");
    }
    assert!(!site.path().join("public/etc").exists());
    let excerpt = site.read("public/feed.json");
    assert!(excerpt.contains("Still excerpt."), "the marker in code did not cut the excerpt");
    assert!(!excerpt.contains("<p>Body</p>"), "the real marker cut the excerpt");
}

/// Regression: 100,000 nested `<div>`s or 50,000 nested blockquotes made the
/// build run for minutes (rendering grows faster than linearly with depth).
/// Now such a post is an error at the place the nesting goes too deep, and
/// the other posts build.
#[test]
fn pathologically_nested_posts_are_refused_not_rendered() {
    let site = TempSite::new();
    let divs = format!("---\ntitle: Divs\n---\n{}x{}\n", "<div>".repeat(100_000), "</div>".repeat(100_000));
    let quotes = format!("---\ntitle: Quotes\n---\n{}x\n", "> ".repeat(50_000));
    site.post("2026-01-01-divs.md", divs).post("2026-01-02-quotes.md", quotes);
    site.post("2026-01-03-fine.md", "---\ntitle: Fine\n---\n> > nested twice\n\n<!--truncate-->\n");
    let output = run(site.path(), &["build", "--keep-going"]);
    let report = stderr(&output);
    assert!(
        report.contains("posts/2026-01-01-divs.md:4:5001: error: HTML elements nest more than 1000 levels deep"),
        "{report}"
    );
    assert!(report.contains("posts/2026-01-02-quotes.md:4:1: error: blockquotes nest 50000 levels deep"), "{report}");
    assert_eq!(parse_feed(&site.path().join("public/feed.xml")).entries.len(), 1);
}
