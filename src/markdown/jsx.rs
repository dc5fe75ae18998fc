//! JSX attribute values in posts (`style={{…}}`, `width={280}`,
//! `alt={"…"}`) rewritten as HTML, in `.md` posts as in `.mdx` ones:
//! Docusaurus 3 reads `.md` as MDX, and blogs wrote them there, where
//! CommonMark cannot read the tag and printed it as text. Strings, numbers
//! and booleans become HTML values; objects are removed (the sanitiser
//! would remove `style` anyway); any other expression is removed and
//! named, since only the blog's own site runs JavaScript. Line breaks stay
//! where they were, so positions in the result are positions in the file.

use super::mdx::{JSX_ATTRIBUTES, closes_fence, opens_fence};

/// A JSX expression in an attribute that was removed because only the
/// blog's site runs JavaScript: where (byte offset in the rewritten text's
/// input) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedExpression {
    pub offset: usize,
    pub message: String,
}

/// Rewrites the JSX attribute values of the tags in `text` (Markdown or
/// rewritten MDX-lite) to HTML, or `None` when it has none:
///
/// - `name={"text"}`, `{'text'}`, `` {`text`} `` and `{123}` become
///   `name="text"`, `name="123"`; `{true}` a bare `name`; `{false}`,
///   `{null}` and `{undefined}` nothing, as React renders them;
/// - an object, `style={{ … }}` (the sanitiser removes `style` anyway),
///   is removed;
/// - any other expression (`tabIndex={OFFSET + 1}`, `{...props}`) is
///   removed, and named in the result for `check` to warn about.
///
/// Attribute names get their HTML spelling (`className` → `class`). Code
/// (fenced, indented, inline) is left as written. Lines are kept: a tag
/// that changes is written on its first line, and the line breaks it
/// held follow its `>` (a line of spaces left inside it would be a blank
/// line, which ends an HTML tag in Markdown). The caller checks first that
/// `text` holds `={`, so that posts without JSX pay nothing.
pub fn jsx_attribute_values(text: &str) -> Option<(String, Vec<RemovedExpression>)> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut removed = Vec::new();
    // `text[copied..]` is not yet in `out`.
    let mut copied = 0;
    let mut code = CodeLines::default();
    let mut index = 0;
    while index < bytes.len() {
        if index == 0 || bytes[index - 1] == b'\n' {
            let line_end = memchr::memchr(b'\n', &bytes[index..]).map_or(bytes.len(), |at| index + at);
            if code.is_code(&text[index..line_end]) {
                index = line_end + 1;
                continue;
            }
        }
        match bytes[index] {
            b'\\' => index += 2,
            b'`' => index = after_code_span(text, index),
            b'<' if bytes.get(index + 1).is_some_and(u8::is_ascii_alphabetic) => match jsx_tag(text, index) {
                Some(tag) => {
                    if let Some(rewritten) = tag.rewritten {
                        out.push_str(&text[copied..index]);
                        out.push_str(&rewritten);
                        copied = tag.end;
                        removed.extend(tag.removed);
                    }
                    index = tag.end;
                }
                None => index += 1,
            },
            _ => index += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some((out, removed))
}

/// Tells the lines of code blocks (fenced, or indented after a blank line)
/// as they come, one at a time. In doubt (an indented line in a list), a
/// line is code: left as written, as before this pass.
struct CodeLines {
    fence: Option<(char, usize)>,
    /// Inside an indented code block.
    indented: bool,
    /// The line before was blank (or there was none).
    after_blank: bool,
}

impl Default for CodeLines {
    fn default() -> CodeLines {
        CodeLines { fence: None, indented: false, after_blank: true }
    }
}

impl CodeLines {
    fn is_code(&mut self, line: &str) -> bool {
        let unquoted = line.trim_start().trim_start_matches(['>', ' ']);
        if let Some((fence_char, fence_len)) = self.fence {
            if closes_fence(unquoted, fence_char, fence_len) {
                self.fence = None;
            }
            return true;
        }
        if let Some(opened) = opens_fence(unquoted) {
            self.fence = Some(opened);
            return true;
        }
        let blank = line.trim().is_empty();
        let indent =
            line.chars().take_while(|c| *c == ' ' || *c == '\t').map(|c| if c == '\t' { 4 } else { 1 }).sum::<usize>();
        // A blank line inside an indented block leaves it open.
        if !blank {
            self.indented = indent >= 4 && (self.after_blank || self.indented);
        }
        self.after_blank = blank;
        self.indented
    }
}

/// The index after the inline code span that starts at `start` (a run of
/// backticks), or after the run when nothing closes it before a blank line.
fn after_code_span(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let run = bytes[start..].iter().take_while(|b| **b == b'`').count();
    let mut index = start + run;
    while index < bytes.len() {
        if bytes[index] == b'\n' && text[index + 1..].trim_start_matches([' ', '\t']).starts_with('\n') {
            break;
        }
        if bytes[index] == b'`' {
            let closing = bytes[index..].iter().take_while(|b| **b == b'`').count();
            if closing == run {
                return index + closing;
            }
            index += closing;
        } else {
            index += 1;
        }
    }
    start + run
}

/// A tag read by [`jsx_tag`]: where it ends, and its HTML when it had JSX
/// values to rewrite.
struct JsxTag {
    end: usize,
    rewritten: Option<String>,
    removed: Vec<RemovedExpression>,
}

/// One attribute of a tag as written, and the white space before it.
struct Attribute<'a> {
    separator: &'a str,
    value: AttributeValue<'a>,
}

enum AttributeValue<'a> {
    /// `name`, `name="value"`, `name=value`: kept as written.
    Html { name: &'a str, rest: &'a str },
    /// `name={expression}`, or `{expression}` alone (a spread), at `at`.
    Jsx { name: Option<&'a str>, expression: &'a str, at: usize },
}

/// Reads the start tag at `start` (`<` and a letter) as JSX reads it: the
/// name, then attributes whose values may be quoted, bare or `{…}`, up to
/// `>` or `/>`. `None` when it is not such a tag (the text goes on as is).
fn jsx_tag(text: &str, start: usize) -> Option<JsxTag> {
    let bytes = text.as_bytes();
    let is_name_byte = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    let name_end = start + 1 + bytes[start + 1..].iter().take_while(|b| is_name_byte(b)).count();
    let mut attributes = Vec::new();
    let mut index = name_end;
    let (closing_separator, self_closing) = loop {
        let spaces = bytes[index..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        let separator = &text[index..index + spaces];
        // A blank line ends the tag's paragraph: this is not a tag.
        if separator.matches('\n').count() > 1 {
            return None;
        }
        if spaces == 0 && !matches!(bytes.get(index), Some(b'>' | b'/')) && index != name_end {
            return None;
        }
        index += spaces;
        match bytes.get(index)? {
            b'>' => break (separator, false),
            b'/' if bytes.get(index + 1) == Some(&b'>') => break (separator, true),
            b'{' => {
                let end = expression_end(text, index)?;
                let value = AttributeValue::Jsx { name: None, expression: &text[index + 1..end - 1], at: index };
                attributes.push(Attribute { separator, value });
                index = end;
            }
            byte if byte.is_ascii_alphabetic() || matches!(byte, b'_' | b':') => {
                let name_start = index;
                index += bytes[index..].iter().take_while(|b| is_name_byte(b)).count();
                let name = &text[name_start..index];
                let spaces = bytes[index..].iter().take_while(|b| b.is_ascii_whitespace()).count();
                if bytes.get(index + spaces) != Some(&b'=') {
                    attributes.push(Attribute { separator, value: AttributeValue::Html { name, rest: "" } });
                    continue;
                }
                let value_start = index + spaces + 1;
                let value_start =
                    value_start + bytes[value_start..].iter().take_while(|b| b.is_ascii_whitespace()).count();
                let (value, value_end) = match bytes.get(value_start)? {
                    quote @ (b'"' | b'\'') => {
                        let close = value_start + 1 + memchr::memchr(*quote, &bytes[value_start + 1..])?;
                        (AttributeValue::Html { name, rest: &text[value_start..=close] }, close + 1)
                    }
                    b'{' => {
                        let end = expression_end(text, value_start)?;
                        let expression = &text[value_start + 1..end - 1];
                        (AttributeValue::Jsx { name: Some(name), expression, at: name_start }, end)
                    }
                    _ => {
                        let value_len = bytes[value_start..]
                            .iter()
                            .take_while(|b| {
                                !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b'=' | b'<' | b'>' | b'`')
                            })
                            .count();
                        if value_len == 0 {
                            return None;
                        }
                        let end = value_start + value_len;
                        (AttributeValue::Html { name, rest: &text[value_start..end] }, end)
                    }
                };
                attributes.push(Attribute { separator, value });
                index = value_end;
            }
            _ => return None,
        }
    };
    let end = index + if self_closing { 2 } else { 1 };
    if !attributes.iter().any(|a| matches!(a.value, AttributeValue::Jsx { .. })) {
        return Some(JsxTag { end, rewritten: None, removed: Vec::new() });
    }
    let tag_name = &text[start + 1..name_end];
    let mut rewritten = format!("<{tag_name}");
    let mut removed = Vec::new();
    for Attribute { separator, value } in attributes {
        let (html, written) = match value {
            AttributeValue::Html { name, rest: "" } => (Some(html_attribute_name(name).to_string()), ""),
            AttributeValue::Html { name, rest } => (Some(format!("{}={rest}", html_attribute_name(name))), ""),
            AttributeValue::Jsx { name, expression, at } => {
                let html = match (name, jsx_value(expression)) {
                    (Some(name), JsxValue::Text(value)) => Some(format!(
                        "{}=\"{}\"",
                        html_attribute_name(name),
                        value.replace('&', "&amp;").replace('"', "&quot;")
                    )),
                    (Some(name), JsxValue::Present) => Some(html_attribute_name(name).to_string()),
                    (Some(_), JsxValue::Absent | JsxValue::Object) => None,
                    (name, _) => {
                        let message = javascript_removed(name, expression, tag_name);
                        removed.push(RemovedExpression { offset: at, message });
                        None
                    }
                };
                (html, expression)
            }
        };
        // The line breaks of what is not written again stay in the tag,
        // each before `data-jsx`, an attribute that means nothing (the
        // sanitiser removes it): lines keep their numbers, and no line in
        // the tag is left blank, which would end it in Markdown.
        let gone = written.matches('\n').count() + if html.is_none() { separator.matches('\n').count() } else { 0 };
        if let Some(html) = html {
            rewritten.push_str(if separator.is_empty() { " " } else { separator });
            rewritten.push_str(&html);
        }
        rewritten.push_str(&"\ndata-jsx".repeat(gone));
    }
    rewritten.push_str(closing_separator);
    rewritten.push_str(if self_closing { "/>" } else { ">" });
    Some(JsxTag { end, rewritten: Some(rewritten), removed })
}

/// The warning for a JSX expression removed from a tag.
fn javascript_removed(attribute: Option<&str>, expression: &str, tag: &str) -> String {
    let written = expression.split_whitespace().collect::<Vec<_>>().join(" ");
    match attribute {
        Some(name) => format!(
            "`{{{written}}}` in attribute `{name}` of <{tag}> is JavaScript, which only the blog's site runs; attribute removed"
        ),
        None => format!("`{{{written}}}` in <{tag}> is JavaScript, which only the blog's site runs; removed"),
    }
}

/// The HTML name of a JSX attribute name (`className` → `class`).
fn html_attribute_name(name: &str) -> &str {
    JSX_ATTRIBUTES
        .iter()
        .find(|(jsx, _)| jsx.trim_end_matches('=') == name)
        .map_or(name, |(_, html)| html.trim_end_matches('='))
}

/// The index after the `}` that closes the `{` at `start`, reading the
/// JavaScript between: strings, template literals and comments may hold
/// braces. `None` when nothing closes it.
fn expression_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            quote @ (b'"' | b'\'' | b'`') => {
                index += 1;
                while bytes.get(index)? != &quote {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                index += memchr::memchr(b'\n', &bytes[index..])?;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index += 2 + memchr::memmem::find(&bytes[index + 2..], b"*/")? + 1;
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// What a JSX attribute's expression gives HTML.
enum JsxValue {
    /// A string or number: the attribute's text.
    Text(String),
    /// `true`: the attribute, without a value.
    Present,
    /// `false`, `null`, `undefined`: no attribute.
    Absent,
    /// An object literal (`{{ … }}`): styles, for the site's React.
    Object,
    /// Anything else: JavaScript only the site can run.
    Code,
}

fn jsx_value(expression: &str) -> JsxValue {
    let expression = expression.trim();
    if expression.starts_with('{') {
        return JsxValue::Object;
    }
    match expression {
        "true" => return JsxValue::Present,
        "false" | "null" | "undefined" => return JsxValue::Absent,
        _ => {}
    }
    let number = expression.strip_prefix('-').unwrap_or(expression);
    if !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|b| *b == b'.').count() <= 1
    {
        return JsxValue::Text(expression.to_string());
    }
    string_literal(expression).map_or(JsxValue::Code, JsxValue::Text)
}

/// The text of a JavaScript string literal that is the whole of
/// `expression` (`"a"`, `'a'`, or a template without `${`).
fn string_literal(expression: &str) -> Option<String> {
    let quote = expression.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let inner = expression.strip_prefix(quote)?.strip_suffix(quote)?;
    if quote == '`' && inner.contains("${") {
        return None;
    }
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                other => text.push(other),
            },
            c if c == quote => return None,
            c => text.push(c),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsx(text: &str) -> Option<(String, Vec<RemovedExpression>)> {
        let rewritten = jsx_attribute_values(text);
        if let Some((out, _)) = &rewritten {
            assert_eq!(out.lines().count(), text.lines().count(), "lines kept:\n{text}\n{out}");
        }
        rewritten
    }

    /// Issue 14: babel's CVE post; CommonMark cannot read the tag, which
    /// was printed as text. The object's line breaks stay in the tag, each
    /// before a `data-jsx` that the sanitiser removes: the lines after it
    /// keep their numbers, and no line of spaces (a blank line, which ends
    /// a tag in Markdown) is left inside it.
    #[test]
    fn an_object_value_spanning_lines_is_removed_and_its_lines_kept() {
        let text = "Text.\n\n<img alt=\"😁\" src=\"/assets/x/success.jpg\" style={{\n  display: \"block\",\n  width: \"50%\"\n}} /> after\n\n### Next\n";
        let (out, removed) = jsx(text).unwrap();
        assert_eq!(
            out,
            "Text.\n\n<img alt=\"😁\" src=\"/assets/x/success.jpg\"\ndata-jsx\ndata-jsx\ndata-jsx /> after\n\n### Next\n"
        );
        assert!(removed.is_empty());
        let text =
            "<iframe\n  height=\"750\"\n  allowFullScreen={true}\n  className=\"codepen\">\n  See the Pen{' '}\n";
        assert_eq!(
            jsx(text).unwrap().0,
            "<iframe\n  height=\"750\"\n  allowfullscreen\n  class=\"codepen\">\n  See the Pen{' '}\n"
        );
    }

    /// react-native's Doctor post: a `style` alone on the last line of a
    /// `<video>` in a `<p>` block. Had its line break moved after the tag,
    /// the blank line would have ended the block and made the indented
    /// `<source>` below it a code block.
    #[test]
    fn the_html_around_a_rewritten_tag_stays_html() {
        let text = "<p style={{textAlign: 'center'}}>\n  <video\n    width={700}\n    autoPlay\n    style={{borderRadius: 5}}>\n    <source\n      type=\"video/mp4\"\n      src=\"/v.mp4\"\n    />\n  </video>\n</p>\n";
        let (out, _) = jsx(text).unwrap();
        assert_eq!(
            out,
            "<p>\n  <video\n    width=\"700\"\n    autoPlay\ndata-jsx>\n    <source\n      type=\"video/mp4\"\n      src=\"/v.mp4\"\n    />\n  </video>\n</p>\n"
        );
        let events = crate::markdown::parse(&out);
        assert!(
            events.iter().all(|(event, _)| matches!(
                event,
                pulldown_cmark::Event::Html(_)
                    | pulldown_cmark::Event::Start(pulldown_cmark::Tag::HtmlBlock)
                    | pulldown_cmark::Event::End(pulldown_cmark::TagEnd::HtmlBlock)
            )),
            "{events:?}"
        );
    }

    #[test]
    fn strings_numbers_and_booleans_become_html_values() {
        let text = r#"<img src="/a.png" width={280} alt={"A \"quote\" & more"} data-x={'y'} title={`t`} hidden={false} allowFullScreen={true} className="c" />"#;
        let (out, removed) = jsx(text).unwrap();
        assert_eq!(
            out,
            r#"<img src="/a.png" width="280" alt="A &quot;quote&quot; &amp; more" data-x="y" title="t" allowfullscreen class="c" />"#
        );
        assert!(removed.is_empty());
    }

    #[test]
    fn other_expressions_are_removed_and_named() {
        let text = "A <div tabIndex={OFFSET + 1} {...props} id=\"k\">b</div> <p title={`${x}`}>";
        let (out, removed) = jsx(text).unwrap();
        assert_eq!(out, "A <div id=\"k\">b</div> <p>");
        let named: Vec<(usize, &str)> = removed.iter().map(|r| (r.offset, r.message.as_str())).collect();
        assert_eq!(
            named,
            [
                (
                    7,
                    "`{OFFSET + 1}` in attribute `tabIndex` of <div> is JavaScript, which only the blog's site runs; attribute removed"
                ),
                (29, "`{...props}` in <div> is JavaScript, which only the blog's site runs; removed"),
                (
                    58,
                    "`{`${x}`}` in attribute `title` of <p> is JavaScript, which only the blog's site runs; attribute removed"
                ),
            ]
        );
    }

    #[test]
    fn code_and_text_that_is_no_tag_are_left_alone() {
        let code = "```jsx\n<div style={{a: 1}}>\n```\n\n> ~~~\n> <b x={y}>\n> ~~~\n\nUse `<i style={{}}>` or ``<b x={`}`}>``.\n\n    <div style={{}}>\n\n        <p x={1}>\n";
        assert_eq!(jsx(code), None);
        assert_eq!(jsx("a={b} and <https://x.org/?q={a}> and 1 <2 x={3}"), None);
        // A blank line ends a tag in Markdown.
        assert_eq!(jsx("<img src={\"a\"}\n\n alt=\"x\">"), None);
        // Not code: an indented line that continues a paragraph.
        assert!(jsx("Text\n    <b x={1}>bold</b>").is_some());
    }

    proptest::proptest! {
        /// Whatever the text, the rewrite never panics, keeps the line
        /// count, and leaves text with no tag to rewrite as it is.
        #[test]
        fn any_text_keeps_its_lines(text in "([a-z ]{0,3}|[<>{}=\"'`/\\\n.-]|é|\\{\\{|=\\{|<img |<div style=\\{\\{|\\}\\}|\n\n|    |```|\\.\\.\\.){0,60}") {
            if let Some((out, _)) = jsx_attribute_values(&text) {
                proptest::prop_assert_eq!(out.matches('\n').count(), text.matches('\n').count(), "{:?} -> {:?}", text, out);
            }
        }
    }
}
