//! Body encoding for digest parts: the same bytes as lettre's `Body::new`,
//! in linear time.
//!
//! lettre 0.11.23 turns `\n` into `\r\n` by inserting one `\r` at a time
//! (quadratic in the number of lines) and quoted-printable-encodes through
//! `quoted_printable` 0.5, which builds a `String` char by char. On a 10 KB
//! digest that was most of the CPU time of a message. Here the encoding is
//! chosen by the very function lettre calls (`email_encoding`'s
//! `Encoding::choose`), line ends are converted in one pass, and
//! quoted-printable is a byte-level copy of `quoted_printable::encode`'s
//! algorithm: the same runs, the same soft breaks (including its rule of
//! moving the last unit to the next line when a line is exactly full), the
//! same encoded trailing space or tab. The unit tests and a property test
//! compare the output with lettre's byte for byte. Base64 (a mostly non-ASCII
//! part) is rare for a digest and is left to lettre.

use email_encoding::body::Encoding;
use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

use super::template::Slot;

/// The longest encoded line `quoted_printable::encode` writes, soft break excluded.
const LINE_LIMIT: usize = 76;

/// Encodes a text part exactly as `lettre::message::Body::new(text.to_string())` does.
pub fn text_body(text: &str) -> Body {
    match Encoding::choose(text, false) {
        Encoding::SevenBit => Body::dangerous_pre_encoded(crlf(text.as_bytes()), ContentTransferEncoding::SevenBit),
        Encoding::QuotedPrintable => Body::dangerous_pre_encoded(
            quoted_printable(&crlf(text.as_bytes())),
            ContentTransferEncoding::QuotedPrintable,
        ),
        _ => Body::new(text.to_string()),
    }
}

/// `\r\n` line ends: a `\r` before every `\n` that has none (lettre's `in_place_crlf_line_endings`).
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 8);
    let mut start = 0;
    for (at, byte) in text.iter().enumerate() {
        if *byte == b'\n' && (at == 0 || text[at - 1] != b'\r') {
            out.extend_from_slice(&text[start..at]);
            out.push(b'\r');
            start = at;
        }
    }
    out.extend_from_slice(&text[start..]);
    out
}

fn needs_encoding(byte: u8) -> bool {
    !matches!(byte, b'\t' | b' '..=b'<' | b'>'..=b'~')
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Quoted-printable in text mode (`\r\n` stays a line break), byte for byte
/// what `quoted_printable::encode` returns.
fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut qp = Qp::new(Vec::with_capacity(input.len() + input.len() / 8 + 16));
    qp.feed(input);
    qp.finish();
    qp.out
}

/// The quoted-printable encoder's whole state: its output, where it is on
/// the current line, and where the last unit it appended starts. A snapshot
/// taken after a static prefix resumes exactly as if the prefix had just
/// been encoded.
#[derive(Debug, Clone)]
struct Qp {
    out: Vec<u8>,
    on_line: usize,
    /// Where the last appended unit starts: a full line moves it to the next one.
    backup: usize,
    was_cr: bool,
}

impl Qp {
    fn new(out: Vec<u8>) -> Qp {
        let backup = out.len();
        Qp { out, on_line: 0, backup, was_cr: false }
    }

    fn feed(&mut self, input: &[u8]) {
        let mut at = 0;
        while at < input.len() {
            let byte = input[at];
            at += 1;
            if self.was_cr {
                if byte == b'\n' {
                    self.trailing_space_tab();
                    self.out.extend_from_slice(b"\r\n");
                    self.on_line = 0;
                    self.was_cr = false;
                    continue;
                }
                self.append(b"=0D");
            }
            if byte == b'\r' {
                self.was_cr = true;
                continue;
            }
            self.was_cr = false;
            if LINE_LIMIT - self.on_line >= 3 && !needs_encoding(byte) {
                // A run of bytes that need no encoding, up to where a soft break must go.
                let max_run = LINE_LIMIT - self.on_line - 2;
                let start = at - 1;
                let end = input.len().min(start + max_run);
                let run = 1 + input[at..end].iter().position(|b| needs_encoding(*b)).unwrap_or(end - at);
                at = start + run;
                self.out.extend_from_slice(&input[start..at]);
                self.on_line += run;
                self.backup = self.out.len();
                continue;
            }
            match byte {
                b'\t' | b' '..=b'<' | b'>'..=b'~' => self.append(&[byte]),
                _ => self.append(&[b'=', HEX[(byte >> 4) as usize], HEX[(byte & 15) as usize]]),
            }
        }
    }

    /// The end of the input: a pending `\r`, or a trailing space or tab, is encoded.
    fn finish(&mut self) {
        if self.was_cr {
            self.append(b"=0D");
            self.was_cr = false;
        } else {
            self.trailing_space_tab();
        }
    }

    fn append(&mut self, unit: &[u8]) {
        if self.on_line + unit.len() > LINE_LIMIT {
            if self.on_line == LINE_LIMIT {
                self.on_line = self.out.len() - self.backup;
                self.out.splice(self.backup..self.backup, *b"=\r\n");
            } else {
                self.out.extend_from_slice(b"=\r\n");
                self.on_line = 0;
            }
        }
        self.out.extend_from_slice(unit);
        self.on_line += unit.len();
        self.backup = self.out.len() - unit.len();
    }

    /// A space or tab must not end an encoded line.
    fn trailing_space_tab(&mut self) {
        let unit: &[u8] = match self.out.last() {
            Some(b' ') => b"=20",
            Some(b'\t') => b"=09",
            _ => return,
        };
        self.on_line -= 1;
        self.out.pop();
        self.append(unit);
    }
}

/// What `Encoding::choose` looks at, for one line (without its `\n`).
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    len: usize,
    ascii: bool,
    /// Bytes outside tab and printable ASCII.
    escaping: usize,
}

impl Stats {
    fn of(bytes: &[u8]) -> Stats {
        Stats {
            len: bytes.len(),
            ascii: bytes.is_ascii(),
            escaping: bytes.iter().filter(|b| !matches!(b, b'\t' | b' '..=b'~')).count(),
        }
    }

    fn add(self, other: Stats) -> Stats {
        Stats { len: self.len + other.len, ascii: self.ascii && other.ascii, escaping: self.escaping + other.escaping }
    }
}

/// Both parts of a digest, prepared once (see [`PartSkeleton`]).
#[derive(Debug, Clone)]
pub struct Skeletons {
    pub html: PartSkeleton,
    pub text: PartSkeleton,
}

#[derive(Debug, Clone)]
enum Line {
    /// No slot: encoded once, both ways.
    Static { raw: Box<[u8]>, qp: Box<[u8]>, stats: Stats },
    /// The text before the first slot, encoded once (the encoder's state
    /// after it), and the rest of the line, filled and encoded per message.
    Slotted { prefix: Box<[u8]>, prefix_qp: Qp, prefix_stats: Stats, rest: String },
}

/// A part of the digest (HTML or text, with slots) prepared for fast per-subscriber
/// encoding: `Encoding::choose` and quoted-printable both work line by line (a
/// hard line break resets the encoder), so lines without a slot are encoded once
/// and only the lines with one are encoded per message, from the state after
/// their static prefix. [`PartSkeleton::body`] gives the same bytes as
/// [`text_body`] of the filled text, or `None` where that is not certain (then
/// the caller uses [`text_body`]).
#[derive(Debug, Clone)]
pub struct PartSkeleton {
    /// None when the part cannot be split safely (a `\r`, or slot markers that are not well-formed slots).
    lines: Option<Vec<Line>>,
}

impl PartSkeleton {
    pub fn new(template: &str) -> PartSkeleton {
        PartSkeleton { lines: Self::lines(template) }
    }

    fn lines(template: &str) -> Option<Vec<Line>> {
        use super::template::{SLOT_CLOSE, SLOT_OPEN};
        if template.contains('\r') {
            return None;
        }
        let mut lines = Vec::new();
        for line in template.split('\n') {
            // Every marker must be part of a well-formed slot on this line.
            let mut rest = line;
            while let Some(open) = rest.find([SLOT_OPEN, SLOT_CLOSE]) {
                let after = &rest[open..];
                let after = after.strip_prefix(SLOT_OPEN)?;
                let close = after.find(SLOT_CLOSE)?;
                let name = &after[..close];
                // A name that is no slot makes the part use the general path.
                Slot::parse(name)?;
                rest = &after[close + SLOT_CLOSE.len_utf8()..];
            }
            lines.push(match line.find(SLOT_OPEN) {
                None => {
                    let mut qp = Qp::new(Vec::new());
                    qp.feed(line.as_bytes());
                    qp.finish();
                    Line::Static { raw: line.as_bytes().into(), qp: qp.out.into(), stats: Stats::of(line.as_bytes()) }
                }
                Some(first) => {
                    let prefix = &line.as_bytes()[..first];
                    let mut prefix_qp = Qp::new(Vec::new());
                    prefix_qp.feed(prefix);
                    Line::Slotted {
                        prefix: prefix.into(),
                        prefix_qp,
                        prefix_stats: Stats::of(prefix),
                        rest: line[first..].to_string(),
                    }
                }
            });
        }
        Some(lines)
    }

    /// The encoded body of the part with its slots filled by `value`; `None`
    /// when the general path must be used (see [`PartSkeleton`]).
    pub fn body(&self, value: &dyn Fn(Slot) -> String) -> Option<Body> {
        let lines = self.lines.as_ref()?;
        let mut filled = Vec::new();
        let mut total = Stats { len: 0, ascii: true, escaping: 0 };
        let mut too_long = false;
        for (index, line) in lines.iter().enumerate() {
            let stats = match line {
                Line::Static { stats, .. } => *stats,
                Line::Slotted { prefix_stats, rest, .. } => {
                    let text = super::template::fill_slots(rest, value);
                    if text.contains(['\r', '\n']) {
                        return None;
                    }
                    let stats = prefix_stats.add(Stats::of(text.as_bytes()));
                    filled.push(text);
                    stats
                }
            };
            // email_encoding's line_too_long counts each line after the first with its `\n`.
            too_long |= stats.len + usize::from(index > 0) >= LINE_LIMIT;
            total = total.add(stats);
        }
        let newlines = lines.len() - 1;
        let (len, escaping) = (total.len + newlines, total.escaping + newlines);
        let encoding = if total.ascii && !too_long {
            ContentTransferEncoding::SevenBit
        } else if escaping <= len / 3 {
            ContentTransferEncoding::QuotedPrintable
        } else {
            return None;
        };
        let mut out = Vec::with_capacity(len + len / 16 + 64);
        let mut filled = filled.iter();
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(b"\r\n");
            }
            match (line, encoding) {
                (Line::Static { raw, .. }, ContentTransferEncoding::SevenBit) => out.extend_from_slice(raw),
                (Line::Static { qp, .. }, _) => out.extend_from_slice(qp),
                (Line::Slotted { prefix, .. }, ContentTransferEncoding::SevenBit) => {
                    out.extend_from_slice(prefix);
                    out.extend_from_slice(filled.next().expect("a filled line").as_bytes());
                }
                (Line::Slotted { prefix_qp, .. }, _) => {
                    let start = out.len();
                    out.extend_from_slice(&prefix_qp.out);
                    let mut qp = Qp {
                        out,
                        on_line: prefix_qp.on_line,
                        backup: start + prefix_qp.backup,
                        was_cr: prefix_qp.was_cr,
                    };
                    qp.feed(filled.next().expect("a filled line").as_bytes());
                    qp.finish();
                    out = qp.out;
                }
            }
        }
        Some(Body::dangerous_pre_encoded(out, encoding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_as_lettre(text: &str) {
        let ours = text_body(text);
        let theirs = Body::new(text.to_string());
        assert_eq!(ours.encoding(), theirs.encoding(), "encoding of {text:?}");
        assert_eq!(
            String::from_utf8_lossy(ours.as_ref()),
            String::from_utf8_lossy(theirs.as_ref()),
            "body of {text:?}"
        );
    }

    #[test]
    fn edge_cases_encode_as_lettre_does() {
        let long = "x".repeat(200);
        let cases = [
            "",
            "\n",
            "\n\n",
            "a\r\nb\nc\r",
            "short ascii",
            "trailing space \nand tab\t\nend ",
            "é",
            "caf\u{e9} = cr\u{e8}me",
            &format!("{long} é"),
            &format!("{}=\n{}", "y".repeat(73), "z".repeat(80)),
            &format!("{}é{}", "y".repeat(73), "z".repeat(80)),
            &format!("{}==é\t \r\n", "a".repeat(74)),
            &format!("{} \r", "b".repeat(75)),
            "lone\rcr é",
        ];
        for case in cases {
            same_as_lettre(case);
        }
        for width in 60..90 {
            for tail in [" ", "\t", "=", "é", "—", " \n", "=\n", "\r"] {
                same_as_lettre(&format!("{}{tail}{}é", "w".repeat(width), "v".repeat(width)));
                same_as_lettre(&format!("{}{tail}", "w".repeat(width)));
            }
        }
    }

    fn skeleton_same_as_lettre(template: &str, values: &[String; 4]) {
        let value = |slot: Slot| match slot {
            Slot::Greeting => values[0].clone(),
            Slot::Name => values[1].clone(),
            Slot::Email => values[2].clone(),
            Slot::UnsubscribeUrl => values[3].clone(),
        };
        let filled = crate::email::template::fill_slots(template, &value);
        let theirs = Body::new(filled.clone());
        if let Some(ours) = PartSkeleton::new(template).body(&value) {
            assert_eq!(ours.encoding(), theirs.encoding(), "encoding of {filled:?}");
            assert_eq!(
                String::from_utf8_lossy(ours.as_ref()),
                String::from_utf8_lossy(theirs.as_ref()),
                "body of {filled:?}"
            );
        } else {
            // The general path is taken only where the skeleton cannot be sure.
            let odd = PartSkeleton::new(template).lines.is_none() || values.iter().any(|v| v.contains(['\r', '\n']));
            assert!(odd || theirs.encoding() == ContentTransferEncoding::Base64, "no skeleton for {filled:?}");
        }
    }

    #[test]
    fn skeletons_encode_the_example_digest_as_lettre_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let site = crate::site::Site::open(root).unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let month = "2026-10".parse().unwrap();
        let digest = crate::digest::assemble::edition_digest(&site, &crate::digest::Edition::monthly(month), now)
            .unwrap()
            .digest
            .unwrap();
        let names = ["", "Ada", "Zoë Ünïcode", "x".repeat(70).as_str(), "a  b", "<b>&\"'"].map(str::to_string);
        for name in names {
            let values =
                [format!("Hi {name},"), name.clone(), "a+b@example.org".into(), "https://x.org/u?e=a%2Bb".into()];
            skeleton_same_as_lettre(&digest.text, &values);
            let escaped = values.clone().map(|v| crate::email::message::escape_html(&v));
            skeleton_same_as_lettre(&digest.html, &escaped);
        }
    }

    proptest! {
        #[test]
        fn any_template_and_values_encode_as_lettre_does(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(" ".to_string()), Just("\t".to_string()), Just("=".to_string()),
                    Just("\n".to_string()), Just("é".to_string()), Just("😀".to_string()),
                    Just("\u{E000}greeting\u{E001}".to_string()), Just("\u{E000}email\u{E001}".to_string()),
                    Just("\u{E000}name\u{E001}".to_string()), Just("\u{E000}unsubscribe_url\u{E001}".to_string()),
                    Just("\u{E000}".to_string()),
                    "[a-z]{1,90}",
                ],
                0..80,
            ),
            values in proptest::array::uniform4("[a-z =\t\u{e9}\u{1F600}]{0,100}"),
        ) {
            skeleton_same_as_lettre(&parts.concat(), &values);
        }

        #[test]
        fn any_text_encodes_as_lettre_does(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(" ".to_string()), Just("\t".to_string()), Just("=".to_string()),
                    Just("\n".to_string()), Just("\r".to_string()), Just("\r\n".to_string()),
                    Just("é".to_string()), Just("·".to_string()), Just("😀".to_string()),
                    "[a-z]{1,90}",
                ],
                0..120,
            )
        ) {
            same_as_lettre(&parts.concat());
        }
    }
}
