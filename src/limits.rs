//! The limits newsroom puts on what it reads, in one place: how large an
//! input file may be, and how deep a post may nest. Each is there so that a
//! mistake or an attack (a huge file, a pathological post) is refused with
//! a message instead of exhausting memory or stalling a build.

/// A post file larger than this is refused (a mistake, or an attack, not a post).
pub const MAX_POST_BYTES: u64 = 4 * 1024 * 1024;

/// A configuration file larger than this is refused before it is parsed.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A subscriber file larger than this is refused before it is read: 512 MiB
/// is millions of rows, far beyond any list newsroom is meant for, and a
/// bigger file is almost certainly the wrong one.
pub const MAX_SUBSCRIBER_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Blockquote levels on one line beyond which a post is refused. Real posts
/// use a handful; parsing and sanitising grow faster than linearly with
/// depth, so a pathological post would stall the build instead of failing.
pub const MAX_QUOTE_DEPTH: usize = 100;
/// Open HTML elements (approximate, counted on the raw text) beyond which a post is refused.
pub const MAX_HTML_DEPTH: usize = 1000;

/// Elements that never take a closing tag.
const VOID_ELEMENTS: [&str; 14] =
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param"];

/// Finds nesting deep enough to stall rendering: the byte offset and a message.
pub fn excessive_nesting(source: &str) -> Option<(usize, String)> {
    // Depth only grows at a `>` (quotes) or a `<` (elements): a text with
    // few of them cannot nest too deep, and most posts are settled by this
    // count (branch-free, 128 bytes at a time) without the scans below.
    let (quotes, angles) = source.as_bytes().chunks(128).fold((0usize, 0usize), |(q, a), chunk| {
        // Byte-wide counters (a chunk has at most 128 matches) keep the loop in SIMD lanes.
        let count = |byte: u8| chunk.iter().fold(0u8, |n, &b| n + u8::from(b == byte));
        (q + usize::from(count(b'>')), a + usize::from(count(b'<')))
    });
    if quotes <= MAX_QUOTE_DEPTH && angles <= MAX_HTML_DEPTH {
        return None;
    }
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let depth = line
            .trim_start()
            .bytes()
            .take_while(|b| *b == b'>' || *b == b' ' || *b == b'\t')
            .filter(|b| *b == b'>')
            .count();
        if depth > MAX_QUOTE_DEPTH {
            return Some((offset, format!("blockquotes nest {depth} levels deep; the limit is {MAX_QUOTE_DEPTH}")));
        }
        offset += line.len();
    }
    let bytes = source.as_bytes();
    let mut depth: usize = 0;
    let mut index = 0;
    while let Some(at) = bytes[index..].iter().position(|b| *b == b'<') {
        let start = index + at;
        index = start + 1;
        let closing = bytes.get(index) == Some(&b'/');
        let name_start = if closing { index + 1 } else { index };
        let name_len =
            bytes[name_start..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.').count();
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            continue;
        }
        let name = &source[name_start..name_start + name_len];
        let tag_end = bytes[name_start..].iter().position(|b| *b == b'>').map(|p| name_start + p);
        let self_closing = tag_end.is_some_and(|end| end > 0 && bytes[end - 1] == b'/');
        if self_closing || VOID_ELEMENTS.iter().any(|void| void.eq_ignore_ascii_case(name)) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            if depth > MAX_HTML_DEPTH {
                return Some((start, format!("HTML elements nest more than {MAX_HTML_DEPTH} levels deep")));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathological_nesting_is_found_and_real_nesting_is_not() {
        assert!(excessive_nesting(&"> ".repeat(101)).is_some());
        assert!(excessive_nesting(&format!("{}x{}", "<div>".repeat(1001), "</div>".repeat(1001))).is_some());
        let fine = format!("{}x{}\n\n> > quoted\n<img src=a><br/>", "<div>".repeat(50), "</div>".repeat(50));
        assert_eq!(excessive_nesting(&fine), None);
    }
}
