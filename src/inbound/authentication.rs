//! Whether the From of a mail to the unsubscribe address is authenticated:
//! what the operator's own MTA wrote in `Authentication-Results` (RFC 8601).
//!
//! A mailto unsubscribe without a token that verifies is honoured only
//! when its From is authenticated; this module decides that. No crate
//! parses the header (mail-auth writes it, and checks DKIM and DMARC
//! itself, which is the MTA's work here), so the grammar of RFC 8601 §2.2
//! is read below, comments and quoted strings included.
//!
//! Which headers count, kept simple: those whose authserv-id is
//! `inbound.authserv_id` (case-insensitive), above the first `Received`
//! header. An MTA adds its results at the top when it receives the
//! message, above the trace headers of every hop before it, so a header
//! the sender wrote (with any authserv-id) is below the operator's own
//! `Received` line and is never read. An MTA set-up that adds a
//! `Received` line above its own results (a content filter re-injecting)
//! makes every request unverified: it fails closed.
//!
//! What authenticates the From: `dmarc=pass` with `header.from` the From's
//! domain, or `dkim=pass` whose `header.d` is the From's domain or a parent
//! of it (two labels at least: relaxed alignment without a public-suffix
//! list, parents only), and whose `header.i`, when given, is within it
//! (and, with a local part, is the From address).

/// One result of an `Authentication-Results` header: `dkim=pass header.d=example.org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// The method, lowercase, without a version (`dkim`, `dmarc`, `spf`).
    pub method: String,
    /// The result, lowercase (`pass`, `fail`, `none`…).
    pub result: String,
    /// `ptype.property` and its value, in order (`header.d`, `example.org`).
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A parsed `Authentication-Results` value: its authserv-id and results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationResults {
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Equals,
    Semicolon,
}

/// The value's tokens: comments dropped (nested, with `\` escapes),
/// quoted strings unquoted, `=` and `;` apart.
fn tokens(value: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = value.chars();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                flush(&mut word, &mut tokens);
                let mut depth = 1;
                while depth > 0 {
                    match chars.next()? {
                        '\\' => {
                            chars.next()?;
                        }
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
            }
            '"' => {
                flush(&mut word, &mut tokens);
                let mut quoted = String::new();
                loop {
                    match chars.next()? {
                        '\\' => quoted.push(chars.next()?),
                        '"' => break,
                        c => quoted.push(c),
                    }
                }
                tokens.push(Token::Word(quoted));
            }
            '=' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Equals);
            }
            ';' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Semicolon);
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    Some(tokens)
}

/// Parses one header value; `None` when it is not RFC 8601's shape.
pub fn parse(value: &str) -> Option<AuthenticationResults> {
    let tokens = tokens(value)?;
    let mut groups = tokens.split(|token| *token == Token::Semicolon);
    let head = groups.next()?;
    let authserv_id = match head {
        [Token::Word(id)] => id.clone(),
        // An authres-version after the id.
        [Token::Word(id), Token::Word(version)] if version.bytes().all(|b| b.is_ascii_digit()) => id.clone(),
        _ => return None,
    };
    let mut results = Vec::new();
    for group in groups {
        match group {
            [] => continue,
            [Token::Word(none)] if none.eq_ignore_ascii_case("none") => continue,
            [Token::Word(method), Token::Equals, Token::Word(result), rest @ ..] => {
                let method = method.split('/').next().unwrap_or_default().to_ascii_lowercase();
                let mut properties = Vec::new();
                let mut rest = rest;
                while let [Token::Word(key), Token::Equals, Token::Word(value), tail @ ..] = rest {
                    let mut value = value.clone();
                    rest = tail;
                    // A base64 `header.b` ends in `=`, which RFC 8601 would have quoted.
                    while let [Token::Equals, tail @ ..] = rest {
                        value.push('=');
                        rest = tail;
                    }
                    if key.contains('.') {
                        properties.push((key.to_ascii_lowercase(), value));
                    } else if !key.eq_ignore_ascii_case("reason") {
                        return None;
                    }
                }
                if !rest.is_empty() {
                    return None;
                }
                results.push(MethodResult { method, result: result.to_ascii_lowercase(), properties });
            }
            _ => return None,
        }
    }
    Some(AuthenticationResults { authserv_id, results })
}

/// The results the operator's MTA wrote: the `Authentication-Results`
/// headers of `authserv_id` above the first `Received` header, in the
/// order of `headers` (name, raw value), top first.
pub fn trusted_results<'h>(headers: impl Iterator<Item = (&'h str, &'h str)>, authserv_id: &str) -> Vec<MethodResult> {
    let mut results = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("Received") {
            break;
        }
        if name.eq_ignore_ascii_case("Authentication-Results")
            && let Some(parsed) = parse(value)
            && parsed.authserv_id.eq_ignore_ascii_case(authserv_id)
        {
            results.extend(parsed.results);
        }
    }
    results
}

/// How `from` is authenticated by `results` (`dmarc=pass`, `dkim=pass
/// header.d=example.org`), or `None`.
pub fn authenticates(results: &[MethodResult], from: &str) -> Option<String> {
    let from = from.to_ascii_lowercase();
    let (local, domain) = from.rsplit_once('@')?;
    let within = |child: &str, parent: &str| child == parent || child.ends_with(&format!(".{parent}"));
    for result in results.iter().filter(|r| r.result == "pass") {
        match result.method.as_str() {
            "dmarc" => {
                let header_from = result.property("header.from").map(str::to_ascii_lowercase);
                let header_from = header_from.as_deref().map(|h| h.rsplit_once('@').map_or(h, |(_, d)| d));
                if header_from == Some(domain) {
                    return Some(format!("dmarc=pass header.from={domain}"));
                }
            }
            "dkim" => {
                let Some(d) = result.property("header.d").map(str::to_ascii_lowercase) else { continue };
                if !d.contains('.') || !within(domain, &d) {
                    continue;
                }
                if let Some(i) = result.property("header.i").map(str::to_ascii_lowercase) {
                    let (i_local, i_domain) = i.rsplit_once('@').unwrap_or(("", &i));
                    let aligned = within(i_domain, &d) && within(domain, i_domain);
                    if !aligned || (!i_local.is_empty() && (i_local != local || i_domain != domain)) {
                        continue;
                    }
                }
                return Some(format!("dkim=pass header.d={d}"));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> AuthenticationResults {
        parse(value).unwrap_or_else(|| panic!("{value}"))
    }

    /// RFC 8601's own examples (Appendix B), and what MTAs write.
    #[test]
    fn the_rfc_examples_and_real_headers_parse() {
        assert_eq!(
            one("example.org 1; none"),
            AuthenticationResults { authserv_id: "example.org".into(), results: vec![] }
        );
        let b3 = one("example.com; spf=pass smtp.mailfrom=example.net");
        assert_eq!(b3.results[0].method, "spf");
        assert_eq!(b3.results[0].property("smtp.mailfrom"), Some("example.net"));
        let b5 = one(
            "example.com;\r\n  auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n  spf=pass smtp.mailfrom=example.com",
        );
        assert_eq!(b5.results.len(), 2);
        assert_eq!(b5.results[0].property("smtp.auth"), Some("sender@example.com"));
        let b6 = one(
            "example.com;\n dkim=pass (good signature) header.d=example.com;\n dkim=fail (bad signature) header.d=\"example.net\" reason=\"sig (bad)\"",
        );
        assert_eq!(b6.results[1].result, "fail");
        assert_eq!(b6.results[1].property("header.d"), Some("example.net"));
        let opendmarc = one("mx.example.org; dmarc=pass (p=none dis=none) header.from=example.net");
        assert_eq!(opendmarc.results[0].property("header.from"), Some("example.net"));
        let rspamd = one(
            "mx.example.org (amavis); dkim=pass (2048-bit key; unprotected) header.d=example.net header.i=@example.net header.a=rsa-sha256 header.s=s1 header.b=Ab+Cd/9=",
        );
        assert_eq!(rspamd.authserv_id, "mx.example.org");
        assert_eq!(rspamd.results[0].property("header.b"), Some("Ab+Cd/9="));
        assert_eq!(one("mx (a \\) b (nested)) ; dkim/1=pass header.d=x.org").results[0].method, "dkim");
        for broken in ["", "; dkim=pass", "mx; dkim", "mx; dkim=pass header", "mx; dkim=pass (unclosed", "mx; dkim=\"x"]
        {
            assert_eq!(parse(broken), None, "{broken}");
        }
    }

    #[test]
    fn only_the_configured_authserv_id_above_the_first_received_counts() {
        let headers = [
            ("Return-Path", "<bob@example.net>"),
            ("Authentication-Results", "other.example; dmarc=pass header.from=example.net"),
            ("Authentication-Results", "MX.example.org; dkim=fail header.d=example.net"),
            ("Received", "from mail.example.net by mx.example.org"),
            ("Authentication-Results", "mx.example.org; dmarc=pass header.from=example.net"),
        ];
        let results = trusted_results(headers.iter().copied(), "mx.example.org");
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(authenticates(&results, "bob@example.net"), None);
        let results = trusted_results(headers[..2].iter().copied(), "other.example");
        assert!(authenticates(&results, "Bob@Example.NET").is_some());
    }

    #[test]
    fn dkim_counts_when_aligned_with_the_from_domain() {
        let results = |value: &str| one(value).results;
        let pass = |value: &str, from: &str| authenticates(&results(value), from).is_some();
        assert!(pass("mx; dkim=pass header.d=example.net", "bob@example.net"));
        assert!(pass("mx; dkim=pass header.d=example.net", "bob@mail.example.net"), "a parent signs");
        assert!(!pass("mx; dkim=pass header.d=mail.example.net", "bob@example.net"), "a child does not");
        assert!(!pass("mx; dkim=pass header.d=net", "bob@example.net"), "one label is no organisation");
        assert!(!pass("mx; dkim=pass header.d=badexample.net", "bob@example.net"));
        assert!(!pass("mx; dkim=pass header.d=evil.example", "bob@example.net"));
        assert!(!pass("mx; dkim=fail header.d=example.net", "bob@example.net"));
        assert!(!pass("mx; dkim=pass", "bob@example.net"));
        assert!(pass("mx; dkim=pass header.d=example.net header.i=@example.net", "bob@example.net"));
        assert!(pass("mx; dkim=pass header.d=example.net header.i=bob@example.net", "bob@example.net"));
        assert!(!pass("mx; dkim=pass header.d=example.net header.i=eve@example.net", "bob@example.net"));
        assert!(!pass("mx; dkim=pass header.d=example.net header.i=@other.example.net", "bob@example.net"));
        assert!(pass("mx; dmarc=pass header.from=example.net", "bob@example.net"));
        assert!(!pass("mx; dmarc=pass header.from=example.com", "bob@example.net"));
        assert!(!pass("mx; dmarc=fail header.from=example.net", "bob@example.net"));
        assert!(!pass("mx; spf=pass smtp.mailfrom=example.net", "bob@example.net"), "SPF is not about the From");
    }
}
