//! `newsroom serve` in a real browser (issue 18): Debian's chromium, driven
//! over WebDriver by fantoccini, from the sign-up form to the unsubscribe
//! button, with the real binary, the in-process SMTP server and the store
//! read back after every step.
//!
//! Needs `chromedriver` and `chromium` on the PATH; without them the test
//! says so in one line and skips, unless NEWSROOM_REQUIRE_BROWSER is set
//! (`.ci/run` sets it and installs both). With NEWSROOM_SCREENSHOTS=DIR it
//! saves the pages it passes through as PNG files in DIR
//! (`scripts/screenshots.sh` makes those in docs/).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use newsroom::store::{Channel, EventKind, SubscriberStatus};

use crate::serve::{PUBLIC_URL, Server, open_store, wait_for_mail};
use crate::smtp_server::SmtpServer;
use crate::support::*;

const REQUIRE_BROWSER_VAR: &str = "NEWSROOM_REQUIRE_BROWSER";
const READER: &str = "rae@example.net";
const BLOG_URL: &str = "https://lantern.example.org/blog/";

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.is_file())
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(program: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,760"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// Waits for the page's `h1` to contain `text`, and returns the page's text.
async fn heading(client: &Client, text: &str) -> String {
    // Double quotes: a heading may hold an apostrophe ("You're already subscribed").
    let xpath = format!("//h1[contains(., \"{text}\")]");
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no heading `{text}`: {e}"));
    client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("NEWSROOM_SCREENSHOTS") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(name), png).unwrap();
    }
}

/// Types the reader's address (and `name`, if any) into the sign-up form and presses its button.
async fn fill_in_and_subscribe(client: &Client, name: &str) {
    client.find(Locator::Css("input[name=email]")).await.unwrap().send_keys(READER).await.unwrap();
    if !name.is_empty() {
        client.find(Locator::Css("input[name=name]")).await.unwrap().send_keys(name).await.unwrap();
        screenshot(client, "serve-subscribe.png").await;
    }
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
}

fn status_of(site: &Path, address: &str) -> SubscriberStatus {
    open_store(site).subscriber(address).unwrap().unwrap_or_else(|| panic!("{address} is not in the store")).status
}

fn send(site: &Path, smtp: &SmtpServer, month: &str) {
    let output = newsroom(site)
        .args(["digest", "send", "--month", month])
        .env("NEWSROOM_SMTP_URL", smtp.url())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::serve::SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "digest send --month {month}: {}", stderr(&output));
}

/// chromedriver, when it and chromium are installed; else the test skips
/// with a line, unless [`REQUIRE_BROWSER_VAR`] is set.
fn chromedriver() -> Option<PathBuf> {
    let (Some(driver), Some(_)) = (on_path("chromedriver"), on_path("chromium")) else {
        assert!(
            std::env::var_os(REQUIRE_BROWSER_VAR).is_none(),
            "{REQUIRE_BROWSER_VAR} is set and chromedriver or chromium is missing"
        );
        println!("skipped: chromium and chromedriver not found (apt-get install chromium chromium-driver)");
        return None;
    };
    Some(driver)
}

#[test]
fn sign_up_confirm_receive_and_unsubscribe_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let site = copy_example_site();
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    let driver = Driver::start(&driver);
    let site = site.path();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
        let client = browser(&driver).await;

        // Sign up through the form, which says what the address is for and links back to the blog.
        client.goto(&server.url("/subscribe")).await.unwrap();
        let page = heading(&client, "Subscribe to").await;
        assert!(page.contains("Your address is used for this digest only"), "{page}");
        let back = client.find(Locator::LinkText("Back to the blog")).await.expect("a link back to the blog");
        assert_eq!(back.attr("href").await.unwrap().as_deref(), Some(BLOG_URL));
        fill_in_and_subscribe(&client, "Rae Lin").await;
        heading(&client, "Check your inbox").await;
        // The page comes before the store's work on the address: the mailed confirmation follows it.
        wait_for_mail(&smtp, 1);
        assert_eq!(status_of(site, READER), SubscriberStatus::Pending);

        // Again within the hour: the page says one was sent recently, and nothing more is sent.
        client.goto(&server.url("/subscribe")).await.unwrap();
        heading(&client, "Subscribe to").await;
        fill_in_and_subscribe(&client, "").await;
        let page = heading(&client, "A confirmation was sent recently").await;
        assert!(page.contains("less than an hour ago"), "{page}");

        // The confirmation arrives; opening its link confirms nothing.
        let mail = wait_for_mail(&smtp, 1);
        let message = mail_parser::MessageParser::default().parse(&mail[0].data).unwrap();
        let text = message.body_text(0).unwrap().to_string();
        let link = text.split_whitespace().find(|w| w.contains("/confirm/")).unwrap().trim_matches(['<', '>']);
        client.goto(&link.replace(PUBLIC_URL, &server.base)).await.unwrap();
        let page = heading(&client, "Confirm your subscription").await;
        assert!(page.contains("r•••@example.net"), "{page}");
        screenshot(&client, "serve-confirm.png").await;
        assert_eq!(status_of(site, READER), SubscriberStatus::Pending, "opening the link confirms nothing");
        client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        heading(&client, "You are subscribed").await;
        assert_eq!(status_of(site, READER), SubscriberStatus::Subscribed);
        assert_eq!(smtp.count(), 1, "one confirmation for two sign-ups within the hour");

        // The used link, opened again: no button, and what is true.
        client.goto(&link.replace(PUBLIC_URL, &server.base)).await.unwrap();
        let page = heading(&client, "You're already subscribed").await;
        assert!(page.contains("r•••@example.net"), "{page}");
        assert!(client.find_all(Locator::Css("form, button")).await.unwrap().is_empty(), "nothing to press");

        // The month's digest reaches the new reader; its List-Unsubscribe URL opens a page.
        send(site, &smtp, "2026-10");
        let digest =
            smtp.received().into_iter().find(|m| m.recipient == READER && m.message_id.contains("digest-2026-10"));
        let digest = digest.expect("the digest reached the reader who signed up");
        let message = mail_parser::MessageParser::default().parse(&digest.data).unwrap();
        let header = message.header_raw("List-Unsubscribe").expect("List-Unsubscribe").trim().to_string();
        let url = header.split(['<', '>']).find(|part| part.starts_with("https://")).unwrap().to_string();
        client.goto(&url.replace(PUBLIC_URL, &server.base)).await.unwrap();
        let page = heading(&client, "Unsubscribe from").await;
        assert!(page.contains("r•••@example.net") && page.contains("Lantern Community Blog"), "{page}");
        screenshot(&client, "serve-unsubscribe.png").await;
        assert_eq!(status_of(site, READER), SubscriberStatus::Subscribed, "opening the link unsubscribes nobody");
        client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        heading(&client, "You are unsubscribed").await;
        screenshot(&client, "serve-unsubscribed.png").await;
        client.close().await.unwrap();
    });
    let store = open_store(site);
    let reader = store.subscriber(READER).unwrap().unwrap();
    assert_eq!(reader.status, SubscriberStatus::Unsubscribed);
    let events: Vec<(EventKind, Option<Channel>)> =
        store.events(reader.id).unwrap().into_iter().map(|e| (e.kind, e.channel)).collect();
    assert_eq!(
        events,
        [
            (EventKind::Subscribed, Some(Channel::Web)),
            (EventKind::ConfirmationSent, Some(Channel::Web)),
            (EventKind::Confirmed, Some(Channel::Web)),
            (EventKind::Unsubscribed, Some(Channel::Page)),
        ]
    );

    // The next send skips the reader, and reaches the others.
    let before = smtp.count();
    send(site, &smtp, "2026-09");
    let next: Vec<String> = smtp.received()[before..].iter().map(|m| m.recipient.clone()).collect();
    assert!(!next.is_empty() && !next.iter().any(|r| r == READER), "{next:?}");
    drop(server);
}

/// `serve --preview` in a real browser (issue 26 point 10): from the home
/// to the index of `public/`, on to the feeds page and its offer of the
/// digest by email, and a month's manifest with who was skipped and why.
#[test]
fn the_writers_preview_from_the_built_site_to_a_months_manifest_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let site = copy_example_site();
    for args in [&["build"][..], &["digest", "preview", "--month", "2026-10"]] {
        let output = run(site.path(), args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let server = crate::serve::Server::start_args(site.path(), &[], &["--preview"]);
    let driver = Driver::start(&driver);
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
        let client = browser(&driver).await;
        client.goto(&server.url("/")).await.unwrap();
        heading(&client, "Preview of").await;
        client.find(Locator::LinkText("The built site (public/)")).await.unwrap().click().await.unwrap();
        let page = heading(&client, "The built site (public/)").await;
        assert!(page.contains("feeds/index.html") && page.contains("feed.xml"), "{page}");
        client.find(Locator::LinkText("the feeds page")).await.unwrap().click().await.unwrap();
        heading(&client, "Feeds").await;
        let signup =
            client.find(Locator::LinkText("sign up for the monthly digest")).await.expect("the offer by email");
        assert_eq!(signup.attr("href").await.unwrap().as_deref(), Some(&*format!("{PUBLIC_URL}/subscribe")));

        client.goto(&server.url("/")).await.unwrap();
        heading(&client, "Preview of").await;
        client.find(Locator::LinkText("2026-10")).await.unwrap().click().await.unwrap();
        let page = heading(&client, "Digest 2026-10").await;
        for said in ["Messages (", "Skipped (", "oliver.grant@example.org", "old.address@example.net"] {
            assert!(page.contains(said), "{said}: {page}");
        }
        let first = client.find(Locator::Css("table.messages a")).await.unwrap();
        first.click().await.unwrap();
        client.wait().for_element(Locator::Css("iframe.message")).await.expect("the message's page");
        client.close().await.unwrap();
    });
    drop(server);
}
