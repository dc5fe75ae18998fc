//! URL rules shared by loading and rendering: percent-encoding of permalink
//! paths and resolving references against the page they appear on.
//!
//! A relative reference resolves against `{site.url}{blog_path}/` plus the
//! post's folder; a root-relative one against `site.url`. The `url` crate
//! does the resolving (RFC 3986), so `../`, `./` and `//host` behave as
//! browsers make them behave.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters percent-encoded in a path: the WHATWG path set plus `%`
/// (file names are not pre-encoded) and the characters that make URLs
/// ambiguous inside HTML and feeds.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// Percent-encodes each segment of a `/`-separated path, keeping the slashes.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

/// Characters percent-encoded in a query value (`{email}` in an unsubscribe URL).
const QUERY_VALUE: &AsciiSet = &PATH.add(b'&').add(b'+').add(b'=').add(b'/').add(b';').add(b'@').add(b':');

/// Percent-encodes text for use as one query parameter value.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Whether a reference is already absolute (has a scheme) or is a fragment.
pub fn has_scheme(reference: &str) -> bool {
    let Some(colon) = reference.find(':') else {
        return false;
    };
    let scheme = &reference[..colon];
    !scheme.is_empty()
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Resolves `reference` against `base` (an absolute URL). References that
/// already have a scheme, and fragments (which point into a page, not a
/// folder: see [`with_fragment`]), are returned as they are; one that
/// cannot be resolved is returned unchanged for the sanitiser to judge.
pub fn absolutize(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    if reference.is_empty() || reference.starts_with('#') || has_scheme(reference) {
        return reference.to_string();
    }
    match url::Url::parse(base).and_then(|base| base.join(reference)) {
        Ok(url) => url.to_string(),
        Err(_) => reference.to_string(),
    }
}

/// `fragment` (`#a-heading`) on the page `page` (an absolute URL), its
/// characters percent-encoded as a URL's fragment needs them; unchanged
/// when `page` is not a URL, for the sanitiser to drop.
pub fn with_fragment(page: &str, fragment: &str) -> String {
    match url::Url::parse(page) {
        Ok(mut url) => {
            url.set_fragment(Some(fragment.strip_prefix('#').unwrap_or(fragment)));
            url.to_string()
        }
        Err(_) => fragment.to_string(),
    }
}

/// A reference for a field that only a web address fits (a post's `image`,
/// an author's page and avatar), resolved against `base`. Feeds and the
/// digest put these straight into `href`, `src` and JSON without the
/// sanitiser, so anything but an http(s) URL with a host (`javascript:`,
/// `data:`, a broken URL, nothing) is `None`.
pub fn web_url(base: &str, reference: &str) -> Option<String> {
    Some(absolutize(base, reference)).filter(|url| is_web_url(url))
}

/// Whether a reader can open `url` from anywhere: http(s) with a host, mailto
/// or tel (the schemes the sanitiser keeps in HTML).
pub fn is_openable(url: &str) -> bool {
    is_web_url(url) || url::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "mailto" | "tel"))
}

/// Whether `url` is an http(s) URL with a host.
pub fn is_web_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|host| !host.is_empty())
    })
}

/// Whether `url` names this machine only: `localhost`, 127.0.0.0/8 or
/// `[::1]`. An `http://` address is accepted for such a host (trying
/// `serve` and `digest preview` locally needs no TLS proxy); no reader
/// elsewhere can open it, so `digest send` refuses it.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// Whether `url` may be an address readers are sent to: https with a
/// host, or http on a [loopback](is_loopback) host (for local trials;
/// see [`is_local_trial`]).
pub fn is_reader_url(url: &url::Url) -> bool {
    url.host_str().is_some_and(|host| !host.is_empty())
        && (url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url)))
}

/// Whether `url` is an `http://` loopback address: accepted for `serve`
/// and `digest preview`, refused by `digest send`.
pub fn is_local_trial(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|url| url.scheme() == "http" && is_loopback(&url))
}

/// A local file reference (relative, no scheme, not root-relative, not a
/// fragment), with query and fragment removed and percent-decoding applied,
/// as a path relative to the post's folder; `None` for anything else.
pub fn local_file_reference(reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() || reference.starts_with(['#', '/', '?']) || has_scheme(reference) {
        return None;
    }
    let end = reference.find(['?', '#']).unwrap_or(reference.len());
    let path = percent_encoding::percent_decode_str(&reference[..end]).decode_utf8().ok()?;
    (!path.is_empty()).then(|| path.into_owned())
}

/// The tag's slug: [`slug`], or `tag` for a label of no letter or digit.
pub fn tag_slug(label: &str) -> String {
    let slug = slug(label);
    if slug.is_empty() { "tag".to_string() } else { slug }
}

/// `text` lower-cased, each run of characters other than letters and
/// digits replaced by one `-`, no `-` at either end; empty when `text`
/// has no letter or digit. Tags' slugs and per-post editions' names.
pub fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_a_reader_url_on_loopback_hosts_only() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5/x",
            "http://[::1]:8080/",
            "http://localhost:8080",
            "http://LOCALHOST",
        ] {
            let url = url::Url::parse(local).unwrap();
            assert!(is_reader_url(&url) && is_local_trial(local), "{local}");
        }
        for remote in
            ["http://example.org", "http://128.0.0.1", "http://[::2]", "http://localhost.example.org", "http://0.0.0.0"]
        {
            let url = url::Url::parse(remote).unwrap();
            assert!(!is_reader_url(&url) && !is_local_trial(remote), "{remote}");
        }
        for https in ["https://example.org", "https://127.0.0.1"] {
            assert!(is_reader_url(&url::Url::parse(https).unwrap()) && !is_local_trial(https), "{https}");
        }
    }

    #[test]
    fn encodes_spaces_and_unicode_but_keeps_slashes_and_plus() {
        assert_eq!(encode_path("releases/lantern 2.0"), "releases/lantern%202.0");
        assert_eq!(encode_path("es2015+-packages"), "es2015+-packages");
        assert_eq!(encode_path("café"), "caf%C3%A9");
    }

    #[test]
    fn resolves_relative_and_root_relative_references() {
        let base = "https://example.org/blog/2026-09-22-spot/";
        assert_eq!(absolutize(base, "./a.png"), "https://example.org/blog/2026-09-22-spot/a.png");
        assert_eq!(absolutize(base, "../assets/b.png"), "https://example.org/blog/assets/b.png");
        assert_eq!(absolutize(base, "/img/c.png"), "https://example.org/img/c.png");
        assert_eq!(absolutize(base, "//cdn.example.com/d.png"), "https://cdn.example.com/d.png");
        assert_eq!(absolutize(base, "mailto:a@b.c"), "mailto:a@b.c");
        assert_eq!(absolutize(base, "#top"), "#top");
    }

    #[test]
    fn fragments_point_into_the_page() {
        let page = "https://example.org/blog/2026/09/22/spot";
        assert_eq!(with_fragment(page, "#top"), "https://example.org/blog/2026/09/22/spot#top");
        assert_eq!(with_fragment(page, "#a b\"c"), "https://example.org/blog/2026/09/22/spot#a%20b%22c");
        assert_eq!(with_fragment(page, "#"), "https://example.org/blog/2026/09/22/spot#");
        assert_eq!(with_fragment("not a url", "#top"), "#top");
    }

    #[test]
    fn only_web_addresses_fill_image_and_author_fields() {
        let base = "https://example.org/blog/";
        assert_eq!(web_url(base, "./a.png").as_deref(), Some("https://example.org/blog/a.png"));
        assert_eq!(web_url(base, "HTTPS://CDN.EXAMPLE/X.png").as_deref(), Some("HTTPS://CDN.EXAMPLE/X.png"));
        for refused in
            ["javascript:alert(1)", "data:image/png;base64,AA", "mailto:a@b.c", "https://", "http://[::1", ""]
        {
            assert_eq!(web_url(base, refused), None, "{refused}");
        }
    }

    #[test]
    fn local_references_are_decoded_paths() {
        assert_eq!(local_file_reference("./assets/a%20b.png?x=1").as_deref(), Some("./assets/a b.png"));
        assert_eq!(local_file_reference("/img/a.png"), None);
        assert_eq!(local_file_reference("https://x.org/a.png"), None);
        assert_eq!(local_file_reference("data:image/png;base64,xx"), None);
    }
}
