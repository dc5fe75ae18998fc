//! Generates a synthetic newsroom site for benchmarks.
//!
//! `cargo run --release --example gen_posts -- OUT_DIR N [--shape default|legacy]` writes
//! `OUT_DIR/newsroom.yaml`, `OUT_DIR/posts/authors.yml` (10 authors), `OUT_DIR/posts/assets/pic.png`
//! and N posts `OUT_DIR/posts/YYYY-MM-DD-slug-NNNNNN.md` of about 8 KB of realistic Markdown each.
//! The output is deterministic (fixed-seed PRNG): the same N and shape give the same files.
//!
//! Two shapes of post:
//! - `default`: authors by their `authors.yml` key, a quarter of the posts showing the shared
//!   `assets/pic.png` below the truncate marker.
//! - `legacy`: the shape of Backstage's blog (`corpus/backstage`): the legacy `author`,
//!   `authorTitle`, `authorURL` and `authorImageURL` fields instead of `authors`, and every
//!   post opening with an image of its own, in the excerpt, from a folder per day
//!   (`assets/YYYY-MM-DD/slug-NNNNNN.png`), as `build` must check and copy one file a post.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate};

const AUTHORS: [(&str, &str, &str); 10] = [
    ("ada", "Ada Fernández", "Maintainer"),
    ("kenji", "Kenji Watanabe", "Plugin SDK lead"),
    ("priya", "Priya Raman", "Docs & community"),
    ("lars", "Lars Nilsson", "Release manager"),
    ("amara", "Amara Okafor", "Core contributor"),
    ("mateo", "Mateo Rossi", "Infrastructure"),
    ("sofia", "Sofia Petrova", "Design systems"),
    ("noah", "Noah Cohen", "Developer advocate"),
    ("mei", "Mei Lin", "Security team"),
    ("omar", "Omar Haddad", "Performance work"),
];

const TAGS: [&str; 30] = [
    "release",
    "community",
    "performance",
    "security",
    "docs",
    "plugins",
    "search",
    "api",
    "cli",
    "design",
    "accessibility",
    "testing",
    "infrastructure",
    "meetup",
    "roadmap",
    "tutorial",
    "migration",
    "typescript",
    "rust",
    "observability",
    "ci",
    "packaging",
    "i18n",
    "mobile",
    "web",
    "database",
    "caching",
    "governance",
    "spotlight",
    "deprecation",
];

const WORDS: [&str; 96] = [
    "the",
    "plugin",
    "release",
    "catalog",
    "search",
    "index",
    "team",
    "community",
    "build",
    "pipeline",
    "feature",
    "config",
    "user",
    "service",
    "faster",
    "simpler",
    "new",
    "old",
    "stable",
    "experimental",
    "we",
    "you",
    "it",
    "they",
    "now",
    "also",
    "finally",
    "because",
    "when",
    "with",
    "without",
    "across",
    "every",
    "each",
    "most",
    "some",
    "upgrade",
    "migrate",
    "deploy",
    "render",
    "parse",
    "cache",
    "query",
    "schema",
    "endpoint",
    "request",
    "response",
    "latency",
    "throughput",
    "memory",
    "startup",
    "documentation",
    "tutorial",
    "example",
    "contributor",
    "maintainer",
    "review",
    "issue",
    "discussion",
    "roadmap",
    "milestone",
    "is",
    "are",
    "was",
    "will",
    "can",
    "should",
    "must",
    "makes",
    "keeps",
    "brings",
    "adds",
    "removes",
    "replaces",
    "improves",
    "a",
    "an",
    "of",
    "to",
    "in",
    "on",
    "for",
    "and",
    "or",
    "but",
    "this",
    "that",
    "our",
    "your",
    "their",
    "small",
    "large",
    "clear",
    "reliable",
    "portable",
    "modular",
];

const CODE_BLOCKS: [(&str, &str); 4] = [
    (
        "rust",
        "fn main() {\n    let config = Config::load(\"site.yaml\").expect(\"config\");\n    for post in config.posts() {\n        println!(\"{} {}\", post.date, post.title);\n    }\n}",
    ),
    (
        "shell",
        "$ lantern plugin install search-federation\n$ lantern search reindex --all\n$ lantern serve --port 7007",
    ),
    ("yaml", "search:\n  sources:\n    - catalog\n    - techdocs\n    - openapi\n  ranking: unified\n  cache_ttl: 300"),
    (
        "typescript",
        "export async function fetchEntities(client: CatalogClient): Promise<Entity[]> {\n  const { items } = await client.getEntities({ filter: { kind: 'Component' } });\n  return items.filter(e => e.metadata.annotations?.['lantern.io/owner']);\n}",
    ),
];

/// A 1×1 transparent PNG.
const PNG: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// Target size of a post in bytes (approximate: paragraphs are added until it is reached).
const TARGET_BYTES: usize = 8 * 1024;

/// Which kind of post the generator writes (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Default,
    Legacy,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = match args.get(2..).unwrap_or_default() {
        [] => Shape::Default,
        [flag, shape] if flag == "--shape" && shape == "default" => Shape::Default,
        [flag, shape] if flag == "--shape" && shape == "legacy" => Shape::Legacy,
        _ => bail!("usage: gen_posts OUT_DIR N [--shape default|legacy]"),
    };
    if args.len() < 2 {
        bail!("usage: gen_posts OUT_DIR N [--shape default|legacy]");
    }
    let out = PathBuf::from(&args[0]);
    let n: usize = args[1].parse().context("N must be a number")?;

    let posts = out.join("posts");
    fs::create_dir_all(posts.join("assets")).with_context(|| format!("creating {}", posts.display()))?;
    fs::write(
        out.join("newsroom.yaml"),
        "site:\n  title: Bench Blog\n  url: https://bench.example.org\nposts: posts\n",
    )?;
    write_authors(&posts)?;
    fs::write(posts.join("assets/pic.png"), PNG)?;

    let mut rng = fastrand::Rng::with_seed(0x6e65_7773_726f_6f6d);
    let start = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap();
    // One post a day up to ~11 years, then several posts a day.
    let span_days = n.clamp(1, 4000);
    let mut total = 0usize;
    let mut buf = String::with_capacity(TARGET_BYTES + 2048);
    for i in 0..n {
        let date = start + Days::new((i * span_days / n.max(1)) as u64);
        buf.clear();
        let day = date.format("%Y-%m-%d").to_string();
        let slug = match shape {
            Shape::Default => post(&mut rng, i, &mut buf),
            Shape::Legacy => {
                let (slug, image) = legacy_post(&mut rng, i, &day, &mut buf);
                let image = posts.join(image);
                fs::create_dir_all(image.parent().expect("in a folder"))?;
                fs::write(&image, PNG).with_context(|| format!("writing {}", image.display()))?;
                slug
            }
        };
        let name = format!("{day}-{slug}-{i:06}.md");
        fs::write(posts.join(&name), &buf).with_context(|| format!("writing {name}"))?;
        total += buf.len();
    }
    eprintln!("wrote {n} {shape:?} posts ({:.1} MB) to {}", total as f64 / 1e6, posts.display());
    Ok(())
}

pub fn write_authors(posts: &Path) -> Result<()> {
    let mut s = String::new();
    for (key, name, title) in AUTHORS {
        writeln!(s, "{key}:")?;
        writeln!(s, "  name: {name}")?;
        writeln!(s, "  title: {title}")?;
        writeln!(s, "  url: https://github.com/{key}-example")?;
        writeln!(s, "  image_url: https://bench.example.org/img/authors/{key}.png")?;
        writeln!(s)?;
    }
    fs::write(posts.join("authors.yml"), s)?;
    Ok(())
}

fn word(rng: &mut fastrand::Rng) -> &'static str {
    WORDS[rng.usize(..WORDS.len())]
}

/// A number of words in range `n`, capitalised when `cap`.
fn words(rng: &mut fastrand::Rng, n: std::ops::Range<usize>, cap: bool, out: &mut String) {
    let n = rng.usize(n);
    for k in 0..n {
        if k > 0 {
            out.push(' ');
        }
        let w = word(rng);
        if k == 0 && cap {
            let mut c = w.chars();
            let first = c.next().unwrap();
            out.extend(first.to_uppercase());
            out.push_str(c.as_str());
        } else {
            out.push_str(w);
        }
    }
}

/// A sentence with occasional inline markup.
fn sentence(rng: &mut fastrand::Rng, out: &mut String) {
    words(rng, 3..7, true, out);
    out.push(' ');
    match rng.u8(..10) {
        0 => {
            out.push('[');
            words(rng, 1..4, false, out);
            write!(out, "](https://docs.example.org/{}/{})", word(rng), rng.u32(..10000)).unwrap();
        }
        1 => {
            out.push_str("**");
            words(rng, 2..3, false, out);
            out.push_str("**");
        }
        2 => {
            out.push('_');
            words(rng, 1..3, false, out);
            out.push('_');
        }
        3 => write!(out, "`{}.{}()`", word(rng), word(rng)).unwrap(),
        4 => write!(out, "`--{}-{}`", word(rng), word(rng)).unwrap(),
        _ => words(rng, 2..3, false, out),
    }
    out.push(' ');
    words(rng, 3..9, false, out);
    out.push_str(if rng.u8(..8) == 0 { "?" } else { "." });
}

/// A paragraph of 3–6 sentences wrapped at ~80 columns, followed by a blank line.
fn paragraph(rng: &mut fastrand::Rng, out: &mut String) {
    let mut p = String::new();
    for k in 0..rng.usize(3..7) {
        if k > 0 {
            p.push(' ');
        }
        sentence(rng, &mut p);
    }
    let mut col = 0;
    for (k, w) in p.split(' ').enumerate() {
        if k > 0 {
            if col + 1 + w.len() > 80 {
                out.push('\n');
                col = 0;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(w);
        col += w.len();
    }
    out.push_str("\n\n");
}

fn list(rng: &mut fastrand::Rng, numbered: bool, out: &mut String) {
    for k in 0..rng.usize(3..7) {
        if numbered {
            write!(out, "{}. ", k + 1).unwrap();
        } else {
            out.push_str("- ");
        }
        sentence(rng, out);
        out.push('\n');
    }
    out.push('\n');
}

fn heading(rng: &mut fastrand::Rng, level: usize, out: &mut String) {
    out.push_str(&"#".repeat(level));
    out.push(' ');
    words(rng, 2..5, true, out);
    out.push_str("\n\n");
}

/// Writes post number `i` into `out`; returns its slug.
pub fn post(rng: &mut fastrand::Rng, i: usize, out: &mut String) -> String {
    let (title, slug) = title(rng);
    out.push_str("---\n");
    writeln!(out, "title: \"{title}\"").unwrap();
    if rng.bool() {
        writeln!(out, "authors: {}", AUTHORS[rng.usize(..AUTHORS.len())].0).unwrap();
    } else {
        let a = rng.usize(..AUTHORS.len());
        let b = (a + rng.usize(1..AUTHORS.len())) % AUTHORS.len();
        writeln!(out, "authors: [{}, {}]", AUTHORS[a].0, AUTHORS[b].0).unwrap();
    }
    tags_and_description(rng, out);
    out.push_str("---\n\n");
    body(rng, i, out);
    slug
}

/// Writes post number `i` of the legacy shape, dated `day` (`YYYY-MM-DD`),
/// into `out`; returns its slug and the image it opens with, relative to the
/// posts folder.
pub fn legacy_post(rng: &mut fastrand::Rng, i: usize, day: &str, out: &mut String) -> (String, String) {
    let (title, slug) = title(rng);
    let (key, name, role) = AUTHORS[rng.usize(..AUTHORS.len())];
    out.push_str("---\n");
    writeln!(out, "title: \"{title}\"").unwrap();
    writeln!(out, "author: {name}").unwrap();
    writeln!(out, "authorTitle: {role}").unwrap();
    writeln!(out, "authorURL: https://github.com/{key}-example").unwrap();
    writeln!(out, "authorImageURL: https://avatars.example.org/u/{}?s=460&v=4", key.len() * 7919).unwrap();
    tags_and_description(rng, out);
    out.push_str("---\n\n");
    let image = format!("assets/{day}/{slug}-{i:06}.png");
    out.push_str("![");
    words(rng, 4..9, true, out);
    writeln!(out, "]({image})\n").unwrap();
    body(rng, i, out);
    (slug, image)
}

/// A title and the slug made of its first four words.
fn title(rng: &mut fastrand::Rng) -> (String, String) {
    let mut title = String::new();
    words(rng, 3..7, true, &mut title);
    let slug: String = title.to_lowercase().split(' ').take(4).collect::<Vec<_>>().join("-");
    (title, slug)
}

/// The front matter's `tags` and, for a third of the posts, `description`.
fn tags_and_description(rng: &mut fastrand::Rng, out: &mut String) {
    let mut tags: Vec<&str> = Vec::new();
    let ntags = rng.usize(2..5);
    while tags.len() < ntags {
        let t = TAGS[rng.usize(..TAGS.len())];
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    writeln!(out, "tags: [{}]", tags.join(", ")).unwrap();
    if rng.u8(..3) == 0 {
        let mut d = String::new();
        sentence(rng, &mut d);
        writeln!(out, "description: \"{d}\"").unwrap();
    }
}

/// The body of post number `i`, after its front matter.
fn body(rng: &mut fastrand::Rng, i: usize, out: &mut String) {
    // Excerpt, then the marker after the second paragraph.
    paragraph(rng, out);
    paragraph(rng, out);
    out.push_str("<!--truncate-->\n\n");

    heading(rng, 2, out);
    paragraph(rng, out);
    list(rng, false, out);
    paragraph(rng, out);
    let (lang, code) = CODE_BLOCKS[rng.usize(..CODE_BLOCKS.len())];
    writeln!(out, "```{lang}\n{code}\n```\n").unwrap();
    heading(rng, 3, out);
    paragraph(rng, out);
    write!(out, "![").unwrap();
    words(rng, 3..4, true, out);
    writeln!(out, "](https://cdn.example.org/img/{i}.png)\n").unwrap();
    list(rng, true, out);
    if rng.u8(..4) == 0 {
        write!(out, "![").unwrap();
        words(rng, 2..3, true, out);
        out.push_str("](./assets/pic.png)\n\n");
    }
    // Fill up to the target size with more sections.
    while out.len() < TARGET_BYTES - 400 {
        match rng.u8(..8) {
            0 => heading(rng, 2, out),
            1 => heading(rng, 3, out),
            2 => {
                let numbered = rng.bool();
                list(rng, numbered, out)
            }
            _ => paragraph(rng, out),
        }
    }
}
