//! The digest's HTML, as maud partials: a 600 px table layout, a hidden
//! preheader, one block per post, a footer. Rendered once per digest with
//! slots where personal values go; `email.css` is inlined afterwards.
//!
//! Layout tables use `role="presentation"` and CSS only (no `cellpadding`,
//! `bgcolor` or `align`): those attributes are obsolete in HTML5 and the Nu
//! HTML Checker rejects them, and current mail clients honour inline styles.

use maud::{DOCTYPE, Markup, PreEscaped, Render, html};

use crate::content::Author;

/// Post HTML that has already been sanitised (ammonia) and made absolute:
/// the one way pre-rendered HTML enters a template.
pub struct SanitisedHtml<'a>(pub &'a str);

impl Render for SanitisedHtml<'_> {
    fn render(&self) -> Markup {
        PreEscaped(self.0.to_string())
    }
}

/// One post as the digest shows it.
pub struct PostBlock<'a> {
    pub title: &'a str,
    pub permalink: &'a str,
    pub date_label: String,
    pub authors: &'a [Author],
    pub excerpt_html: &'a str,
}

/// What the footer says; `personal` is absent on the web archive page.
pub struct Footer<'a> {
    /// The template's footer text, as clean HTML.
    pub text_html: &'a str,
    pub postal_address: &'a str,
    pub archive_url: &'a str,
    pub site_url: &'a str,
    pub personal: Option<PersonalFooter<'a>>,
}

/// The parts of the footer that differ per subscriber (slots in the once-rendered HTML).
pub struct PersonalFooter<'a> {
    pub email: &'a str,
    pub unsubscribe_url: &'a str,
}

/// Everything on the page.
pub struct Page<'a> {
    pub lang: &'a str,
    pub subject: &'a str,
    pub preheader: &'a str,
    pub site_title: &'a str,
    pub blog_url: &'a str,
    pub month_label: &'a str,
    /// The template's intro, as clean HTML.
    pub intro_html: &'a str,
    pub posts: Vec<PostBlock<'a>>,
    pub footer: Footer<'a>,
}

/// The whole digest document (before CSS inlining).
pub fn page(page: &Page, css: &str) -> Markup {
    let rows = html! {
        tr { td class="header" { (header(page)) } }
        tr { td class="intro" { (SanitisedHtml(page.intro_html)) } }
        @for post in &page.posts {
            tr { td class="post" { (post_block(post)) } }
        }
        tr { td class="footer" { (footer(&page.footer)) } }
    };
    frame(page.lang, page.subject, page.preheader, css, rows)
}

/// The document every message shares: head, stylesheet, hidden
/// preheader, and the 600 px container around `rows`.
fn frame(lang: &str, subject: &str, preheader: &str, css: &str, rows: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Both schemes: `email.css` has a dark one. The second
                // name is the one Apple Mail read before the standard's.
                meta name="color-scheme" content="light dark";
                meta name="supported-color-schemes" content="light dark";
                title { (subject) }
                style { (style_text(css)) }
            }
            body class="body" {
                div class="preheader" { (preheader) }
                table class="wrapper" role="presentation" {
                    tr { td class="wrapper-cell" {
                        table class="container" role="presentation" { (rows) }
                    } }
                }
            }
        }
    }
}

/// A one-off message (the sign-up confirmation): the digest's frame and
/// stylesheet around one block of the site owner's text, and the postal
/// address.
#[derive(Clone, Copy)]
pub struct Notice<'a> {
    pub lang: &'a str,
    pub subject: &'a str,
    pub preheader: &'a str,
    pub site_title: &'a str,
    pub blog_url: &'a str,
    /// The template's text, as clean HTML: all of it, or what comes
    /// before the button.
    pub body_html: &'a str,
    /// The one thing the reader is asked to do, as a button.
    pub button: Option<Button<'a>>,
    /// The template's text after the button, as clean HTML.
    pub after_html: &'a str,
    pub postal_address: &'a str,
}

/// A link shown as a button, as the digest shows "Read more" (the
/// `button` class of `email.css`).
#[derive(Clone, Copy)]
pub struct Button<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

/// The whole notice document (before CSS inlining).
pub fn notice_page(notice: &Notice, css: &str) -> Markup {
    let Notice { lang, subject, preheader, site_title, blog_url, body_html, button, after_html, postal_address } =
        *notice;
    let rows = html! {
        tr { td class="header" { a class="site-title" href=(blog_url) { (site_title) } } }
        tr { td class="intro" {
            (SanitisedHtml(body_html))
            @if let Some(button) = button {
                p class="button-row" { a class="button" href=(button.url) { (button.label) } }
            }
            (SanitisedHtml(after_html))
        } }
        tr { td class="footer" { p { (postal_address) } } }
    };
    frame(lang, subject, preheader, css, rows)
}

/// The stylesheet as the text of a `<style>` element. `</` is written `<\/`,
/// which CSS reads as the same characters, so nothing in `email.css` (a
/// comment, a string) can close the element and start HTML.
fn style_text(css: &str) -> PreEscaped<String> {
    PreEscaped(css.replace("</", "<\\/"))
}

/// The site's name and the digest's month.
fn header(page: &Page) -> Markup {
    html! {
        a class="site-title" href=(page.blog_url) { (page.site_title) }
        p class="issue" { "Monthly digest · " (page.month_label) }
    }
}

/// One post: linked title, authors with avatars, date, excerpt, "Read more".
fn post_block(post: &PostBlock) -> Markup {
    html! {
        h2 class="post-title" { a href=(post.permalink) { (post.title) } }
        p class="meta" {
            @for (index, author) in post.authors.iter().enumerate() {
                @if index > 0 { ", " }
                (author_line(author))
            }
            @if !post.authors.is_empty() { " · " }
            (post.date_label)
        }
        div class="excerpt" { (SanitisedHtml(post.excerpt_html)) }
        p { a class="read-more" href=(post.permalink) { "Read more" } }
    }
}

/// An author's avatar and name, linked to their page when they have one.
fn author_line(author: &Author) -> Markup {
    html! {
        @if let Some(image) = &author.image_url {
            img class="avatar" src=(image) alt="" width="24" height="24";
        }
        @match &author.url {
            Some(url) => a class="author" href=(url) { (author.name) },
            None => span class="author" { (author.name) },
        }
    }
}

/// Why the reader gets this, how to stop, where it comes from.
fn footer(footer: &Footer) -> Markup {
    html! {
        (SanitisedHtml(footer.text_html))
        @if let Some(personal) = &footer.personal {
            p {
                "This email was sent to " (personal.email) ". "
                a href=(personal.unsubscribe_url) { "Unsubscribe" } " with one click · "
                a href=(footer.archive_url) { "View in browser" }
            }
        } @else {
            p { "This is the web version of the monthly digest. " a href=(footer.site_url) { "Visit the blog" } }
        }
        p { (footer.postal_address) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`digest_template` target): a stylesheet holding
    /// `</style><script>` closed the `<style>` element and put a script in the page.
    #[test]
    fn the_stylesheet_cannot_close_its_element() {
        let page_of = |css: &str| {
            let footer = Footer {
                text_html: "",
                postal_address: "",
                archive_url: "https://x.org/a",
                site_url: "https://x.org/",
                personal: None,
            };
            let layout = Page {
                lang: "en",
                subject: "S",
                preheader: "",
                site_title: "T",
                blog_url: "https://x.org/",
                month_label: "May",
                intro_html: "",
                posts: Vec::new(),
                footer,
            };
            page(&layout, css).into_string()
        };
        let html = page_of("p { content: \"</style>\" } </STYLE><script>alert(1)</script>");
        assert!(
            html.contains(r#"<style>p { content: "<\/style>" } <\/STYLE><script>alert(1)<\/script></style>"#),
            "{html}"
        );
    }
}
