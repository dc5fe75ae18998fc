//! Splitting a post into its YAML front matter and its Markdown body.
//!
//! Positions are kept so every problem can be reported at its line and column
//! in the original file: the front matter starts on line 2 (after `---`), the
//! body on the line after the closing `---`.

use serde_yaml::{Mapping, Value};

/// A post's text split in two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The YAML between the `---` lines (empty when the post has none).
    pub yaml: &'a str,
    /// The 1-based file line the YAML starts on.
    pub yaml_line: usize,
    /// The Markdown after the front matter.
    pub body: &'a str,
    /// The 1-based file line the body starts on.
    pub body_line: usize,
}

/// Where front matter splitting failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed;

/// Splits `text` (already without BOM and with `\n` line ends) at its `---` fences.
/// A text that does not start with `---` has no front matter.
pub fn split(text: &str) -> Result<Split<'_>, Unclosed> {
    let Some(first_line_end) = text.find('\n') else {
        return if is_fence(text) { Err(Unclosed) } else { Ok(no_front_matter(text)) };
    };
    if !is_fence(&text[..first_line_end]) {
        return Ok(no_front_matter(text));
    }
    let yaml_start = first_line_end + 1;
    let mut offset = yaml_start;
    for (line, raw) in (2..).zip(text[yaml_start..].split_inclusive('\n')) {
        let content = raw.strip_suffix('\n').unwrap_or(raw);
        if is_fence(content) || content.trim_end() == "..." {
            let body_start = offset + raw.len();
            return Ok(Split {
                yaml: &text[yaml_start..offset],
                yaml_line: 2,
                body: &text[body_start.min(text.len())..],
                body_line: line + 1,
            });
        }
        offset += raw.len();
    }
    Err(Unclosed)
}

fn no_front_matter(text: &str) -> Split<'_> {
    Split { yaml: "", yaml_line: 1, body: text, body_line: 1 }
}

fn is_fence(line: &str) -> bool {
    line.trim_end() == "---"
}

/// Parses front matter YAML into a mapping. Empty YAML is an empty mapping.
pub fn parse_mapping(yaml: &str) -> Result<Mapping, serde_yaml::Error> {
    if yaml.trim().is_empty() {
        return Ok(Mapping::new());
    }
    match serde_yaml::from_str::<Value>(yaml)? {
        Value::Mapping(mapping) => Ok(mapping),
        Value::Null => Ok(Mapping::new()),
        _ => serde_yaml::from_str::<Mapping>(yaml),
    }
}

/// Text from a YAML scalar: strings as they are, numbers and booleans as
/// written (a title `1.0` is text to the reader, not a float).
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(strip_xml_invalid(s).into_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        _ => None,
    }
}

/// Removes characters XML 1.0 cannot carry (C0 controls other than tab and
/// line ends, U+FFFE, U+FFFF): YAML escapes such as `"\u0007"` would
/// otherwise make every feed that shows the text malformed.
pub fn strip_xml_invalid(text: &str) -> std::borrow::Cow<'_, str> {
    if may_hold_xml_invalid(text) && text.contains(is_xml_invalid) {
        text.chars().filter(|c| !is_xml_invalid(*c)).collect::<String>().into()
    } else {
        text.into()
    }
}

/// A fast, byte-wise test that is true whenever [`is_xml_invalid`] matches
/// a character of `text`: control characters are single bytes below 0x20 in
/// UTF-8, and U+FFFE and U+FFFF begin with the byte 0xEF. It reads 64 bytes
/// at a time without branching, so the compiler vectorises it; every post
/// passes through it.
fn may_hold_xml_invalid(text: &str) -> bool {
    let suspect = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) | (b == 0xEF);
    text.as_bytes().chunks(64).any(|chunk| chunk.iter().fold(false, |found, &b| found | suspect(b)))
}

/// Whether XML 1.0 cannot carry this character.
pub fn is_xml_invalid(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_front_matter_and_counts_lines() {
        let s = split("---\ntitle: A\n---\n\nBody\n").unwrap();
        assert_eq!(s.yaml, "title: A\n");
        assert_eq!(s.body, "\nBody\n");
        assert_eq!(s.body_line, 4);
    }

    #[test]
    fn no_front_matter_is_all_body() {
        let s = split("# Title\n\ntext").unwrap();
        assert_eq!(s.yaml, "");
        assert_eq!(s.body_line, 1);
    }

    #[test]
    fn unclosed_front_matter_is_an_error() {
        assert_eq!(split("---\ntitle: A\n"), Err(Unclosed));
        assert_eq!(split("---"), Err(Unclosed));
    }

    #[test]
    fn control_characters_xml_cannot_carry_are_removed() {
        assert_eq!(scalar_text(&Value::String("Bell \u{7} tab\t".into())).unwrap(), "Bell  tab\t");
    }

    #[test]
    fn the_fast_test_never_misses_a_character_xml_cannot_carry() {
        for code in (0..0x80).chain([0xFFFD, 0xFFFE, 0xFFFF, 0xEFFF, 0x10FFFF]) {
            let c = char::from_u32(code).unwrap();
            let text = format!("{}{c}{}", "a".repeat(70), "b".repeat(3));
            assert!(!is_xml_invalid(c) || may_hold_xml_invalid(&text), "U+{code:04X}");
            assert_eq!(strip_xml_invalid(&text).contains(c), !is_xml_invalid(c), "U+{code:04X}");
        }
    }

    #[test]
    fn empty_front_matter_is_an_empty_mapping() {
        let s = split("---\n---\nx").unwrap();
        assert!(parse_mapping(s.yaml).unwrap().is_empty());
    }
}
