//! The transfer encoding of attachment content: base64 text in, a staged ZIP file out, with
//! no more than a few chunks of either in memory. Owns the base64 decoding state, the
//! choice of what counts as "unreadable", and the staged ZIP file until it is handed on.
//! Does not find the text in the XML (the reader feeds it) and does not open the ZIP
//! (`extract`).
//!
//! Long runs of base64 are decoded straight from the input without a separate scan: the
//! decoder checks every character anyway, and only when it refuses a run is the run scanned
//! byte by byte (which finds where it ends and why). Once the content passes
//! [`HELPER_MIN_BYTES`], the decoded chunks are written to the staged file by a helper
//! thread ([`ChunkPipeline`]) while this one decodes the next.
//!
//! Between base64 characters, XML whitespace and character references to whitespace
//! (`&#13;`, `&#xA;`, which DOM serializers write for line breaks) are skipped. Any other
//! byte, any other reference, base64 that does not decode, data after the padding, or no
//! content at all makes the content *unreadable*: decoding stops, the staged bytes are
//! dropped, and the reader carries on to the end of the element.

use std::fs::File;
use std::io::{self, Write};

use base64::engine::general_purpose::PAD_INDIFFERENT;
use base64::{DecodeSliceError, Engine as _};
use tempfile::NamedTempFile;

use super::model::ExtractedFile;
use super::pipeline::{ChunkConsumer, ChunkPipeline};

/// The base64 engine: standard alphabet, padding optional (some producers drop it), with
/// the SIMD decoder where the CPU has one (AVX2, NEON) and the scalar one elsewhere.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type DecodingEngine = base64::engine::Simd;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type DecodingEngine = base64::engine::GeneralPurpose;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn decoding_engine() -> DecodingEngine {
    base64::engine::Simd::standard(PAD_INDIFFERENT)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn decoding_engine() -> DecodingEngine {
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, PAD_INDIFFERENT)
}

/// How many base64 characters are decoded at once (a multiple of 4).
const CHUNK_CHARACTERS: usize = 256 * 1024;

/// Runs of base64 at least this long are decoded in place rather than copied first, and
/// text this long is worth handing to the decoder before scanning it.
const DIRECT_DECODE_MIN_CHARACTERS: usize = 4096;

/// Once this many bytes are decoded, the staged file is written on a helper thread: below
/// it, starting a thread costs more than it saves.
const HELPER_MIN_BYTES: u64 = 1024 * 1024;

/// How many bytes the fast scan checks at once; a multiple of the vector width.
const SCAN_BLOCK_BYTES: usize = 32;

/// The longest character reference accepted between base64 characters, `&#x0000000D;`.
const MAX_REFERENCE_BYTES: usize = 12;

const CLASS_INVALID: u8 = 0;
const CLASS_BASE64: u8 = 1;
const CLASS_WHITESPACE: u8 = 2;
const CLASS_AMPERSAND: u8 = 3;

/// The class of every byte, so the hot loop is one table look-up per byte.
const BYTE_CLASS: [u8; 256] = {
    let mut table = [CLASS_INVALID; 256];
    let mut byte = 0;
    while byte < 256 {
        let value = byte as u8;
        table[byte] =
            if value.is_ascii_alphanumeric() || value == b'+' || value == b'/' || value == b'=' {
                CLASS_BASE64
            } else if value == b' ' || value == b'\t' || value == b'\r' || value == b'\n' {
                CLASS_WHITESPACE
            } else if value == b'&' {
                CLASS_AMPERSAND
            } else {
                CLASS_INVALID
            };
        byte += 1;
    }
    table
};

/// What became of one attachment's content.
#[derive(Debug)]
pub(crate) enum TransferOutcome {
    Extracted(ExtractedFile),
    Unreadable(String),
}

/// Why feeding content failed outright (as opposed to the content being unreadable).
#[derive(Debug)]
pub(crate) enum FeedError {
    /// The staging file could not be written.
    Staging(io::Error),
    /// The decoded archive grew past its limit.
    TooLarge { limit: u64 },
}

/// What the content decoded to.
pub(crate) enum Decoded {
    /// A staged file holding the decoded bytes, rewound for reading.
    Staged {
        file: NamedTempFile,
    },
    Unreadable(String),
}

/// A character reference being collected between base64 characters.
struct PendingReference {
    bytes: Vec<u8>,
    offset: u64,
}

/// The staged ZIP file, written chunk by chunk.
impl ChunkConsumer for NamedTempFile {
    fn consume(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.as_file_mut().write_all(bytes)
    }
}

/// Decodes base64 text fed in pieces into a staged file.
pub(crate) struct Base64Sink {
    engine: DecodingEngine,
    staged: ChunkPipeline<NamedTempFile>,
    pending_characters: Vec<u8>,
    /// Whether a long run is decoded before it is scanned. Off after the decoder refused
    /// one (content folded into lines would be refused at every line break), on again when
    /// the scan meets a long run.
    decode_before_scan: bool,
    decoded_size: u64,
    max_decoded_size: u64,
    saw_padding: bool,
    saw_content: bool,
    reference: Option<PendingReference>,
    unreadable: Option<String>,
}

impl Base64Sink {
    /// Starts decoding into `staged`, refusing to decode more than `max_decoded_size` bytes.
    pub(crate) fn new(staged: NamedTempFile, max_decoded_size: u64) -> Self {
        Base64Sink {
            engine: decoding_engine(),
            staged: ChunkPipeline::new(staged),
            pending_characters: Vec::with_capacity(CHUNK_CHARACTERS),
            decode_before_scan: true,
            decoded_size: 0,
            max_decoded_size,
            saw_padding: false,
            saw_content: false,
            reference: None,
            unreadable: None,
        }
    }

    /// Feeds raw text (a CDATA section's content); `offset` is the packet offset of
    /// `text[0]`, for messages.
    pub(crate) fn feed(&mut self, text: &[u8], offset: u64) -> Result<(), FeedError> {
        self.scan(text, offset, false).map(|_| ())
    }

    /// Feeds raw text up to the first `<`, which starts the next markup. Returns the index
    /// of that `<`, or `None` when `text` holds none and was all consumed.
    pub(crate) fn feed_until_markup(
        &mut self,
        text: &[u8],
        offset: u64,
    ) -> Result<Option<usize>, FeedError> {
        self.scan(text, offset, true)
    }

    /// The one pass over content bytes: finds the end of the text and decodes on the way.
    fn scan(
        &mut self,
        text: &[u8],
        offset: u64,
        stop_at_markup: bool,
    ) -> Result<Option<usize>, FeedError> {
        let mut index = 0;
        while index < text.len() {
            if self.unreadable.is_some() {
                // Nothing more is decoded; only the end of the text matters now.
                let markup = text[index..].iter().position(|&byte| byte == b'<');
                return Ok(markup
                    .filter(|_| stop_at_markup)
                    .map(|position| index + position));
            }
            if self.reference.is_some() {
                index += self.continue_reference(&text[index..]);
                continue;
            }
            if self.decode_before_scan {
                let decoded = self.decode_run_unscanned(&text[index..])?;
                if decoded > 0 {
                    index += decoded;
                    continue;
                }
            }
            let run_start = index;
            while let Some(block) = text.get(index..index + SCAN_BLOCK_BYTES) {
                if !block
                    .iter()
                    .fold(true, |all, &byte| all & is_base64_character(byte))
                {
                    break;
                }
                index += SCAN_BLOCK_BYTES;
            }
            while index < text.len() && BYTE_CLASS[usize::from(text[index])] == CLASS_BASE64 {
                index += 1;
            }
            if index > run_start {
                self.push_characters(&text[run_start..index])?;
                continue;
            }
            let byte = text[index];
            match BYTE_CLASS[usize::from(byte)] {
                CLASS_WHITESPACE => {}
                CLASS_AMPERSAND => {
                    self.reference = Some(PendingReference {
                        bytes: Vec::with_capacity(MAX_REFERENCE_BYTES),
                        offset: offset + index as u64,
                    });
                }
                _ if stop_at_markup && byte == b'<' => return Ok(Some(index)),
                _ => self.mark_unreadable(format!(
                    "byte {} at offset {} is not base64",
                    describe_byte(byte),
                    offset + index as u64
                )),
            }
            index += 1;
        }
        Ok(None)
    }

    /// Collects the bytes of a reference up to `;`; returns how many bytes it used.
    fn continue_reference(&mut self, text: &[u8]) -> usize {
        let Some(reference) = self.reference.as_mut() else {
            return 0;
        };
        for (used, &byte) in text.iter().enumerate() {
            if byte == b';' {
                let offset = reference.offset;
                let is_whitespace = is_whitespace_reference(&reference.bytes);
                self.reference = None;
                if !is_whitespace {
                    self.mark_unreadable(format!(
                        "an entity or character reference at offset {offset} is not base64"
                    ));
                }
                return used + 1;
            }
            if reference.bytes.len() == MAX_REFERENCE_BYTES || byte == b'<' {
                let offset = reference.offset;
                self.reference = None;
                self.mark_unreadable(format!("a stray '&' at offset {offset} is not base64"));
                return used;
            }
            reference.bytes.push(byte);
        }
        text.len()
    }

    fn mark_unreadable(&mut self, reason: String) {
        if self.unreadable.is_none() {
            self.unreadable = Some(reason);
        }
    }

    fn push_characters(&mut self, mut characters: &[u8]) -> Result<(), FeedError> {
        if self.saw_padding {
            self.mark_unreadable("base64 data continues after its final padding".to_owned());
            return Ok(());
        }
        self.saw_content = true;
        if characters.len() >= DIRECT_DECODE_MIN_CHARACTERS {
            self.decode_before_scan = true;
            // A long run (content without line breaks) decodes straight from the input:
            // top the pending characters up to a whole quantum, decode them, then decode
            // the run's whole quanta in place and keep only the remainder.
            let top_up = (4 - self.pending_characters.len() % 4) % 4;
            let (head, rest) = characters.split_at(top_up);
            self.pending_characters.extend_from_slice(head);
            self.decode_pending()?;
            let whole = rest.len() / 4 * 4;
            for piece in rest[..whole].chunks(CHUNK_CHARACTERS) {
                if self.unreadable.is_some() {
                    return Ok(());
                }
                self.decode_characters(piece)?;
            }
            characters = &rest[whole..];
        }
        while !characters.is_empty() && self.unreadable.is_none() {
            let room = CHUNK_CHARACTERS - self.pending_characters.len();
            let (now, later) = characters.split_at(room.min(characters.len()));
            self.pending_characters.extend_from_slice(now);
            characters = later;
            if self.pending_characters.len() == CHUNK_CHARACTERS {
                self.decode_pending()?;
            }
        }
        Ok(())
    }

    /// Decodes the pending characters. A full chunk is a multiple of four, so only the
    /// final call can see a partial quantum.
    fn decode_pending(&mut self) -> Result<(), FeedError> {
        if self.pending_characters.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending_characters);
        let result = self.decode_characters(&pending);
        self.pending_characters = pending;
        self.pending_characters.clear();
        result
    }

    /// Decodes the whole quanta at the start of `text`, up to one chunk, if there are at
    /// least [`DIRECT_DECODE_MIN_CHARACTERS`] of them and the decoder accepts them all.
    /// Returns how many bytes of `text` were used: 0 when the decoder refused (nothing was
    /// decoded, and the scan takes over) or the text is too short to be worth trying.
    ///
    /// The result is the same as scanning first: a run the decoder accepts holds nothing
    /// but base64 characters, with `=` at most at its end.
    fn decode_run_unscanned(&mut self, text: &[u8]) -> Result<usize, FeedError> {
        if self.saw_padding || self.unreadable.is_some() {
            return Ok(0);
        }
        // Pending characters are first completed to a whole quantum from the run.
        let top_up = (4 - self.pending_characters.len() % 4) % 4;
        let Some((head, rest)) = text.split_at_checked(top_up) else {
            return Ok(0);
        };
        let run_length = rest.len().min(CHUNK_CHARACTERS) / 4 * 4;
        if run_length < DIRECT_DECODE_MIN_CHARACTERS
            || !head
                .iter()
                .all(|&byte| BYTE_CLASS[usize::from(byte)] == CLASS_BASE64)
        {
            return Ok(0);
        }
        let run = &rest[..run_length];
        if !self.pending_characters.is_empty() {
            self.pending_characters.extend_from_slice(head);
            self.saw_content = true;
            self.decode_pending()?;
            if self.saw_padding || self.unreadable.is_some() {
                return Ok(top_up);
            }
        }
        match self.decode_to_staging(run)? {
            Ok(()) => {
                self.saw_content = true;
                Ok(top_up + run_length)
            }
            Err(_) => {
                self.decode_before_scan = false;
                Ok(top_up)
            }
        }
    }

    /// Decodes at most one chunk of characters (whole quanta, except at the very end) and
    /// appends the bytes to the staged file.
    fn decode_characters(&mut self, characters: &[u8]) -> Result<(), FeedError> {
        if self.saw_padding {
            self.mark_unreadable("base64 data continues after its final padding".to_owned());
            return Ok(());
        }
        if let Err(error) = self.decode_to_staging(characters)? {
            self.mark_unreadable(format!("the content is not valid base64 ({error})"));
        }
        Ok(())
    }

    /// Decodes at most one chunk of characters and hands the bytes to the staged file.
    /// When the decoder refuses, nothing changes and its error is returned inside `Ok`.
    fn decode_to_staging(
        &mut self,
        characters: &[u8],
    ) -> Result<Result<(), DecodeSliceError>, FeedError> {
        let room = self
            .staged
            .room(CHUNK_CHARACTERS / 4 * 3)
            .map_err(FeedError::Staging)?;
        let decoded_length = match self.engine.decode_slice(characters, room) {
            Ok(length) => length,
            Err(error) => return Ok(Err(error)),
        };
        self.saw_padding = characters.last() == Some(&b'=');
        self.decoded_size += decoded_length as u64;
        if self.decoded_size > self.max_decoded_size {
            return Err(FeedError::TooLarge {
                limit: self.max_decoded_size,
            });
        }
        if self.decoded_size >= HELPER_MIN_BYTES {
            self.staged.start_helper();
        }
        self.staged
            .commit(decoded_length)
            .map_err(FeedError::Staging)?;
        Ok(Ok(()))
    }

    /// Decodes what is left and hands over the staged file, rewound.
    pub(crate) fn finish(mut self) -> Result<Decoded, FeedError> {
        if let Some(reference) = &self.reference {
            let offset = reference.offset;
            self.mark_unreadable(format!("a stray '&' at offset {offset} is not base64"));
        }
        if self.unreadable.is_none() {
            self.decode_pending()?;
        }
        if let Some(reason) = self.unreadable {
            return Ok(Decoded::Unreadable(reason));
        }
        if !self.saw_content {
            return Ok(Decoded::Unreadable(
                "the attachment has no content".to_owned(),
            ));
        }
        let mut staged = self.staged.finish().map_err(FeedError::Staging)?;
        let file: &mut File = staged.as_file_mut();
        io::Seek::rewind(file).map_err(FeedError::Staging)?;
        Ok(Decoded::Staged { file: staged })
    }
}

/// The base64 alphabet and `=`, by comparisons rather than a table so that the compiler
/// can check a whole block with vector instructions.
#[inline(always)]
fn is_base64_character(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() | (byte == b'+') | (byte == b'/') | (byte == b'=')
}

/// True for `#9`, `#10`, `#13`, `#32` and their hexadecimal spellings.
fn is_whitespace_reference(body: &[u8]) -> bool {
    let Some(number) = body.strip_prefix(b"#") else {
        return false;
    };
    let (digits, radix) = match number.split_first() {
        Some((b'x' | b'X', hex)) => (hex, 16),
        _ => (number, 10),
    };
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| u32::from_str_radix(text, radix).ok())
        .is_some_and(|value| matches!(value, 9 | 10 | 13 | 32))
}

/// A byte as a person reads it in a message: the character when printable ASCII.
fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", char::from(byte))
    } else {
        format!("0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
        let staged = NamedTempFile::new().expect("a temp file");
        let mut sink = Base64Sink::new(staged, 1 << 22);
        let mut offset = 0;
        for piece in pieces {
            sink.feed(piece, offset)
                .expect("feeding stays within limits");
            offset += piece.len() as u64;
        }
        match sink.finish().expect("finishing works") {
            Decoded::Staged { mut file, .. } => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).expect("the staged file reads");
                Ok(bytes)
            }
            Decoded::Unreadable(reason) => Err(reason),
        }
    }

    #[test]
    fn skips_whitespace_and_whitespace_references_across_pieces() {
        assert_eq!(
            decode(&[b"SGVs", b"bG8&#1", b"3;\n", b" gd2&#xA;9ybGQ="]),
            Ok(b"Hello world".to_vec())
        );
    }

    #[test]
    fn placeholders_and_garbage_are_unreadable() {
        let reason = decode(&[b"${__StringFromFile(test.txt,,,)}"]).expect_err("a placeholder");
        assert!(reason.contains("'$' at offset 0"), "{reason}");
        assert!(decode(&[b"SGVs&amp;bG8="]).is_err());
        assert!(decode(&[b"SGVsbG8=SGVsbG8="]).is_err());
        assert!(decode(&[b"  \n "]).is_err());
        assert!(decode(&[b"SGVsb&G8="]).is_err());
    }

    #[test]
    fn large_content_decodes_across_chunks() {
        let bytes: Vec<u8> = (0..700_000u32)
            .map(|value| (value * 7 % 251) as u8)
            .collect();
        let text = decoding_engine().encode(&bytes);
        for piece_length in [4093, 5001, 100_003] {
            let pieces: Vec<&[u8]> = text.as_bytes().chunks(piece_length).collect();
            assert_eq!(
                decode(&pieces),
                Ok(bytes.clone()),
                "pieces of {piece_length}"
            );
        }
        // Line breaks every 76 characters, as MIME encoders write.
        let folded: Vec<u8> = text
            .as_bytes()
            .chunks(76)
            .flat_map(|line| line.iter().copied().chain(*b"\r\n"))
            .collect();
        let pieces: Vec<&[u8]> = folded.chunks(65_536).collect();
        assert_eq!(decode(&pieces), Ok(bytes));
    }

    #[test]
    fn long_runs_decoded_before_scanning_read_as_if_scanned() {
        // More than HELPER_MIN_BYTES, so the staged file is written by the helper too.
        let bytes: Vec<u8> = (0..1_500_000u32)
            .map(|value| (value * 13 % 251) as u8)
            .collect();
        let text = decoding_engine().encode(&bytes).into_bytes();
        // Long lines, with line breaks and whitespace references between them.
        for (line_length, separator) in
            [(5_000, &b"\n"[..]), (4_096, b"&#13;&#10;"), (300_001, b" ")]
        {
            let folded: Vec<u8> = text
                .chunks(line_length)
                .flat_map(|line| line.iter().chain(separator).copied())
                .collect();
            for piece_length in [4_093, 262_144, 1 << 20] {
                let pieces: Vec<&[u8]> = folded.chunks(piece_length).collect();
                assert_eq!(
                    decode(&pieces),
                    Ok(bytes.clone()),
                    "lines of {line_length}, pieces of {piece_length}"
                );
            }
        }
        // A stray byte deep inside a long run is found and reported at its offset.
        let mut stray = text.clone();
        stray[1_723_457] = b'$';
        for piece_length in [4_093, 1 << 20] {
            let pieces: Vec<&[u8]> = stray.chunks(piece_length).collect();
            let reason = decode(&pieces).expect_err("a stray byte makes the content unreadable");
            assert!(reason.contains("'$' at offset 1723457"), "{reason}");
        }
        // Padding inside a long run ends the content; more data after it is unreadable.
        let padded = decoding_engine().encode(&bytes[..1_100_000]);
        assert!(
            padded.ends_with('='),
            "1100000 bytes end in a partial quantum"
        );
        let doubled = [padded.as_bytes(), padded.as_bytes()].concat();
        for piece_length in [4_093, 1 << 20] {
            let pieces: Vec<&[u8]> = doubled.chunks(piece_length).collect();
            assert!(decode(&pieces).is_err(), "pieces of {piece_length}");
        }
    }

    #[test]
    fn content_over_the_limit_stops_the_helper_and_leaves_nothing_staged() {
        let directory = tempfile::tempdir().expect("a staging directory");
        let staged = NamedTempFile::new_in(directory.path()).expect("a temp file");
        let mut sink = Base64Sink::new(staged, 3 << 20);
        let text = decoding_engine().encode(vec![7u8; 4 << 20]);
        let fed = (text.as_bytes().chunks(65_536)).try_for_each(|piece| sink.feed(piece, 0));
        assert!(matches!(fed, Err(FeedError::TooLarge { limit }) if limit == 3 << 20));
        drop(sink);
        let left: Vec<_> = std::fs::read_dir(directory.path())
            .expect("readable")
            .collect();
        assert!(left.is_empty(), "staging dir must be empty, holds {left:?}");
    }
}
