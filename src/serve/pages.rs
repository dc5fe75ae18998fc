//! The pages readers see, made with maud (every value escaped). They carry
//! no script and no inline style: one stylesheet from this service, so the
//! Content-Security-Policy can forbid everything else. It follows the
//! reader's light or dark scheme.
//!
//! Every page about the list opens with its masthead ([`Masthead`]): the
//! list's name, linked to the blog, so a reader who arrives from a message
//! has a way back to the site it comes from.

use maud::{DOCTYPE, Markup, html};

/// The stylesheet every page links (`/newsroom.css`).
pub const STYLESHEET: &str = "\
:root{color-scheme:light dark}\
body{font:17px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;background:#f6f8fa;margin:0}\
main{max-width:32rem;margin:2.5rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}\
a{color:#0b5cad}\
h1{font-size:1.4rem;margin-top:0}\
.masthead{margin:0 0 1rem;font-size:.95rem;font-weight:600}\
.masthead a{color:#59636e;text-decoration:none}\
button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1f6feb}\
.address{font-weight:600}\
.note{color:#59636e;font-size:.9rem}\
label{display:block;margin:.8rem 0 .2rem}\
input[type=email],input[type=text]{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #d0d7de;border-radius:6px;background:#fff;color:inherit}\
form.signup button{margin-top:1rem}\
.error{color:#b42318}\
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}\
main.wide{max-width:64rem}\
table.headers,table.manifest{border-collapse:collapse;font-size:.9rem}\
table.headers th{text-align:left;padding:.2rem 1rem .2rem 0;vertical-align:top;color:#59636e}\
table.headers td{word-break:break-all}\
table.manifest th,table.manifest td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top;border-bottom:1px solid #d0d7de}\
iframe.message{width:100%;height:70vh;border:1px solid #d0d7de;border-radius:6px;background:#fff}\
pre.text{white-space:pre-wrap;font-size:.85rem;background:#f6f8fa;padding:1rem;border-radius:6px}\
@media (prefers-color-scheme:dark){\
body{color:#e6edf3;background:#0d1117}\
main{background:#161b22;border-color:#30363d}\
a{color:#4493f8}\
.note,table.headers th,.masthead a{color:#9198a1}\
input[type=email],input[type=text]{background:#0d1117;border-color:#30363d}\
button.secondary{background:#161b22;color:#4493f8}\
.error{color:#ff7b72}\
table.manifest th,table.manifest td{border-bottom-color:#30363d}\
pre.text{background:#0d1117}\
}\
";

/// Where a page is, relative to the service's root: links are relative,
/// so the pages work under any path the proxy puts the service at
/// (`serve.public_url` may be `https://example.org/newsletter`).
#[derive(Clone, Copy)]
enum Depth {
    /// `/subscribe`
    Top,
    /// `/unsubscribe/{token}`, `/confirm/{token}`
    Token,
    /// Anywhere (an error page): no stylesheet.
    Unknown,
}

impl Depth {
    fn root(self) -> Option<&'static str> {
        match self {
            Depth::Top => Some(""),
            Depth::Token => Some("../"),
            Depth::Unknown => None,
        }
    }
}

/// The list a page is about: its name as readers know it (the site's
/// title), and the blog it comes from (`site.url` + `blog_path`).
#[derive(Debug, Clone, Copy)]
pub struct Masthead<'a> {
    pub list: &'a str,
    pub blog_url: &'a str,
}

fn page(title: &str, depth: Depth, masthead: Option<Masthead>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="robots" content="noindex";
                title { (title) }
                @if let Some(root) = depth.root() {
                    link rel="stylesheet" href={ (root) "newsroom.css" };
                }
            }
            body {
                main {
                    @if let Some(masthead) = masthead {
                        p.masthead { a href=(masthead.blog_url) { (masthead.list) } }
                    }
                    (body)
                }
            }
        }
    }
}

/// `jane.doe@example.org` → `j•••@example.org`: enough for a reader to
/// know it is theirs, not enough to read it off a shared screen.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_string(),
    }
}

/// The page a GET of an unsubscribe link shows: nothing has changed yet.
pub fn confirm_unsubscribe(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        &format!("Unsubscribe from {list}"),
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "Unsubscribe from " (list) "?" }
            p { "The address " span.address { (masked) } " will get no more messages from " (list) "." }
            form method="post" {
                input type="hidden" name="action" value="unsubscribe";
                button type="submit" { "Unsubscribe" }
            }
        },
    )
}

/// After an unsubscribe (by the button or RFC 8058's one-click POST).
pub fn unsubscribed(masthead: Masthead, masked: Option<&str>) -> Markup {
    let list = masthead.list;
    page(
        "Unsubscribed",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "You are unsubscribed" }
            @if let Some(masked) = masked {
                p { span.address { (masked) } " will get no more messages from " (list) "." }
                p.note { "Was that a mistake?" }
                form method="post" {
                    input type="hidden" name="action" value="resubscribe";
                    button.secondary type="submit" { "Resubscribe" }
                }
            } @else {
                p { "This address gets no messages from " (list) "." }
            }
        },
    )
}

/// After the "Resubscribe" button.
pub fn resubscribed(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        "Subscribed again",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "You are subscribed again" }
            p { span.address { (masked) } " will get " (list) " again." }
            form method="post" {
                input type="hidden" name="action" value="unsubscribe";
                button.secondary type="submit" { "Unsubscribe" }
            }
        },
    )
}

/// A resubscribe the link cannot do: the address bounced or complained.
pub fn not_resubscribable(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        "Not subscribed",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "Not subscribed" }
            p { span.address { (masked) } " gets no messages from " (list) ": its mail was refused or reported. Write to the list's sender to be added again." }
        },
    )
}

/// A token that does not verify: it says nothing of any address.
pub fn invalid_link(masthead: Masthead) -> Markup {
    let list = masthead.list;
    page(
        "Link not valid",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "This link is not valid" }
            p { "It may have been cut or changed on the way. Use the unsubscribe link of a recent message from " (list) "." }
        },
    )
}

/// `GET /subscribe`: the sign-up form. `error` says what was wrong with a
/// first try, whose values `email` and `name` fill the fields again.
pub fn subscribe_form(masthead: Masthead, error: Option<&str>, email: &str, name: &str) -> Markup {
    let list = masthead.list;
    page(
        &format!("Subscribe to {list}"),
        Depth::Top,
        Some(masthead),
        html! {
            h1 { "Subscribe to " (list) }
            p { "One email a month with what is new. We send you a link to confirm first." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.signup method="post" action="subscribe" {
                label for="email" { "Email address" }
                input #email type="email" name="email" required autocomplete="email" value=(email);
                label for="name" { "Name (optional)" }
                input #name type="text" name="name" autocomplete="name" value=(name);
                // A field people do not see and bots fill in.
                div.hp aria-hidden="true" {
                    label for="website" { "Leave this empty" }
                    input #website type="text" name="website" tabindex="-1" autocomplete="off";
                }
                button type="submit" { "Subscribe" }
            }
            p.note.purpose {
                "Your address is used for this digest only: to send it to you, and first one message to confirm. "
                "Every digest has a link to unsubscribe with one click."
            }
            p.note { a href=(masthead.blog_url) { "Back to the blog" } }
        },
    )
}

/// After a sign-up, whatever it found: the same words for every address.
pub fn check_inbox(masthead: Masthead) -> Markup {
    let list = masthead.list;
    page(
        "Check your inbox",
        Depth::Top,
        Some(masthead),
        html! {
            h1 { "Check your inbox" }
            p { "If the address can get " (list) ", a message with a link to confirm is on its way. The link works for 7 days." }
            p.note { "Nothing arrives? Look in the spam folder, or try again in an hour." }
        },
    )
}

/// A second sign-up of one address from one client within the hour: the
/// same words for every address (it depends on what this client asked,
/// not on what the list holds; docs/security.md).
pub fn sent_recently(masthead: Masthead) -> Markup {
    let list = masthead.list;
    page(
        "A confirmation was sent recently",
        Depth::Top,
        Some(masthead),
        html! {
            h1 { "A confirmation was sent recently" }
            p {
                "You signed this address up less than an hour ago. If it can get " (list)
                ", a message with a link to confirm was sent then, and no second one is sent within the hour: "
                "use the link in that message. It works for 7 days."
            }
            p.note { "Nothing arrived? Look in the spam folder, or try again after the hour." }
        },
    )
}

/// A confirmation link's GET: the button that confirms (scanners open links, people press buttons).
pub fn confirm_subscription(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        &format!("Confirm your subscription to {list}"),
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "Confirm your subscription" }
            p { span.address { (masked) } " will get " (list) " once a month." }
            form method="post" {
                button type="submit" { "Confirm subscription" }
            }
        },
    )
}

/// After the confirmation.
pub fn subscribed(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        "Subscribed",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "You are subscribed" }
            p { span.address { (masked) } " will get " (list) ". Every message has a link to leave with one click." }
        },
    )
}

/// A confirmation link of a reader who is subscribed (the link was used,
/// or the reader came back another way): nothing to press. Only the
/// holder of the signed link sees it.
pub fn already_subscribed(masthead: Masthead, masked: &str) -> Markup {
    let list = masthead.list;
    page(
        "Already subscribed",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "You're already subscribed" }
            p { span.address { (masked) } " gets " (list) ": there is nothing more to confirm. Every message has a link to leave with one click." }
        },
    )
}

/// A confirmation link older than 7 days, or than the reader's last change.
pub fn link_expired(masthead: Masthead) -> Markup {
    let list = masthead.list;
    page(
        "Link expired",
        Depth::Token,
        Some(masthead),
        html! {
            h1 { "This link has expired" }
            p { "Confirmation links work for 7 days, and only until the subscription changes. " a href="../subscribe" { "Sign up again" } " to get a new one for " (list) "." }
        },
    )
}

/// Any other failure: the reader's request was not done.
pub fn failure(title: &str, text: &str) -> Markup {
    page(title, Depth::Unknown, None, html! { h1 { (title) } p { (text) } })
}

/// The title and text of the page for an error status the service did not
/// write a page for itself (a rejection of axum or tower-http).
pub fn error_text(status: axum::http::StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request", "The request could not be read. Nothing was changed."),
        404 => ("Not found", "There is no page at this address."),
        405 => ("Not allowed", "This page does not take that kind of request. Nothing was changed."),
        408 => ("Too slow", "The request took too long to arrive. Nothing was changed: try again."),
        413 => ("Too large", "The request is larger than this service takes (16 KiB). Nothing was changed."),
        415 => ("Unsupported form", "Send the form as application/x-www-form-urlencoded or multipart/form-data."),
        431 => ("Headers too large", "The request's headers are larger than this service takes. Nothing was changed."),
        500..=599 => ("Not done", "Nothing was changed: something went wrong here. Try again in a minute."),
        _ => ("Not done", "The request could not be handled. Nothing was changed."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_first_letter_and_the_domain() {
        assert_eq!(mask("jane.doe@example.org"), "j•••@example.org");
        assert_eq!(mask("é@x.org"), "é•••@x.org");
        assert_eq!(mask("nobody"), "•••");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let masthead = Masthead { list: "<script>alert(1)</script>", blog_url: "https://x.org/blog/" };
        let page = confirm_unsubscribe(masthead, "a•••@x.org").into_string();
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"), "{page}");
    }
}
