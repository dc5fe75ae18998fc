//! MDX-lite: the subset of MDX that real Docusaurus blogs use, turned into
//! plain Markdown before parsing.
//!
//! `import`/`export` lines and `{/* … */}` comments are dropped, admonitions
//! (`:::note Title … :::`) become a labelled blockquote, and JSX attribute
//! names on HTML tags are normalised (`className` → `class`). Everything is
//! line-preserving, so positions in the result are positions in the file.
//! Fenced code is left exactly as written. Anything else passes through: the
//! sanitiser later reduces unknown components to their children.
//!
//! JSX attribute values (`style={{…}}`, `width={280}`) are rewritten by
//! [`super::jsx`], in `.md` posts too.

/// JSX attribute spellings and their HTML names.
pub(super) const JSX_ATTRIBUTES: [(&str, &str); 6] = [
    ("className=", "class="),
    ("frameBorder=", "frameborder="),
    ("allowFullScreen", "allowfullscreen"),
    ("htmlFor=", "for="),
    ("srcSet=", "srcset="),
    ("tabIndex=", "tabindex="),
];

/// Rewrites MDX-lite source to Markdown with the same number of lines.
pub fn to_markdown(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 64);
    let mut fence: Option<(char, usize)> = None;
    let mut admonition_depth = 0usize;
    let mut skipping_module_line = false;
    let mut export_braces = 0i32;
    let lines: Vec<&str> = source.split('\n').collect();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let prefix = "> ".repeat(admonition_depth);
        if let Some((fence_char, fence_len)) = fence {
            if closes_fence(line, fence_char, fence_len) {
                fence = None;
            }
            push_prefixed(&mut out, &prefix, line);
            continue;
        }
        if skipping_module_line {
            export_braces += brace_balance(line);
            skipping_module_line = !module_statement_ends(line, export_braces);
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(opened) = opens_fence(trimmed) {
            fence = Some(opened);
            push_prefixed(&mut out, &prefix, line);
            continue;
        }
        if admonition_depth == 0 && (line.starts_with("import ") || line.starts_with("export ")) {
            export_braces = brace_balance(line);
            skipping_module_line = !module_statement_ends(line, export_braces);
            continue;
        }
        if let Some(label) = admonition_open(trimmed) {
            admonition_depth += 1;
            let next_has_text = lines.get(index + 1).is_some_and(|next| {
                let next = next.trim();
                !next.is_empty() && !next.starts_with(":::")
            });
            let prefix = "> ".repeat(admonition_depth);
            out.push_str(&prefix);
            out.push_str("**");
            out.push_str(&escape_markdown(&label));
            out.push_str("**");
            if next_has_text {
                out.push('\\');
            }
            continue;
        }
        if admonition_depth > 0 && is_admonition_close(trimmed) {
            admonition_depth -= 1;
            continue;
        }
        let line = normalise_jsx(&drop_mdx_comments(line));
        push_prefixed(&mut out, &prefix, &line);
    }
    // Comments that span lines are removed in a second pass that keeps the newlines.
    drop_multiline_comments(&out)
}

fn push_prefixed(out: &mut String, prefix: &str, line: &str) {
    if prefix.is_empty() {
        out.push_str(line);
    } else if line.trim().is_empty() {
        out.push_str(prefix.trim_end());
    } else {
        out.push_str(prefix);
        out.push_str(line);
    }
}

pub(super) fn opens_fence(trimmed: &str) -> Option<(char, usize)> {
    let fence_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = trimmed.chars().take_while(|c| *c == fence_char).count();
    (len >= 3).then_some((fence_char, len))
}

pub(super) fn closes_fence(line: &str, fence_char: char, fence_len: usize) -> bool {
    let trimmed = line.trim();
    let len = trimmed.chars().take_while(|c| *c == fence_char).count();
    len >= fence_len && trimmed.chars().all(|c| c == fence_char)
}

fn brace_balance(line: &str) -> i32 {
    line.chars().map(|c| matches!(c, '{' | '(' | '[') as i32 - matches!(c, '}' | ')' | ']') as i32).sum()
}

/// Whether an `import`/`export` statement is complete after this line.
fn module_statement_ends(line: &str, open_brackets: i32) -> bool {
    let trimmed = line.trim_end();
    open_brackets <= 0
        && (trimmed.ends_with(';') || trimmed.contains(" from ") || !trimmed.ends_with(['{', ',', '(', '[', '=']))
}

/// The label of an admonition opening line: `:::note`, `:::tip Title`, `:::info[Title]`.
fn admonition_open(trimmed: &str) -> Option<String> {
    let rest = trimmed.strip_prefix(":::")?.trim_start_matches(':');
    let kind_len = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').count();
    if kind_len == 0 {
        return None;
    }
    let kind = &rest[..kind_len];
    let title = rest[kind_len..].trim();
    let title = title.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(title).trim();
    let mut label: String = kind.chars().next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    label.push_str(&kind[1..]);
    Some(if title.is_empty() { label } else { format!("{label}: {title}") })
}

fn is_admonition_close(trimmed: &str) -> bool {
    trimmed.len() >= 3 && trimmed.chars().all(|c| c == ':')
}

fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '_' | '`' | '[' | ']' | '<' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Removes `{/* … */}` comments that open and close on one line (not the
/// truncate marker, which the excerpt cut looks for) and are not inside inline code.
fn drop_mdx_comments(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("{/*") {
        let Some(end) = rest[start..].find("*/}") else {
            break;
        };
        let comment = &rest[start..start + end + 3];
        let in_code = rest[..start].matches('`').count() % 2 == 1;
        out.push_str(&rest[..start]);
        if in_code || is_truncate_comment(comment) {
            out.push_str(comment);
        } else {
            out.push_str(&" ".repeat(comment.chars().count()));
        }
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    out
}

/// Removes a `{/*` … `*/}` comment spanning lines, keeping the line breaks.
fn drop_multiline_comments(text: &str) -> String {
    if !text.contains("{/*") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{/*") {
        let Some(end) = rest[start..].find("*/}") else {
            break;
        };
        let comment = &rest[start..start + end + 3];
        out.push_str(&rest[..start]);
        if !comment.contains('\n') || is_in_fence(&out) {
            out.push_str(comment);
        } else {
            out.extend(comment.chars().filter(|c| *c == '\n'));
        }
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    out
}

fn is_in_fence(text_before: &str) -> bool {
    let mut fence: Option<(char, usize)> = None;
    for line in text_before.lines() {
        let trimmed = line.trim_start().trim_start_matches("> ");
        match fence {
            Some((c, n)) if closes_fence(trimmed, c, n) => fence = None,
            Some(_) => {}
            None => fence = opens_fence(trimmed),
        }
    }
    fence.is_some()
}

/// Whether a `{/* … */}` comment is the MDX truncate marker.
pub fn is_truncate_comment(text: &str) -> bool {
    let inner = text.trim();
    let Some(inner) = inner.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return false;
    };
    let Some(inner) = inner.trim().strip_prefix("/*").and_then(|t| t.strip_suffix("*/")) else {
        return false;
    };
    inner.trim() == "truncate"
}

/// Normalises JSX attribute names inside HTML tags on this line.
fn normalise_jsx(line: &str) -> String {
    if !line.contains('<') || !JSX_ATTRIBUTES.iter().any(|(jsx, _)| line.contains(jsx)) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    let mut in_code = false;
    let mut index = 0;
    while index < line.len() {
        let rest = &line[index..];
        let c = rest.chars().next().expect("index is in bounds");
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && c == '<' && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            in_tag = true;
        } else if c == '>' {
            in_tag = false;
        } else if in_tag && let Some((jsx, html)) = JSX_ATTRIBUTES.iter().find(|(jsx, _)| rest.starts_with(jsx)) {
            out.push_str(html);
            index += jsx.len();
            continue;
        }
        out.push(c);
        index += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_imports_and_keeps_line_count() {
        let source = "import Tabs from '@theme/Tabs';\nimport {\n  A,\n} from 'x';\n\nText";
        let out = to_markdown(source);
        assert_eq!(out.lines().count(), source.lines().count());
        assert_eq!(out.trim(), "Text");
    }

    #[test]
    fn admonitions_become_labelled_blockquotes() {
        let out = to_markdown(":::tip Upgrade today\nRun it.\n\nAgain.\n:::\nAfter");
        assert_eq!(out, "> **Tip: Upgrade today**\\\n> Run it.\n>\n> Again.\n\nAfter");
        assert_eq!(to_markdown(":::note[Heads up]\n\nX\n:::"), "> **Note: Heads up**\n>\n> X\n");
    }

    #[test]
    fn comments_go_but_the_truncate_marker_and_code_stay() {
        let out = to_markdown("a {/* hidden */} b\n{/* truncate */}\n```\n{/* code */}\n```");
        let blank = " ".repeat("{/* hidden */}".len());
        assert_eq!(out, format!("a {blank} b\n{{/* truncate */}}\n```\n{{/* code */}}\n```"));
        let out = to_markdown("x\n{/* one\ntwo */}\ny");
        assert_eq!(out, "x\n\n\ny");
    }

    #[test]
    fn jsx_attribute_names_are_normalised_only_in_tags() {
        let out = to_markdown("<iframe frameBorder=\"0\" allowFullScreen></iframe> `className=`");
        assert_eq!(out, "<iframe frameborder=\"0\" allowfullscreen></iframe> `className=`");
    }

    #[test]
    fn fenced_code_is_left_alone() {
        let source = "```js\nimport x from 'y';\n:::note\n```";
        assert_eq!(to_markdown(source), source);
    }
}
