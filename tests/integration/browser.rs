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
    let xpath = format!("//h1[contains(., '{text}')]");
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

#[test]
fn sign_up_confirm_receive_and_unsubscribe_in_chromium() {
    let (Some(driver), Some(_)) = (on_path("chromedriver"), on_path("chromium")) else {
        assert!(
            std::env::var_os(REQUIRE_BROWSER_VAR).is_none(),
            "{REQUIRE_BROWSER_VAR} is set and chromedriver or chromium is missing"
        );
        println!("skipped: chromium and chromedriver not found (apt-get install chromium chromium-driver)");
        return;
    };
    let site = copy_example_site();
    let smtp = SmtpServer::start(Default::default());
    let server = Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
    let driver = Driver::start(&driver);
    let site = site.path();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
        let client = browser(&driver).await;

        // Sign up through the form.
        client.goto(&server.url("/subscribe")).await.unwrap();
        heading(&client, "Subscribe to").await;
        client.find(Locator::Css("input[name=email]")).await.unwrap().send_keys(READER).await.unwrap();
        client.find(Locator::Css("input[name=name]")).await.unwrap().send_keys("Rae Lin").await.unwrap();
        screenshot(&client, "serve-subscribe.png").await;
        client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        heading(&client, "Check your inbox").await;
        assert_eq!(status_of(site, READER), SubscriberStatus::Pending);

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
