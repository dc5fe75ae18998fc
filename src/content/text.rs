//! Reading a user's file as the text the pipeline works on: within the
//! size limit, valid UTF-8, one kind of line end, and no character that
//! feeds and email cannot carry. Posts and `authors.yml` are read here.

use std::path::Path;

use super::front_matter;
use crate::diagnostics::{Diagnostic, line_col};
use crate::limits::MAX_POST_BYTES;

/// Reads a user file as text: size-limited, then [`decode_text`].
/// Problems become diagnostics and `None`.
pub fn read_text(path: &Path, source: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    // One open, and the size from the open file: the check and the read see the same file.
    let read = || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > MAX_POST_BYTES {
            return Err(std::io::Error::other(format!("file is {len} bytes; the limit is {MAX_POST_BYTES}")));
        }
        let mut bytes = Vec::with_capacity(len as usize + 1);
        // `take` keeps a file that grows while being read under the limit too.
        file.take(MAX_POST_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_POST_BYTES {
            return Err(std::io::Error::other(format!("file is over the limit of {MAX_POST_BYTES} bytes")));
        }
        Ok(bytes)
    };
    let bytes = match read() {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(Diagnostic::error(source, (1, 1), format!("cannot read: {error}")));
            return None;
        }
    };
    decode_text(bytes, source, diagnostics)
}

/// A user file's bytes as the text the rest of the pipeline reads: valid
/// UTF-8, BOM dropped, CRLF made LF, characters XML cannot carry removed.
/// `source` names the file in diagnostics; bytes that are not UTF-8 are an
/// error and `None`.
pub fn decode_text(bytes: Vec<u8>, source: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let text = normalise_text(text);
            let cleaned = front_matter::strip_xml_invalid(&text);
            if cleaned.len() != text.len() {
                let at = text.find(front_matter::is_xml_invalid).unwrap_or(0);
                diagnostics.push(Diagnostic::warning(
                    source,
                    line_col(&text, at),
                    "control characters removed (feeds and email cannot carry them)",
                ));
                return Some(cleaned.into_owned());
            }
            Some(text)
        }
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.as_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            diagnostics.push(Diagnostic::error(
                source,
                line_col(&prefix, prefix.len()),
                format!("file is not valid UTF-8 (byte 0x{:02x}); save it as UTF-8", bytes[valid]),
            ));
            None
        }
    }
}

fn normalise_text(text: String) -> String {
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text }
}
