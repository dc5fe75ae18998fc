//! Shared helpers: temporary sites, running the binary with a pinned clock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The instant every test runs at, so "future" and "previous month" never drift.
pub const NOW: &str = "2026-11-22T12:00:00Z";

/// The unsubscribe secret the tests sign and verify with: 32 bytes or
/// more, as newsroom requires of any key it is given.
pub const SECRET: &str = "newsroom-test-secret-0123456789abcdef";

/// Set (to anything but empty) where the corpus must be there: `.ci/run`
/// sets it, so CI can never skip the corpus tests silently.
pub const REQUIRE_CORPUS_VAR: &str = "NEWSROOM_REQUIRE_CORPUS";

/// `../shared/corpus`, the real blogs, when it is beside the repository.
/// Without it a test that needs it prints one line and is skipped (returns
/// early), so `cargo test` passes on a clone of this repository alone;
/// with [`REQUIRE_CORPUS_VAR`] set its absence fails the test instead.
pub fn corpus() -> Option<PathBuf> {
    let corpus = repo_root().join("../shared/corpus");
    if corpus.is_dir() {
        return Some(corpus);
    }
    let required = std::env::var_os(REQUIRE_CORPUS_VAR).is_some_and(|v| !v.is_empty());
    assert!(
        !required,
        "{} is missing and {REQUIRE_CORPUS_VAR} is set: the corpus tests must run here",
        corpus.display()
    );
    // Straight to the file descriptor: the test harness captures `eprintln!`
    // of a passing test, and this line must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {} not found (the corpus tests need ../shared beside the repository)",
        corpus.display()
    );
    None
}

/// The repository root, where the example site lives.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `newsroom` binary with the pinned clock, in `dir`.
pub fn newsroom(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("newsroom").expect("the binary is built");
    command.env("NEWSROOM_NOW", NOW).env_remove("NEWSROOM_SMTP_URL").arg("-C").arg(dir);
    // The site's own SQLite file, unless the test runs on PostgreSQL ([`site_store`]).
    match SITE_STORE_URL.with(|url| url.borrow().clone()) {
        Some(url) => command.env("NEWSROOM_STORE_URL", url),
        None => command.env_remove("NEWSROOM_STORE_URL"),
    };
    command
}

/// Runs newsroom and returns its output whatever the exit code.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    newsroom(dir).args(args).output().expect("newsroom runs")
}

/// Runs newsroom and also returns what the process used: its peak
/// resident memory in KiB and its CPU time (user and system), read with
/// `wait4` for that one child.
// The child is waited for with `wait4`, which clippy does not know.
#[allow(clippy::zombie_processes)]
pub fn run_measured(dir: &Path, args: &[&str]) -> (Output, u64, std::time::Duration) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("newsroom"))
        .env("NEWSROOM_NOW", NOW)
        .env_remove("NEWSROOM_SMTP_URL")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("newsroom runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        err.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let mut stdout = Vec::new();
    out.read_to_end(&mut stdout).unwrap();
    let stderr = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: a plain system call on our own child, with pointers to locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    let cpu = |time: libc::timeval| std::time::Duration::new(time.tv_sec as u64, time.tv_usec as u32 * 1000);
    let output = Output { status: std::process::ExitStatus::from_raw(status), stdout, stderr };
    (output, usage.ru_maxrss as u64, cpu(usage.ru_utime) + cpu(usage.ru_stime))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A throw-away site folder with a minimal configuration.
pub struct TempSite {
    pub dir: tempfile::TempDir,
}

impl TempSite {
    pub fn new() -> TempSite {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("posts")).unwrap();
        std::fs::write(
            dir.path().join("newsroom.yaml"),
            "site:\n  title: Test Blog\n  url: https://test.example.org\n  author: { name: Test Team }\n",
        )
        .unwrap();
        TempSite { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` to `posts/<name>`, creating folders.
    pub fn post(&self, name: &str, bytes: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join("posts").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }
}

/// Reads a feed back with feed-rs, an independent parser.
pub fn parse_feed(path: &Path) -> feed_rs::model::Feed {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    feed_rs::parser::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("feed-rs cannot read {}: {e}", path.display()))
}

/// Builds a copy of the example site; its output is in `public/`.
pub fn build_example_site() -> tempfile::TempDir {
    let site = copy_example_site();
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "build failed: {}", stderr(&output));
    site
}

/// Replaces each `from` in the site's `newsroom.yaml` with its `to`; each must be there.
pub fn edit_config(site: &Path, replacements: &[(&str, &str)]) {
    let path = site.join("newsroom.yaml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replacements {
        assert!(config.contains(from), "newsroom.yaml has no `{from}`");
        config = config.replace(from, to);
    }
    std::fs::write(path, config).unwrap();
}

/// Reads an HTML page with scraper (html5ever), as a browser parses it.
pub fn parse_html(path: &Path) -> scraper::Html {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    scraper::Html::parse_document(&text)
}

/// The file in `public` that `url` is published from, when `public` is
/// published at `blog_url`: the path after `blog_url`, percent-decoded, and
/// `index.html` for a folder. Panics if `url` is not under `blog_url`.
pub fn output_file(public: &Path, blog_url: &str, url: &str) -> PathBuf {
    let relative = url.strip_prefix(blog_url).unwrap_or_else(|| panic!("{url} is not under {blog_url}"));
    let relative = percent_encoding::percent_decode_str(relative).decode_utf8().unwrap();
    if relative.is_empty() || relative.ends_with('/') {
        public.join(format!("{relative}index.html"))
    } else {
        public.join(relative.as_ref())
    }
}

/// Copies the example site (config and posts) into a fresh temp folder.
pub fn copy_example_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for entry in walkdir::WalkDir::new(root.join("posts")) {
        let entry = entry.unwrap();
        let target = dir.path().join(entry.path().strip_prefix(&root).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    for file in ["newsroom.yaml", "subscribers.example.csv"] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    if root.join("templates").is_dir() {
        for entry in std::fs::read_dir(root.join("templates")).unwrap() {
            let entry = entry.unwrap();
            std::fs::create_dir_all(dir.path().join("templates")).unwrap();
            std::fs::copy(entry.path(), dir.path().join("templates").join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// Cases per property: `default`, or `PROPTEST_CASES` for a deeper run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// The store backends a store test runs on: SQLite always, PostgreSQL
/// when `NEWSROOM_TEST_POSTGRES` names a server (`scripts/pg-cluster.sh
/// start DIR` prints one); without it, a line saying so, and a failure
/// under `NEWSROOM_REQUIRE_POSTGRES=1` (CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

use newsroom::store::testing::TestPlace;
pub use newsroom::store::testing::postgres_server;

/// A store of its own for one test ([`TestPlace`]: a SQLite file in a
/// temporary folder, or a schema of its own on the test server, dropped
/// afterwards), open unless made with [`TestStore::unopened`].
pub struct TestStore {
    // Before `place`: fields drop in order, the connection before the schema.
    store: Option<newsroom::store::Store>,
    place: TestPlace,
}

impl TestStore {
    pub fn new(backend: Backend) -> TestStore {
        let mut test = TestStore::unopened(backend);
        test.store = Some(test.open());
        test
    }

    /// A place for a store, with no store in it yet (no tables).
    pub fn unopened(backend: Backend) -> TestStore {
        let place = match backend {
            Backend::Sqlite => TestPlace::sqlite(),
            Backend::Postgres => TestPlace::postgres("a store test").expect("a PostgreSQL test server"),
        };
        TestStore { store: None, place }
    }

    /// What `store:` or `NEWSROOM_STORE_URL` would say for this store.
    pub fn location(&self) -> String {
        self.place.url()
    }

    /// Another connection to the same store.
    pub fn open(&self) -> newsroom::store::Store {
        self.place.open()
    }
}

impl std::ops::Deref for TestStore {
    type Target = newsroom::store::Store;
    fn deref(&self) -> &newsroom::store::Store {
        self.store.as_ref().expect("open")
    }
}

impl std::ops::DerefMut for TestStore {
    fn deref_mut(&mut self) -> &mut newsroom::store::Store {
        self.store.as_mut().expect("open")
    }
}

thread_local! {
    static BACKEND: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Sqlite) };
    /// The store the commands a test runs are given, when not the site's file.
    static SITE_STORE_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The store of a site under test: on SQLite the site's own file
/// (`.newsroom/newsroom.sqlite`), on PostgreSQL a schema of the test's own
/// that every command the test runs is given (`NEWSROOM_STORE_URL`).
pub struct SiteStore {
    postgres: Option<TestStore>,
}

impl SiteStore {
    pub fn backend(&self) -> Backend {
        if self.postgres.is_some() { Backend::Postgres } else { Backend::Sqlite }
    }

    /// The store as `store copy` or `NEWSROOM_STORE_URL` names it.
    pub fn location(&self, site: &Path) -> String {
        match &self.postgres {
            Some(store) => store.location(),
            None => site.join(".newsroom/newsroom.sqlite").display().to_string(),
        }
    }

    /// The store, opened as the commands open it.
    pub fn open(&self, site: &Path) -> newsroom::store::Store {
        match &self.postgres {
            Some(store) => store.open(),
            None => newsroom::store::Store::open(&site.join(".newsroom/newsroom.sqlite")).unwrap(),
        }
    }
}

impl Drop for SiteStore {
    fn drop(&mut self) {
        SITE_STORE_URL.with(|url| url.borrow_mut().take());
    }
}

/// The `NEWSROOM_STORE_URL` a command this test starts must be given, if any.
pub fn site_store_url() -> Option<String> {
    SITE_STORE_URL.with(|url| url.borrow().clone())
}

/// The site store for the backend the running test is for ([`both_backends!`]).
pub fn site_store() -> SiteStore {
    let postgres = match BACKEND.with(std::cell::Cell::get) {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestStore::unopened(Backend::Postgres)),
    };
    SITE_STORE_URL.with(|url| *url.borrow_mut() = postgres.as_ref().map(TestStore::location));
    SiteStore { postgres }
}

/// A fresh store on the backend the running test is for ([`both_backends!`]).
pub fn fresh_store() -> TestStore {
    TestStore::new(BACKEND.with(std::cell::Cell::get))
}

/// A fresh store on every backend there is here: for a test that runs the
/// same changes on both and checks each (the property test).
pub fn fresh_stores(test: &str) -> Vec<TestStore> {
    let mut stores = vec![TestStore::new(Backend::Sqlite)];
    if std::env::var("NEWSROOM_TEST_POSTGRES").is_ok_and(|url| !url.is_empty()) {
        stores.push(TestStore::new(Backend::Postgres));
    } else {
        postgres_server(test);
    }
    stores
}

/// Runs `body` with [`fresh_store`] giving stores of `backend`.
pub fn on_backend(backend: Backend, body: fn()) {
    BACKEND.with(|current| current.set(backend));
    body();
}

/// Each `fn name() { … }` becomes `name::sqlite` and `name::postgres`:
/// one body, whose [`fresh_store`] calls give a store of each backend.
macro_rules! both_backends {
    ($($(#[doc = $doc:literal])* fn $name:ident() $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body() $body

                #[test]
                fn sqlite() {
                    $crate::support::on_backend($crate::support::Backend::Sqlite, body);
                }

                #[test]
                fn postgres() {
                    if $crate::support::postgres_server(concat!(module_path!(), "::", stringify!($name))).is_some() {
                        $crate::support::on_backend($crate::support::Backend::Postgres, body);
                    }
                }
            }
        )*
    };
}
pub(crate) use both_backends;

/// Every file under `dir`, by its path relative to it, with its bytes.
pub fn file_tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect()
}
