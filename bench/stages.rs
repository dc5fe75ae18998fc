//! Micro-benchmarks of the hot stages (issue 5, part 5), with divan:
//! `cargo bench --bench stages`. Each figure is the time of one call, on
//! inputs like the ones `bench/run.sh` measures end to end: ~8 KB posts from
//! `bench/harness/gen_posts.rs`, the example site's October 2026 digest (~10 KB a
//! message) and the same digest with generated posts added (~30 KB).

use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use divan::Bencher;
use newsroom::content::{Body, BodyCache, Post, front_matter};
use newsroom::digest::{Digest, Month};
use newsroom::email::message;
use newsroom::feed::{self, Entry, FeedSpec};
use newsroom::markdown::{self, RenderedPost};
use newsroom::site::Site;
use newsroom::store::ledger::Claimant;
use newsroom::store::{State, Store};
use newsroom::subscriber::{Status, Subscriber};

#[path = "harness/gen_posts.rs"]
#[allow(dead_code)]
mod gen_posts;

/// The allocator `newsroom` itself runs with (src/main.rs), so the figures
/// are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const POSTS: usize = 20;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").expect("a date").with_timezone(&Utc)
}

/// A generated site: `POSTS` ~8 KB posts in 2015 and the given number of them
/// again dated October 2026, so the month's digest has that many more posts.
fn generated_site(dir: &Path, october: usize) -> Vec<String> {
    let posts_dir = dir.join("posts");
    std::fs::create_dir_all(posts_dir.join("assets")).expect("posts folder");
    std::fs::write(
        dir.join("newsroom.yaml"),
        "site:\n  title: Bench Blog\n  url: https://bench.example.org\nposts: posts\n",
    )
    .expect("config");
    gen_posts::write_authors(&posts_dir).expect("authors");
    let mut rng = fastrand::Rng::with_seed(0x6e65_7773_726f_6f6d);
    let mut texts = Vec::new();
    for i in 0..POSTS + october {
        let mut text = String::new();
        let slug = gen_posts::post(&mut rng, i, &mut text);
        let name = if i < POSTS {
            format!("2015-01-{:02}-{slug}-{i:06}.md", i % 28 + 1)
        } else {
            format!("2026-10-{:02}-{slug}-{i:06}.md", i % 28 + 1)
        };
        std::fs::write(posts_dir.join(name), &text).expect("post");
        texts.push(text);
    }
    texts
}

struct Posts {
    _dir: tempfile::TempDir,
    site: Site,
    texts: Vec<String>,
    posts: Vec<Post>,
}

fn posts() -> Posts {
    let dir = tempfile::tempdir().expect("temp dir");
    let texts = generated_site(dir.path(), 0);
    let site = Site::open(dir.path()).expect("site");
    let posts = newsroom::content::load(&site).expect("posts").posts;
    assert_eq!(posts.len(), POSTS);
    Posts { _dir: dir, site, texts, posts }
}

#[divan::bench]
fn front_matter_parse(bencher: Bencher) {
    let posts = posts();
    let text = &posts.texts[0];
    bencher.bench(|| {
        let split = front_matter::split(black_box(text)).expect("front matter");
        front_matter::parse_mapping(split.yaml).expect("yaml")
    });
}

#[divan::bench]
fn markdown_render_8kb(bencher: Bencher) {
    let posts = posts();
    let links = newsroom::render::post_links(&posts.site, &posts.posts);
    let post = &posts.posts[0];
    let base_url = newsroom::render::post_base_url(&posts.site, post);
    let context = markdown::html::LinkContext {
        base_url: &base_url,
        permalink: &post.permalink,
        folder: &post.folder,
        post_links: &links,
    };
    let body = Body::read(post).expect("body");
    bencher.bench(|| markdown::render_post(black_box(post), &body, &context, markdown::Parts::ALL));
}

/// Finding the `<!--truncate-->` marker in an 8 KB post (parsing included).
#[divan::bench]
fn excerpt_cut(bencher: Bencher) {
    let posts = posts();
    let post = &posts.posts[0];
    let body = Body::read(post).expect("body");
    bencher.bench(|| {
        let source = markdown::markdown_source(black_box(post), &body);
        let events = markdown::parse(&source);
        markdown::find_marker(&events)
    });
}

struct Feed {
    posts: Posts,
    rendered: Vec<RenderedPost>,
}

fn feed() -> Feed {
    let posts = posts();
    let links = newsroom::render::post_links(&posts.site, &posts.posts);
    let refs: Vec<&Post> = posts.posts.iter().collect();
    let rendered =
        newsroom::render::render_posts(&posts.site, &refs, &BodyCache::default(), &links, markdown::Parts::EMAIL);
    Feed { posts, rendered }
}

fn spec(feed: &Feed) -> FeedSpec<'_> {
    let entries =
        feed.posts.posts.iter().zip(&feed.rendered).map(|(post, rendered)| Entry { post, rendered }).collect();
    let config = &feed.posts.site.config;
    let fallback: DateTime<FixedOffset> = now().into();
    FeedSpec::new(config, config.site.title.clone(), config.blog_url(), config.blog_url(), entries, fallback)
}

#[divan::bench(name = "feed_rss_20_entries")]
fn feed_rss(bencher: Bencher) {
    let feed = feed();
    let spec = spec(&feed);
    bencher.bench(|| feed::rss::to_string(black_box(&spec)).expect("rss"));
}

#[divan::bench(name = "feed_atom_20_entries")]
fn feed_atom(bencher: Bencher) {
    let feed = feed();
    let spec = spec(&feed);
    bencher.bench(|| feed::atom::to_string(black_box(&spec)).expect("atom"));
}

#[divan::bench(name = "feed_json_20_entries")]
fn feed_json(bencher: Bencher) {
    let feed = feed();
    let spec = spec(&feed);
    bencher.bench(|| feed::json::to_string(black_box(&spec)).expect("json"));
}

fn digest_of(root: &Path) -> (Digest, message::Sender) {
    let site = Site::open(root).expect("site");
    let month: Month = "2026-10".parse().expect("month");
    let digest = newsroom::digest::assemble::edition_digest(&site, &newsroom::digest::Edition::monthly(month), now())
        .expect("render")
        .digest
        .expect("posts");
    let sender = newsroom::email::sender(&site.config, b"bench".to_vec(), now().into());
    (digest, sender)
}

fn subscriber(n: usize) -> Subscriber {
    Subscriber {
        id: Some(n as i64 + 1),
        email: format!("sub{n:06}@example.org"),
        name: Some(format!("Subscriber {n:06}")),
        status: Status::Subscribed,
        extra: Vec::new(),
        line: n + 1,
    }
}

/// One subscriber's message from the once-rendered digest: slots filled,
/// headers set, MIME parts encoded, formatted to the bytes that are sent.
#[divan::bench(args = ["example_10kb", "generated_30kb"])]
fn personalise_message(bencher: Bencher, digest: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (digest, sender) = if digest == "example_10kb" {
        digest_of(Path::new(env!("CARGO_MANIFEST_DIR")))
    } else {
        let root = dir.path();
        let example = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(root.join("posts")).expect("posts");
        // The example site with 7 generated posts added to October 2026.
        for entry in std::fs::read_dir(example.join("posts")).expect("example posts") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, root.join("posts").join(path.file_name().expect("name"))).expect("copy");
            }
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..7 {
            let mut text = String::new();
            let slug = gen_posts::post(&mut rng, i, &mut text);
            let text: String = text.lines().filter(|l| !l.starts_with("authors:")).map(|l| format!("{l}\n")).collect();
            std::fs::write(root.join(format!("posts/2026-10-{:02}-{slug}.md", i + 3)), text).expect("post");
        }
        std::fs::copy(example.join("newsroom.yaml"), root.join("newsroom.yaml")).expect("config");
        digest_of(root)
    };
    let mut n = 0;
    bencher.bench_local(|| {
        n += 1;
        let outgoing = message::build(&digest, &sender, &subscriber(n).person()).expect("message");
        outgoing.bytes()
    });
}

/// The DKIM signature of one ~10 KB digest message (the example's), with
/// each kind of key: what `delivery.dkim` adds to a message's cost.
#[divan::bench(args = ["rsa2048", "ed25519"])]
fn dkim_sign_10kb(bencher: Bencher, key: &str) {
    let (digest, sender) = digest_of(Path::new(env!("CARGO_MANIFEST_DIR")));
    let bytes = message::build(&digest, &sender, &subscriber(1).person()).expect("message").bytes();
    let config = newsroom::config::DkimConfig {
        domain: "lantern.example.org".into(),
        selector: "news".into(),
        key: format!("{key}.pem").into(),
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim");
    let signer = newsroom::email::dkim::Signer::load(&fixtures, &config).expect("key");
    bencher.bench_local(|| signer.header(black_box(&bytes)).expect("signature"));
}

/// A store of 200,000 subscribers (merged from a list, as `send` does) and
/// a digest frozen for them all: each claim checks its subscriber's status.
fn ledger() -> (tempfile::TempDir, Store, Vec<i64>, Claimant) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("newsroom.sqlite")).expect("store");
    let mut csv = String::from("email,name\n");
    for n in 0..200_000 {
        csv.push_str(&format!("sub{n:06}@example.org,Subscriber {n}\n"));
    }
    store.merge(csv.as_bytes(), std::path::Path::new("subscribers.csv"), false, chrono::Utc::now()).expect("merge");
    let subscribed = store.subscribers(Some(Status::Subscribed)).expect("subscribers");
    store
        .freeze("digest-bench", subscribed.iter().map(|s| (Some(s.id), s.address.as_str(), s.name.as_deref())))
        .expect("freeze");
    let claimant = Claimant::new(std::time::Duration::from_secs(3600));
    let ids: Vec<i64> =
        store.claim("digest-bench", &claimant, usize::MAX >> 2).expect("rows").iter().map(|r| r.id).collect();
    (dir, store, ids, claimant)
}

const MESSAGE_ID: &str = "<digest-bench.0123456789abcdef@news.example.org>";
const REPLY: &str = "250 2.0.0 Ok: queued as 4Zx";

/// What `send` writes per message: the previous message's `sent` and this
/// one's `sending`, in one transaction (one commit).
#[divan::bench]
fn ledger_write(bencher: Bencher) {
    let (_dir, ledger, ids, claimant) = ledger();
    let mut next = 0;
    bencher.bench_local(|| {
        let id = ids[next % ids.len()];
        let previous = (next > 0).then(|| (ids[(next - 1) % ids.len()], State::Sent, REPLY));
        next += 1;
        ledger.mark_outcome_and_sending(previous, id, MESSAGE_ID, &claimant).expect("marks");
    });
}

/// The same two marks as two commits (how `send` wrote them before).
#[divan::bench]
fn ledger_write_two_commits(bencher: Bencher) {
    let (_dir, ledger, ids, claimant) = ledger();
    let mut next = 0;
    bencher.bench_local(|| {
        let id = ids[next % ids.len()];
        next += 1;
        ledger.mark_sending(id, MESSAGE_ID, &claimant).expect("sending");
        ledger.mark(id, State::Sent, REPLY).expect("sent");
    });
}
