//! What a reader sees (issue 26, point 10, and serve's line of point 11):
//! the pages of `newsroom serve` and the confirmation message, over real
//! HTTP and SMTP, read back with scraper (HTML), mail-parser (the message)
//! and csv (the preview's manifest), never with newsroom's own code.

use std::collections::BTreeSet;
use std::path::Path;

use newsroom::store::SubscriberStatus;
use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};

use crate::serve::{
    FORM, LIST_ID, PUBLIC_URL, Server, client, open_store, runtime, site_with, status_and_events, token, wait_for_mail,
};
use crate::smtp_server::{Received, SmtpServer};
use crate::support::*;

const BLOG_URL: &str = "https://lantern.example.org/blog/";

fn select<'a>(page: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    page.select(&Selector::parse(selector).unwrap()).collect()
}

fn text_of(element: &ElementRef) -> String {
    element.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page's `h1`, its whole text, and whether it has a form or a button.
fn read_page(body: &str) -> (String, String, bool) {
    let page = Html::parse_document(body);
    let h1 = select(&page, "h1").first().map(text_of).unwrap_or_default();
    let text = text_of(&page.root_element());
    (h1, text, !select(&page, "form, button").is_empty())
}

/// The confirmation link of a mailed confirmation (its text part), as
/// the test's server is reached.
fn confirmation_link(mail: &Received, server: &Server) -> String {
    let message = mail_parser::MessageParser::default().parse(&mail.data).unwrap();
    let text = message.body_text(0).unwrap().to_string();
    let link = text.split_whitespace().find(|w| w.contains("/confirm/")).unwrap().trim_matches(['<', '>']);
    link.replace(PUBLIC_URL, &server.base)
}

/// A sign-up as a client at `ip` makes it (behind the proxy: the server
/// sees loopback and `X-Forwarded-For`): the status and the page.
async fn sign_up(server: &Server, ip: &str, address: &str) -> (StatusCode, String) {
    let body = format!("email={}", address.replace('@', "%40"));
    let response = client()
        .post(server.url("/subscribe"))
        .header("content-type", FORM)
        .header("x-forwarded-for", ip)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The inline style of the first link in `html` matching `wanted`.
fn link_style(html: &str, wanted: impl Fn(&ElementRef) -> bool) -> Option<String> {
    let page = Html::parse_document(html);
    select(&page, "a").into_iter().find(|a| wanted(a)).map(|a| a.value().attr("style").unwrap_or("").to_string())
}

/// The confirmation message's link to confirm is a button like the
/// digest's "Read more", standing alone (before: a text link).
#[test]
fn the_confirmation_message_asks_with_a_button_like_the_digests() {
    let (site, _) = site_with(&["old@example.org"]);
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    runtime().block_on(async {
        assert_eq!(sign_up(&server, "203.0.113.1", "pat@example.org").await.0, StatusCode::OK);
        let mail = wait_for_mail(&smtp, 1);
        let message = mail_parser::MessageParser::default().parse(&mail[0].data).unwrap();
        let html = message.body_html(0).unwrap().to_string();
        let url = confirmation_link(&mail[0], &server).replace(&server.base, PUBLIC_URL);
        let page = Html::parse_document(&html);
        let links = select(&page, "a");
        let to_confirm: Vec<&ElementRef> = links.iter().filter(|a| a.value().attr("href") == Some(&url)).collect();
        assert_eq!(to_confirm.len(), 1, "one link to confirm: {html}");
        assert_eq!(text_of(to_confirm[0]), "Confirm my subscription");
        let paragraph = to_confirm[0].parent().and_then(ElementRef::wrap).unwrap();
        assert_eq!(text_of(&paragraph), "Confirm my subscription", "the button stands alone, not in a sentence");
        let button = to_confirm[0].value().attr("style").unwrap_or("").to_string();
        assert!(button.contains("display: inline-block") && button.contains("background-color"), "{button}");
        let output = run(site.path(), &["digest", "preview", "--month", "2026-10"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let eml = std::fs::read_dir(site.path().join("preview/2026-10/messages")).unwrap().next().unwrap().unwrap();
        let bytes = std::fs::read(eml.path()).unwrap();
        let digest = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let read_more = link_style(&digest.body_html(0).unwrap(), |a| text_of(a) == "Read more");
        assert_eq!(read_more.as_deref(), Some(button.as_str()), "the same button as the digest's");
        // The text part keeps the link whole.
        assert!(message.body_text(0).unwrap().contains(&url));
    });
}

/// A used confirmation link shows no button and says "You're already
/// subscribed" (before: a "Confirm" button, then "This link has
/// expired"). Only the holder of the signed link sees it.
#[test]
fn a_used_confirmation_link_says_youre_already_subscribed() {
    let (site, _) = site_with(&["old@example.org"]);
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().timestamp();
    runtime().block_on(async {
        let client = client();
        assert_eq!(sign_up(&server, "203.0.113.1", "pat@example.org").await.0, StatusCode::OK);
        let mail = wait_for_mail(&smtp, 1);

        // Confirmed; then the same link again, opened and pressed.
        let link = confirmation_link(&mail[0], &server);
        let (h1, _, _) = read_page(&client.post(&link).send().await.unwrap().text().await.unwrap());
        assert_eq!(h1, "You are subscribed");
        for request in [client.get(&link), client.post(&link)] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let (h1, text, form) = read_page(&response.text().await.unwrap());
            assert_eq!(h1, "You're already subscribed", "{text}");
            assert!(text.contains("p•••@example.org") && !text.contains("pat@"), "{text}");
            assert!(!form, "nothing to press: {text}");
        }
        // A link of the same reader older than 7 days: subscribed is still what they need to know.
        let id = open_store(site.path()).subscriber("pat@example.org").unwrap().unwrap().id;
        let old = newsroom::token::sign_confirmation(SECRET.as_bytes(), LIST_ID, id, now - 8 * 24 * 3600);
        let response = client.get(server.url(&format!("/confirm/{old}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(read_page(&response.text().await.unwrap()).0, "You're already subscribed");

        // Unsubscribed since: a link issued before that opens on "expired", not on a button.
        let one_click = client
            .post(server.url(&format!("/unsubscribe/{}", token(id))))
            .header("content-type", FORM)
            .body("List-Unsubscribe=One-Click");
        assert_eq!(one_click.send().await.unwrap().status(), StatusCode::OK);
        let before = newsroom::token::sign_confirmation(SECRET.as_bytes(), LIST_ID, id, now - 3600);
        let response = client.get(server.url(&format!("/confirm/{before}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::GONE);
        let (h1, _, form) = read_page(&response.text().await.unwrap());
        assert_eq!((h1.as_str(), form), ("This link has expired", false));
        assert_eq!(status_and_events(site.path(), "pat@example.org").0, SubscriberStatus::Unsubscribed);

        // A pending reader's link older than 7 days: expired, nothing to press.
        assert_eq!(sign_up(&server, "203.0.113.2", "quinn@example.org").await.0, StatusCode::OK);
        // The answer comes before the store's work on the address (docs/security.md): the
        // confirmation mailed is the sign of it recorded.
        wait_for_mail(&smtp, 2);
        let quinn = open_store(site.path()).subscriber("quinn@example.org").unwrap().unwrap().id;
        let old = newsroom::token::sign_confirmation(SECRET.as_bytes(), LIST_ID, quinn, now - 8 * 24 * 3600);
        for request in
            [client.get(server.url(&format!("/confirm/{old}"))), client.post(server.url(&format!("/confirm/{old}")))]
        {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::GONE);
            let (h1, _, form) = read_page(&response.text().await.unwrap());
            assert_eq!((h1.as_str(), form), ("This link has expired", false));
        }
        assert_eq!(status_and_events(site.path(), "quinn@example.org").0, SubscriberStatus::Pending);
    });
}

/// Signing up again within the hour says a confirmation was sent recently
/// (before: "check your inbox", and nothing was sent). What it depends on
/// is what the same client asked, never what the list holds: a new, a
/// subscribed and an unsubscribed address get the same two pages in the
/// same order, and another client asking for an address gets the first
/// page whoever signed it up before.
#[test]
fn signing_up_again_says_a_confirmation_was_sent_recently_and_tells_nobody_who_is_on_the_list() {
    let (site, _) = site_with(&["known@example.org", "gone@example.org"]);
    let output = run(site.path(), &["unsubscribe", "gone@example.org"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    let addresses = ["new@example.org", "known@example.org", "gone@example.org"];
    let answers = runtime().block_on(async {
        let mut answers = Vec::new();
        for (n, address) in addresses.iter().enumerate() {
            let ip = format!("203.0.113.{}", n + 1);
            let first = sign_up(&server, &ip, address).await;
            let second = sign_up(&server, &ip, address).await;
            answers.push((first, second));
        }
        // Other clients, each asking once: the first page, for an address
        // just signed up by someone else as for the others.
        for (n, address) in addresses.iter().enumerate() {
            let ip = format!("198.51.100.{}", n + 1);
            assert_eq!(sign_up(&server, &ip, address).await, answers[0].0, "{address} from another client");
        }
        answers
    });
    let (first, second) = &answers[0];
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(second.0, StatusCode::OK);
    let (h1, text, _) = read_page(&first.1);
    assert_eq!(h1, "Check your inbox", "{text}");
    let (h1, text, _) = read_page(&second.1);
    assert_eq!(h1, "A confirmation was sent recently", "{text}");
    assert!(text.contains("less than an hour ago") && text.contains("no second one is sent within the hour"), "{text}");
    for (address, answer) in addresses.iter().zip(&answers) {
        assert_eq!(answer, &answers[0], "{address}: the same pages as a new address");
    }
    // What was mailed: one confirmation to each address not subscribed, whatever the pages said.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let recipients: BTreeSet<String> = wait_for_mail(&smtp, 2).into_iter().map(|m| m.recipient).collect();
    assert_eq!(recipients, BTreeSet::from(["gone@example.org".to_string(), "new@example.org".to_string()]));
    assert_eq!(smtp.count(), 2);
}

/// The sign-up page links back to the blog and says what the address is
/// used for (before: neither).
#[test]
fn the_sign_up_page_links_to_the_blog_and_says_what_the_address_is_for() {
    let (site, _) = site_with(&["ida@example.org"]);
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    let body = runtime().block_on(async {
        let response = client().get(server.url("/subscribe")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    });
    let page = Html::parse_document(&body);
    let to_blog: Vec<String> = select(&page, &format!("a[href='{BLOG_URL}']")).iter().map(text_of).collect();
    assert!(to_blog.contains(&"Lantern Community Blog".to_string()), "the masthead: {to_blog:?}");
    assert!(to_blog.contains(&"Back to the blog".to_string()), "{to_blog:?}");
    let said = text_of(&page.root_element());
    assert!(
        said.contains(
            "Your address is used for this digest only: to send it to you, and first one message to confirm."
        ),
        "{said}"
    );
    assert!(said.contains("link to unsubscribe with one click"), "{said}");
    // Still no script, and a stylesheet for light and dark.
    assert!(select(&page, "script, [style]").is_empty());
    let css = runtime()
        .block_on(async { client().get(server.url("/newsroom.css")).send().await.unwrap().text().await.unwrap() });
    assert!(css.contains("color-scheme:light dark") && css.contains("@media (prefers-color-scheme:dark)"), "{css}");
}

/// `serve` without the secret says what serve does with it (before: "a
/// send without it would mail links that do not work").
#[test]
fn serve_without_the_secret_says_what_serve_needs_it_for() {
    let site = copy_example_site();
    let output = newsroom(site.path())
        .env_remove("NEWSROOM_UNSUBSCRIBE_SECRET")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("NEWSROOM_UNSUBSCRIBE_SECRET is not set")
            && said.contains(
                "serve checks every unsubscribe and confirmation link readers open against it, and signs the confirmation links it mails, so it does not start without it"
            ),
        "{said}"
    );
    assert!(!said.contains("a send without it"), "{said}");
}

/// The site and the month's preview, built, and `serve --preview` on them.
fn preview_site() -> (tempfile::TempDir, Server) {
    let site = copy_example_site();
    for args in [&["build"][..], &["digest", "preview", "--month", "2026-10"]] {
        let output = run(site.path(), args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let server = Server::start_args(site.path(), &[], &["--preview"]);
    (site, server)
}

async fn get(server: &Server, path: &str) -> (StatusCode, String) {
    let response = client().get(server.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Every file under `dir`, relative, with `/` between folders.
/// The files a reader may be given: the hidden ones (`build`'s manifest of
/// the files it copied) are newsroom's own.
fn files_under(dir: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_str().unwrap().replace('\\', "/"))
        .filter(|path| !path.split('/').any(|segment| segment.starts_with('.')))
        .collect()
}

/// `serve --preview`'s home links `/public/`, which is an index of the
/// built site's files, each of which opens (before: a 404).
#[test]
fn the_preview_serves_an_index_of_the_built_site() {
    let (site, server) = preview_site();
    runtime().block_on(async {
        let (_, home) = get(&server, "/").await;
        assert_eq!(select(&Html::parse_document(&home), "a[href='/public/']").len(), 1, "{home}");
        for path in ["/public/", "/public"] {
            let (status, body) = get(&server, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let page = Html::parse_document(&body);
            assert_eq!(select(&page, "h1").first().map(text_of).as_deref(), Some("The built site (public/)"));
            let listed: BTreeSet<String> = select(&page, "ul.files a")
                .iter()
                .map(|a| a.value().attr("href").unwrap().strip_prefix("/public/").unwrap().to_string())
                .collect();
            assert_eq!(listed, files_under(&site.path().join("public")), "every file, once");
            assert_eq!(select(&page, "a[href='/public/feeds/']").len(), 1, "the feeds page first");
        }
        for path in ["/public/feeds/", "/public/feed.xml", "/public/digest/2026-10/"] {
            assert_eq!(get(&server, path).await.0, StatusCode::OK, "{path}");
        }
        assert_eq!(get(&server, "/public/nothing-here/").await.0, StatusCode::NOT_FOUND);
    });
}

/// The preview's month page shows the manifest: every message, and who
/// was skipped and why (before: file names only).
#[test]
fn the_preview_month_page_shows_who_was_skipped_and_why() {
    let (site, server) = preview_site();
    let (status, body) = runtime().block_on(get(&server, "/preview/2026-10/"));
    assert_eq!(status, StatusCode::OK);
    let page = Html::parse_document(&body);

    let mut manifest = csv::Reader::from_path(site.path().join("preview/2026-10/manifest.csv")).unwrap();
    let headers = manifest.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = manifest.records().map(Result::unwrap).collect();
    let field = |row: &csv::StringRecord, name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    let skipped: Vec<(String, String)> = rows
        .iter()
        .filter(|r| field(r, "status") == "skipped")
        .map(|r| (field(r, "address"), field(r, "reason")))
        .collect();
    let ready: Vec<String> =
        rows.iter().filter(|r| field(r, "status") == "ready").map(|r| field(r, "address")).collect();
    assert!(skipped.len() >= 3, "the example list has unsubscribed and bounced readers: {skipped:?}");

    let cells = |row: &ElementRef| select_in(row, "td").iter().map(text_of).collect::<Vec<_>>();
    let shown: Vec<(String, String)> = select(&page, "table.skipped tr")
        .iter()
        .skip(1)
        .map(|row| {
            let cells = cells(row);
            (cells[0].clone(), cells[1].clone())
        })
        .collect();
    assert_eq!(shown, skipped, "every skipped row, with its reason");
    assert!(shown.iter().any(|(address, why)| address == "oliver.grant@example.org" && why.contains("unsubscribed")));

    let messages: Vec<String> =
        select(&page, "table.messages tr").iter().skip(1).map(|row| cells(row)[0].clone()).collect();
    assert_eq!(messages, ready, "every message, in the manifest's order");
    let links: Vec<&str> =
        select(&page, "table.messages a[href^='messages/']").iter().map(|a| a.value().attr("href").unwrap()).collect();
    let on_disk: BTreeSet<String> = files_under(&site.path().join("preview/2026-10/messages"))
        .into_iter()
        .map(|f| format!("messages/{f}"))
        .collect();
    assert_eq!(
        links.iter().map(|l| l.to_string()).collect::<BTreeSet<_>>(),
        on_disk,
        "each message linked to its file"
    );
    let headings: Vec<String> = select(&page, "h2").iter().map(text_of).collect();
    assert_eq!(headings, [format!("Messages ({})", ready.len()), format!("Skipped ({})", skipped.len())]);
}

fn select_in<'a>(element: &ElementRef<'a>, selector: &str) -> Vec<ElementRef<'a>> {
    element.select(&Selector::parse(selector).unwrap()).collect()
}

/// Issue 27, point 9: a sign-up with a 15,000-character name was taken, and
/// its `To:` line was one a relay refuses on every send. A name longer than
/// 200 characters is refused on the form, saying so, and nothing is stored.
#[test]
fn a_name_longer_than_200_characters_is_refused_on_the_form() {
    let (site, _) = site_with(&["old@example.org"]);
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    runtime().block_on(async {
        let body = format!("email=long%40example.org&name={}", "n".repeat(15_000));
        let response = client()
            .post(server.url("/subscribe"))
            .header("content-type", FORM)
            .header("x-forwarded-for", "203.0.113.9")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let (_, text, form) = read_page(&response.text().await.unwrap());
        assert!(text.contains("That name is too long: it may have at most 200 characters."), "{text}");
        assert!(form, "the form is shown again");
    });
    assert!(open_store(site.path()).subscriber("long@example.org").unwrap().is_none(), "a refused sign-up was stored");
    assert_eq!(smtp.count(), 0);
}
