//! The pages readers see, made with maud (every value escaped). They carry
//! no script and no inline style: one stylesheet from this service, so the
//! Content-Security-Policy can forbid everything else.

use maud::{DOCTYPE, Markup, html};

/// The stylesheet every page links (`/newsroom.css`).
pub const STYLESHEET: &str = "\
body{font:17px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;background:#f6f8fa;margin:0}\
main{max-width:32rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}\
h1{font-size:1.4rem;margin-top:0}\
button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1f6feb}\
.address{font-weight:600}\
.note{color:#59636e;font-size:.9rem}\
";

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                link rel="stylesheet" href="/newsroom.css";
            }
            body { main { (body) } }
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
pub fn confirm_unsubscribe(list: &str, masked: &str) -> Markup {
    page(
        &format!("Unsubscribe from {list}"),
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
pub fn unsubscribed(list: &str, masked: Option<&str>) -> Markup {
    page(
        "Unsubscribed",
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
pub fn resubscribed(list: &str, masked: &str) -> Markup {
    page(
        "Subscribed again",
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
pub fn not_resubscribable(list: &str, masked: &str) -> Markup {
    page(
        "Not subscribed",
        html! {
            h1 { "Not subscribed" }
            p { span.address { (masked) } " gets no messages from " (list) ": its mail was refused or reported. Write to the list's sender to be added again." }
        },
    )
}

/// A token that does not verify: it says nothing of any address.
pub fn invalid_link(list: &str) -> Markup {
    page(
        "Link not valid",
        html! {
            h1 { "This link is not valid" }
            p { "It may have been cut or changed on the way. Use the unsubscribe link of a recent message from " (list) "." }
        },
    )
}

/// Any other failure: the reader's request was not done.
pub fn failure(title: &str, text: &str) -> Markup {
    page(title, html! { h1 { (title) } p { (text) } })
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
        let page = confirm_unsubscribe("<script>alert(1)</script>", "a•••@x.org").into_string();
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"), "{page}");
    }
}
