//! Positions in YAML text: where a key's value is, and serde_yaml's errors
//! turned into `line:col` plus a hint for the mistakes people make most.
//!
//! serde_yaml's values carry no positions, so the errors newsroom finds
//! after parsing (a bad URL, an impossible date) are placed by finding the
//! key in the text. Every file newsroom reads YAML from (`newsroom.yaml`,
//! front matter, `authors.yml`, `templates/digest.md`) uses these, so their
//! messages read alike. A leaf: it knows nothing of newsroom's files.

/// The 1-based position and the bare message of a serde_yaml error, with a
/// hint where the cause is a common one (see [`hint`]). `text` is the YAML
/// the error is about and `first_line` the file line it starts on, so
/// positions mentioned inside the message ("while parsing … at line 1") are
/// file lines too.
pub fn error_parts(error: &serde_yaml::Error, text: &str, first_line: usize) -> (usize, usize, String) {
    let mut message = error.to_string();
    let position = match error.location() {
        Some(location) => {
            let suffix = format!(" at line {} column {}", location.line(), location.column());
            if let Some(at) = message.rfind(&suffix) {
                message.replace_range(at..at + suffix.len(), "");
            }
            (location.line(), location.column())
        }
        None => (1, 1),
    };
    let (line, column) = match tab_indented_line(text) {
        // The scanner reports a tab where it gives up, often a line late;
        // the tab itself is the thing to fix.
        Some(tab_line) if message.contains("cannot start any token") || message.contains("tab") => (tab_line, 1),
        _ => position,
    };
    let message = shift_line_numbers(&message, first_line - 1);
    let message = match hint(&message, text, line) {
        Some(hint) => format!("{message} ({hint})"),
        None => message,
    };
    (line + first_line - 1, column, message)
}

/// A plain-words hint for a YAML syntax error on `line` (1-based in `text`).
fn hint(message: &str, text: &str, line: usize) -> Option<&'static str> {
    if tab_indented_line(text).is_some() && (message.contains("cannot start any token") || message.contains("tab")) {
        return Some("YAML does not allow tabs for indentation; use spaces");
    }
    if message.starts_with("mapping values are not allowed") {
        let source_line = text.lines().nth(line.checked_sub(1)?)?;
        // `key: value` whose value holds another `: `: the value needs quotes.
        let value = source_line.trim_start().split_once(": ").map(|(_, value)| value)?;
        return Some(if value.contains(": ") || value.ends_with(':') {
            "the value contains `: `; quote the value, e.g. key: \"Name: more\""
        } else {
            "check this line's indentation against the lines above it"
        });
    }
    None
}

/// The first line (1-based) indented with a tab, if any.
fn tab_indented_line(text: &str) -> Option<usize> {
    text.lines().position(|line| line.starts_with('\t')).map(|index| index + 1)
}

/// Adds `offset` to every "line N" in a YAML parser message.
fn shift_line_numbers(message: &str, offset: usize) -> String {
    if offset == 0 {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(line) => out.push_str(&(line + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The position of a `key:`'s value in YAML text, found by its first
/// occurrence at the start of a line (optionally indented).
pub fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(index, line)| value_column(line, key).map(|column| (index + 1, column)))
}

/// The position of `section.key`'s value: the first `key:` line indented
/// under the top-level `section:` line, before the next top-level key.
/// With `key` empty, the position of the `section:` line itself.
pub fn section_key_position(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let mut lines = text.lines().enumerate();
    let (section_index, section_line) = lines.find(|(_, line)| value_column(line, section).is_some())?;
    if key.is_empty() {
        return Some((section_index + 1, 1));
    }
    // A flow mapping on the section's line (`digest: { from: x }`) has no
    // line of its own per key: the section's line is the best place.
    if section_line.contains('{') {
        return Some((section_index + 1, value_column(section_line, section)?));
    }
    for (index, line) in lines {
        if is_top_level_key(line) {
            break;
        }
        if let Some(column) = value_column(line, key) {
            return Some((index + 1, column));
        }
    }
    None
}

/// Whether a line starts a top-level mapping key (`key:` at column 1).
pub fn is_top_level_key(line: &str) -> bool {
    line.starts_with(|c: char| !c.is_whitespace() && c != '#' && c != '-')
        && line.split_once(':').is_some_and(|(key, _)| !key.contains(' ') || key.starts_with(['"', '\'']))
}

/// The 1-based character column where `key:`'s value starts on `line`.
fn value_column(line: &str, key: &str) -> Option<usize> {
    let value = line.trim_start().strip_prefix(key)?.trim_start().strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    let value_offset = line.len() - value.trim_start().len();
    Some(line[..value_offset].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (usize, usize, String) {
        let error = serde_yaml::from_str::<serde_yaml::Value>(text).unwrap_err();
        error_parts(&error, text, 1)
    }

    #[test]
    fn an_unquoted_colon_in_a_value_says_to_quote_it() {
        let (line, column, message) = parts("digest:\n  from: Lantern: News <a@b.org>\n");
        assert_eq!((line, column), (2, 16));
        assert!(message.ends_with("(the value contains `: `; quote the value, e.g. key: \"Name: more\")"), "{message}");
        let (line, _, message) = parts("site:\n  title: x\n   url: y\n");
        assert_eq!(line, 3);
        assert!(message.contains("indentation"), "{message}");
    }

    #[test]
    fn a_tab_is_pointed_at_with_a_hint() {
        let (line, column, message) = parts("site:\n  title: x\n\turl: y\n");
        assert_eq!((line, column), (3, 1));
        assert!(message.contains("use spaces"), "{message}");
    }

    #[test]
    fn keys_are_found_in_their_section() {
        let text = "site:\n  title: T\n  url: https://a.org\ndigest:\n  url: x\n  from: \"A <a@b.org>\"\nposts: p\n";
        assert_eq!(section_key_position(text, "digest", "url"), Some((5, 8)));
        assert_eq!(section_key_position(text, "site", "url"), Some((3, 8)));
        assert_eq!(section_key_position(text, "site", "from"), None);
        assert_eq!(section_key_position(text, "digest", ""), Some((4, 1)));
        assert_eq!(section_key_position("digest: { from: x }\n", "digest", "from"), Some((1, 9)));
        assert_eq!(key_position(text, "posts"), Some((7, 8)));
        // `urls:` is not `url:`.
        assert_eq!(key_position("urls: a\nurl: b\n", "url"), Some((2, 6)));
    }
}
