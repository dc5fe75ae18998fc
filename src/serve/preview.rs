//! The writer's preview (`newsroom serve --preview`): the built site
//! (`public/`, with an index of its files, since `build` writes feeds and
//! no home page) and the digest previews (`preview/YYYY-MM/`): a month's
//! manifest (who gets a message, who was skipped and why), each message
//! shown as its headers, its HTML and its text part. With `--watch` the
//! command rebuilds when a post, a template or the configuration changes
//! and bumps [`PreviewOptions::generation`]; an open preview page reloads
//! itself (a long poll from `/_newsroom/live.js`, the one script the
//! service serves, allowed on these pages only).
//!
//! Nothing outside those two folders is reachable: paths are taken apart
//! into a month (`YYYY-MM`) and a file name of safe characters, and the
//! result must still be under the folder once resolved. A preview names
//! every subscriber, so the command offers it on a loopback address only.

use std::convert::Infallible;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use super::App;

/// The folders the preview shows, and the build generation.
pub struct PreviewOptions {
    /// The built site (`public/`).
    pub public_dir: PathBuf,
    /// The digest previews (`preview/`).
    pub preview_dir: PathBuf,
    /// Bumped after every rebuild (`--watch`); pages waiting on it reload.
    pub generation: watch::Receiver<u64>,
}

/// The HTML of a message or digest page, shown in a frame: its own styles
/// (inline, as mail clients need), images from anywhere, no script, no
/// form, no navigation (`sandbox`).
const MESSAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; sandbox; frame-ancestors 'self'";
/// The built site: its own files, inline styles (feed pages, XSLT), no script.
const SITE_CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; script-src 'none'; frame-ancestors 'none'";
/// The preview's own pages: the service's policy plus its one script.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Waits for the next rebuild, then reloads (the long poll answers after a
/// rebuild, or after 25 s with the same generation).
const LIVE_JS: &str = r#"(function () {
  var script = document.currentScript;
  var generation = script.getAttribute("data-generation");
  var root = script.getAttribute("data-root");
  function poll() {
    fetch(root + "_newsroom/changes?since=" + generation).then(function (r) { return r.text(); }).then(function (now) {
      if (now.trim() !== generation) { location.reload(); } else { poll(); }
    }).catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
"#;

/// Files the index of `public/` lists at most.
const PUBLIC_LISTED: usize = 2000;
/// Rows of each of a month's tables (messages, skipped) shown at most.
const MANIFEST_SHOWN: usize = 500;

/// The preview's routes, merged into the service's router when enabled.
pub fn routes(app: &Arc<App>, public_dir: &FsPath) -> Router<Arc<App>> {
    // What ServeDir does not find: `/public/` itself (no index.html) is
    // the index of the folder; anything else, not found.
    let public_fallback = {
        let app = app.clone();
        tower::service_fn(move |request: Request| {
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(match request.uri().path() {
                    "/" | "" => public_index(&app),
                    _ => not_found(),
                })
            }
        })
    };
    Router::new()
        .route("/", get(index))
        .route("/preview/", get(index))
        .route("/preview/{month}/", get(month))
        .route("/preview/{month}/digest", get(digest))
        .route("/preview/{month}/messages/{file}", get(message))
        .route("/preview/{month}/messages/{file}/html", get(message_html))
        .route("/_newsroom/live.js", get(live_js))
        .route("/_newsroom/changes", get(changes))
        .nest_service(
            "/public",
            tower::ServiceBuilder::new()
                // The index sets the preview pages' own policy.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(SITE_CSP),
                ))
                .service(ServeDir::new(public_dir).append_index_html_on_directories(true).fallback(public_fallback)),
        )
}

fn options(app: &App) -> &PreviewOptions {
    app.options.preview.as_ref().expect("the preview routes exist only with the preview on")
}

/// `YYYY-MM`, or nothing.
fn checked_month(month: &str) -> Option<&str> {
    let bytes = month.as_bytes();
    let shape =
        bytes.len() == 7 && bytes[4] == b'-' && bytes.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit());
    shape.then_some(month)
}

/// A file name of the preview's own making (`00001-ada@example.org.eml`),
/// or nothing: no separator, no leading dot.
fn checked_file(file: &str) -> Option<&str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@._+-".contains(c);
    (file.ends_with(".eml") && !file.starts_with('.') && file.chars().all(safe)).then_some(file)
}

/// `path` if it resolves to a file under `root`.
fn inside(root: &FsPath, path: PathBuf) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    (path.starts_with(&root) && path.is_file()).then_some(path)
}

fn not_found() -> Response {
    super::html(StatusCode::NOT_FOUND, super::pages::failure("Not found", "There is no preview at this address."))
}

/// A preview page: its own CSP (the one script), and the live-reload script.
fn page(app: &App, title: &str, root: &str, body: Markup) -> Response {
    let generation = *options(app).generation.borrow();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href={ (root) "newsroom.css" };
            }
            body.preview {
                main.wide { (body) }
                script src={ (root) "_newsroom/live.js" } data-generation=(generation) data-root=(root) {}
            }
        }
    };
    let mut response = super::html(StatusCode::OK, markup);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    response
}

/// The months previewed, newest first, and the built site.
async fn index(State(app): State<Arc<App>>) -> Response {
    let dir = &options(&app).preview_dir;
    let mut months: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| checked_month(name).is_some())
                .collect()
        })
        .unwrap_or_default();
    months.sort_by(|a, b| b.cmp(a));
    let root = "/";
    page(
        &app,
        "Preview",
        root,
        html! {
            h1 { "Preview of " (app.options.list_name) }
            p { a href="/public/" { "The built site (public/)" } ": the feeds, the feeds page, the digest archive" }
            h2 { "Digests" }
            @if months.is_empty() {
                p { "No preview yet: run " code { "newsroom digest preview" } "." }
            }
            ul { @for month in &months { li { a href={ "/preview/" (month) "/" } { (month) } } } }
        },
    )
}

/// A month: the digest as the first reader sees it, and its manifest:
/// every message, and every subscriber or row that gets none, with why.
async fn month(State(app): State<Arc<App>>, Path(month): Path<String>) -> Response {
    let Some(month) = checked_month(&month) else { return not_found() };
    let dir = options(&app).preview_dir.join(month);
    let Ok(entries) = std::fs::read_dir(dir.join("messages")) else { return not_found() };
    let mut files: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| checked_file(name).is_some())
        .collect();
    files.sort();
    let manifest = Manifest::read(&dir.join("manifest.csv"));
    page(
        &app,
        &format!("Preview {month}"),
        "../../",
        html! {
            h1 { "Digest " (month) }
            p { a href="digest" { "The digest's web page" } " · " (files.len()) " message(s)" }
            @match &manifest {
                Some(manifest) => (manifest_tables(manifest, &files)),
                None => {
                    p.note { "No manifest.csv: run " code { "newsroom digest preview" } " again to see who is skipped." }
                    ul { @for file in files.iter().take(MANIFEST_SHOWN) { li { a href={ "messages/" (file) } { (file) } } } }
                }
            }
        },
    )
}

/// One row of a preview's `manifest.csv`.
#[derive(Debug, serde::Deserialize)]
struct ManifestRow {
    address: String,
    status: String,
    bytes: String,
    reason: String,
    line: String,
}

/// A month's `manifest.csv`, as `digest preview` wrote it: the messages
/// in the order of their files, then the rows that get none.
struct Manifest {
    ready: Vec<ManifestRow>,
    skipped: Vec<ManifestRow>,
}

impl Manifest {
    fn read(path: &FsPath) -> Option<Manifest> {
        let mut reader = csv::Reader::from_path(path).ok()?;
        let mut manifest = Manifest { ready: Vec::new(), skipped: Vec::new() };
        for row in reader.deserialize::<ManifestRow>() {
            let row = row.ok()?;
            match row.status.as_str() {
                "ready" => manifest.ready.push(row),
                _ => manifest.skipped.push(row),
            }
        }
        Some(manifest)
    }
}

/// The manifest as two tables: who gets a message (each linked to it) and
/// who was skipped and why.
fn manifest_tables(manifest: &Manifest, files: &[String]) -> Markup {
    let on_disk: std::collections::HashSet<&str> = files.iter().map(String::as_str).collect();
    // `digest preview` names the n-th message's file after its row.
    let messages: Vec<(&ManifestRow, Option<String>)> = manifest
        .ready
        .iter()
        .take(MANIFEST_SHOWN)
        .enumerate()
        .map(|(index, row)| {
            let file = crate::digest::preview::safe_file_name(index + 1, &row.address);
            (row, on_disk.contains(file.as_str()).then_some(file))
        })
        .collect();
    let line = |row: &ManifestRow| if row.line.is_empty() { "store".to_string() } else { row.line.clone() };
    html! {
        h2 { "Messages (" (manifest.ready.len()) ")" }
        @if manifest.ready.len() > MANIFEST_SHOWN { p.note { "The first " (MANIFEST_SHOWN) " are listed." } }
        @if messages.is_empty() {
            p { "Nobody gets this digest." }
        } @else {
            table.manifest.messages {
                tr { th { "To" } th { "Size" } th { "Line" } }
                @for (row, file) in &messages {
                    tr {
                        td { @match file { Some(file) => a href={ "messages/" (file) } { (row.address) }, None => (row.address) } }
                        td { (row.bytes) " bytes" }
                        td { (line(row)) }
                    }
                }
            }
        }
        h2 { "Skipped (" (manifest.skipped.len()) ")" }
        @if manifest.skipped.is_empty() {
            p { "Nobody: every subscriber and every row of the subscriber file gets the digest." }
        } @else {
            @if manifest.skipped.len() > MANIFEST_SHOWN { p.note { "The first " (MANIFEST_SHOWN) " are listed." } }
            table.manifest.skipped {
                tr { th { "Address" } th { "Why" } th { "Line" } }
                @for row in manifest.skipped.iter().take(MANIFEST_SHOWN) {
                    tr {
                        td { @if row.address.is_empty() { "(not shown)" } @else { (row.address) } }
                        td { (row.reason) }
                        td { (line(row)) }
                    }
                }
            }
        }
    }
}

/// `/public/`: every file `build` wrote (it writes no home page), each
/// linked; ServeDir serves them.
fn public_index(app: &App) -> Response {
    let public_dir = &options(app).public_dir;
    let mut files: Vec<(String, u64)> = walkdir::WalkDir::new(public_dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(public_dir).ok()?.to_str()?.replace('\\', "/");
            Some((relative, entry.metadata().ok()?.len()))
        })
        .take(PUBLIC_LISTED + 1)
        .collect();
    let more = files.len() > PUBLIC_LISTED;
    files.truncate(PUBLIC_LISTED);
    let has = |path: &str| files.iter().any(|(file, _)| file == path);
    page(
        app,
        "The built site (public/)",
        // `/public` and `/public/` both end here: absolute links.
        "/",
        html! {
            h1 { "The built site (public/)" }
            p {
                "What " code { "newsroom build" } " wrote, to be published at "
                a href=(app.options.blog_url) { (app.options.blog_url) } "."
                @if has("feeds/index.html") { " Start with " a href="/public/feeds/" { "the feeds page" } "." }
            }
            @if files.is_empty() {
                p { "Nothing yet: run " code { "newsroom build" } "." }
            }
            @if more { p.note { "The first " (PUBLIC_LISTED) " files are listed." } }
            ul.files { @for (file, bytes) in &files { li { a href={ "/public/" (path_url(file)) } { (file) } " " span.note { (bytes) " bytes" } } } }
        },
    )
}

/// A relative path as a relative URL: each segment percent-encoded.
fn path_url(path: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    path.split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The month's `index.html`, framed by nothing: its own policy.
async fn digest(State(app): State<Arc<App>>, Path(month): Path<String>) -> Response {
    let Some(month) = checked_month(&month) else { return not_found() };
    let root = options(&app).preview_dir.clone();
    match inside(&root, root.join(month).join("index.html")).and_then(|path| std::fs::read(path).ok()) {
        Some(bytes) => framed_html(bytes),
        None => not_found(),
    }
}

fn framed_html(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, MESSAGE_CSP),
            (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
        ],
        bytes,
    )
        .into_response()
}

fn read_message(app: &App, month: &str, file: &str) -> Option<Vec<u8>> {
    let (month, file) = (checked_month(month)?, checked_file(file)?);
    let root = &options(app).preview_dir;
    std::fs::read(inside(root, root.join(month).join("messages").join(file))?).ok()
}

/// One message: the headers a reader's client shows and the ones that
/// matter for delivery, the HTML part in a sandboxed frame, the text part.
async fn message(State(app): State<Arc<App>>, Path((month, file)): Path<(String, String)>) -> Response {
    let Some(bytes) = read_message(&app, &month, &file) else { return not_found() };
    let Some(parsed) = mail_parser::MessageParser::default().parse(&bytes) else { return not_found() };
    let headers = [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ];
    let text = parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    page(
        &app,
        &file,
        "../../../",
        html! {
            h1 { (parsed.subject().unwrap_or("(no subject)")) }
            table.headers {
                @for name in headers {
                    @if let Some(value) = parsed.header_raw(name) {
                        tr { th { (name) } td { (value.trim()) } }
                    }
                }
                tr { th { "Size" } td { (bytes.len()) " bytes" } }
            }
            h2 { "HTML part" }
            iframe.message src={ (file) "/html" } title="The HTML part" {}
            h2 { "Text part" }
            pre.text { (text) }
        },
    )
}

async fn message_html(State(app): State<Arc<App>>, Path((month, file)): Path<(String, String)>) -> Response {
    let Some(bytes) = read_message(&app, &month, &file) else { return not_found() };
    match mail_parser::MessageParser::default().parse(&bytes).and_then(|m| m.body_html(0).map(|h| h.into_owned())) {
        Some(html) => framed_html(html.into_bytes()),
        None => not_found(),
    }
}

async fn live_js() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], LIVE_JS).into_response()
}

#[derive(serde::Deserialize)]
struct Since {
    since: u64,
}

/// The long poll: answers with the generation once it is past `since`,
/// or after 25 s with the same one.
async fn changes(State(app): State<Arc<App>>, Query(Since { since }): Query<Since>) -> Response {
    let mut generation = options(&app).generation.clone();
    let wait = async {
        while *generation.borrow_and_update() <= since {
            if generation.changed().await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(25), wait).await;
    let now = *options(&app).generation.borrow();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], now.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_months_and_message_names_of_the_previews_making_pass() {
        assert_eq!(checked_month("2026-10"), Some("2026-10"));
        for bad in ["2026-1", "../etc", "2026_10", "2026-10/..", "abcd-ef"] {
            assert_eq!(checked_month(bad), None, "{bad}");
        }
        assert!(checked_file("00001-ada@example.org.eml").is_some());
        for bad in ["../00001.eml", ".hidden.eml", "a/b.eml", "00001-ada@example.org", "a\\b.eml", "%2e%2e.eml"] {
            assert_eq!(checked_file(bad), None, "{bad}");
        }
    }
}
