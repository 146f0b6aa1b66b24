//! Opens the staged ZIP of one attachment and extracts its one file to a second staged
//! file, checking everything a hostile or damaged archive could get wrong: the entry
//! count, the entry name, declared size and expansion ratio (before a byte is inflated),
//! the actual size against a hard cap (a lying header stops at the cap), and the CRC-32
//! (checked by the zip crate when the entry is read to its end, which this always does).
//! SHA-256 is computed while writing, on a helper thread for large entries
//! ([`ChunkPipeline`]), so that hashing overlaps inflating and writing. Owns the ZIP
//! staging file it is given (deleted as soon as the entry is read, while the hash
//! finishes) and nothing once it returns: the extracted file belongs to the returned
//! [`ExtractedFile`].
//!
//! The zip crate reads the central directory, so archives whose local headers defer sizes
//! to data descriptors (flag bit 3, as the real packets' archives do) read correctly. The
//! crate builds its directory in memory, so reading it is held to a byte budget: a
//! single-file archive's directory is tiny, and a huge one is a memory bomb.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;

use ring::digest::{Context, SHA256};
use tempfile::NamedTempFile;
use zip::result::ZipError;
use zip::ZipArchive;

use super::error::{one_line, ArchiveProblem, EdxmlError};
use super::limits::Limits;
use super::model::ExtractedFile;
use super::names::check_file_name;
use super::pipeline::ChunkPipeline;

/// How many bytes the zip crate may read to build its directory.
const DIRECTORY_READ_BUDGET: u64 = 1024 * 1024;

/// How much is inflated and written at once.
const EXTRACT_CHUNK_BYTES: usize = 256 * 1024;

/// Entries declared at least this large are hashed on a helper thread: below it, starting
/// a thread costs more than it saves.
const HELPER_MIN_BYTES: u64 = 1024 * 1024;

/// Where an extraction goes and what bounds it.
pub(crate) struct ExtractionTarget<'a> {
    pub(crate) staging_dir: &'a Path,
    pub(crate) limits: &'a Limits,
    /// The most bytes this entry may extract to (the per-attachment limit, or less when
    /// the packet's total budget is nearly spent).
    pub(crate) max_size: u64,
    /// How the attachment is named in messages.
    pub(crate) label: &'a str,
}

/// Extracts the one file of the ZIP in `archive_file` (rewound) to a new staged file, and
/// deletes `archive_file`.
pub(crate) fn extract_single_file(
    archive_file: NamedTempFile,
    target: &ExtractionTarget<'_>,
) -> Result<ExtractedFile, EdxmlError> {
    let problem = |problem: ArchiveProblem| EdxmlError::BadArchive {
        attachment: target.label.to_owned(),
        problem,
    };
    let budget = Rc::new(Cell::new(Some(DIRECTORY_READ_BUDGET)));
    let reader = BudgetedReader {
        inner: BufReader::with_capacity(EXTRACT_CHUNK_BYTES, archive_file.as_file()),
        remaining: Rc::clone(&budget),
    };
    let mut archive =
        ZipArchive::new(reader).map_err(|error| problem(directory_problem(&error, &budget)))?;
    // The directory is in memory now; the entry's data may be as large as the limits allow.
    budget.set(None);
    if archive.len() != 1 {
        return Err(problem(ArchiveProblem::EntryCount {
            count: archive.len(),
        }));
    }
    let mut entry = archive
        .by_index(0)
        .map_err(|error| problem(entry_problem(error)))?;
    if entry.is_dir() {
        return Err(problem(ArchiveProblem::NotPlainFile {
            detail: "it is a directory",
        }));
    }
    if entry.is_symlink() {
        return Err(problem(ArchiveProblem::NotPlainFile {
            detail: "it is a symbolic link",
        }));
    }
    let entry_name = match entry.name() {
        Ok(name) => name.into_owned(),
        Err(_) => {
            return Err(problem(ArchiveProblem::UnsafeEntryName {
                name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                reason: "the name is not valid text",
            }))
        }
    };
    if let Err(reason) = check_file_name(&entry_name, target.limits.max_name_bytes) {
        return Err(problem(ArchiveProblem::UnsafeEntryName {
            name: entry_name,
            reason,
        }));
    }
    let declared = entry.size();
    check_declared_size(declared, entry.compressed_size(), target).map_err(problem)?;

    let staging = |source: io::Error| EdxmlError::Staging {
        dir: target.staging_dir.to_owned(),
        source,
    };
    let mut staged = NamedTempFile::new_in(target.staging_dir).map_err(staging)?;
    let mut hasher = ChunkPipeline::new(Context::new(&SHA256));
    if declared >= HELPER_MIN_BYTES {
        hasher.start_helper();
    }
    let size = copy_entry(
        &mut entry,
        declared,
        staged.as_file_mut(),
        &mut hasher,
        target,
    )?;
    // Deleting the staged ZIP takes a while for a large one; do it while the helper
    // finishes the hash.
    drop(entry);
    drop(archive);
    drop(archive_file);
    let digest = hasher.finish().map_err(staging)?;
    let sha256 = hex::encode(digest.finish().as_ref());
    Ok(ExtractedFile::new(
        size,
        sha256,
        entry_name,
        staged.into_temp_path(),
    ))
}

/// Refuses an entry whose declared size or expansion ratio is over the limits.
fn check_declared_size(
    declared: u64,
    compressed: u64,
    target: &ExtractionTarget<'_>,
) -> Result<(), ArchiveProblem> {
    if declared > target.max_size {
        return Err(ArchiveProblem::EntryTooLarge {
            declared,
            limit: target.max_size,
        });
    }
    let ratio = declared / compressed.max(1);
    let limits = target.limits;
    if declared >= limits.expansion_ratio_min_bytes && ratio > limits.max_expansion_ratio {
        return Err(ArchiveProblem::ExpansionRatio {
            compressed,
            declared,
            ratio,
            limit: limits.max_expansion_ratio,
        });
    }
    Ok(())
}

/// Copies the entry to `output` and `hasher`, reading it to its end so the CRC is checked,
/// and never more than one byte past its declared size. Returns the size.
fn copy_entry(
    entry: &mut impl Read,
    declared: u64,
    output: &mut File,
    hasher: &mut ChunkPipeline<Context>,
    target: &ExtractionTarget<'_>,
) -> Result<u64, EdxmlError> {
    let problem = |problem: ArchiveProblem| EdxmlError::BadArchive {
        attachment: target.label.to_owned(),
        problem,
    };
    let staging = |source: io::Error| EdxmlError::Staging {
        dir: target.staging_dir.to_owned(),
        source,
    };
    let mut capped = entry.take(declared.saturating_add(1));
    let mut size: u64 = 0;
    loop {
        let chunk = hasher.room(EXTRACT_CHUNK_BYTES).map_err(staging)?;
        let chunk = &mut chunk[..EXTRACT_CHUNK_BYTES];
        let count = match capped.read(chunk) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(problem(read_problem(&error, declared))),
        };
        size += count as u64;
        if size > declared {
            return Err(problem(ArchiveProblem::LongerThanDeclared { declared }));
        }
        output.write_all(&chunk[..count]).map_err(staging)?;
        hasher.commit(count).map_err(staging)?;
    }
    if size < declared {
        return Err(problem(ArchiveProblem::ShorterThanDeclared {
            actual: size,
            declared,
        }));
    }
    output.flush().map_err(staging)?;
    Ok(size)
}

/// Names the problem when the zip crate cannot read the directory.
fn directory_problem(error: &ZipError, budget: &Cell<Option<u64>>) -> ArchiveProblem {
    if budget.get() == Some(0) {
        return ArchiveProblem::NotZip {
            detail: format!("its directory is larger than {DIRECTORY_READ_BUDGET} bytes, which no single-file archive needs"),
        };
    }
    ArchiveProblem::NotZip {
        detail: one_line(&error.to_string()),
    }
}

/// Names the problem when the zip crate refuses to open the entry.
fn entry_problem(error: ZipError) -> ArchiveProblem {
    match error {
        ZipError::UnsupportedArchive(detail) => ArchiveProblem::Unsupported {
            detail: detail.to_owned(),
        },
        ZipError::CompressionMethodNotSupported(method) => ArchiveProblem::Unsupported {
            detail: format!("compression method {method}"),
        },
        ZipError::InvalidPassword => ArchiveProblem::NotPlainFile {
            detail: "it is encrypted",
        },
        other => ArchiveProblem::Corrupt {
            detail: one_line(&other.to_string()),
        },
    }
}

/// Names the problem when reading the entry's data fails. The zip crate reports a CRC
/// mismatch and an entry longer than declared as `InvalidData` errors with fixed texts.
fn read_problem(error: &io::Error, declared: u64) -> ArchiveProblem {
    let text = error.to_string();
    if text.contains("Invalid checksum") {
        ArchiveProblem::CrcMismatch
    } else if text.contains("larger than its declared") {
        ArchiveProblem::LongerThanDeclared { declared }
    } else {
        ArchiveProblem::Corrupt {
            detail: one_line(&text),
        }
    }
}

/// A reader that fails once it has read its budget, while the budget is set.
struct BudgetedReader<R> {
    inner: R,
    remaining: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for BudgetedReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let Some(remaining) = self.remaining.get() else {
            return self.inner.read(buffer);
        };
        if remaining == 0 {
            return Err(io::Error::other("ZIP directory read budget exhausted"));
        }
        let allowed =
            usize::try_from(remaining).map_or(buffer.len(), |left| left.min(buffer.len()));
        let count = self.inner.read(&mut buffer[..allowed])?;
        self.remaining.set(Some(remaining - count as u64));
        Ok(count)
    }
}

impl<R: Seek> Seek for BudgetedReader<R> {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.inner.seek(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    /// A one-entry stored ZIP of `content`, staged in `directory` and rewound.
    fn staged_zip(directory: &Path, content: &[u8]) -> NamedTempFile {
        let staged = NamedTempFile::new_in(directory).expect("a temp file");
        let mut zip = ZipWriter::new(staged);
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        zip.start_file("big.pdf", options).expect("an entry");
        zip.write_all(content).expect("writes");
        let mut staged = zip.finish().expect("finishes");
        staged.rewind().expect("rewinds");
        staged
    }

    fn files_in(directory: &Path) -> usize {
        std::fs::read_dir(directory).expect("readable").count()
    }

    /// Larger than `HELPER_MIN_BYTES`, so the hash runs on the helper thread.
    fn large_content() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|value| (value * 29 % 241) as u8)
            .collect()
    }

    #[test]
    fn a_large_entry_is_hashed_on_the_helper_and_its_archive_deleted() {
        let directory = tempfile::tempdir().expect("a staging directory");
        let content = large_content();
        let limits = Limits::default();
        let target = ExtractionTarget {
            staging_dir: directory.path(),
            limits: &limits,
            max_size: limits.max_attachment_bytes,
            label: "cid:1",
        };
        let extracted = extract_single_file(staged_zip(directory.path(), &content), &target)
            .expect("a good archive extracts");
        let expected = ring::digest::digest(&SHA256, &content);
        assert_eq!(extracted.sha256, hex::encode(expected.as_ref()));
        assert_eq!(extracted.size, content.len() as u64);
        assert_eq!(
            std::fs::read(extracted.staged_path()).expect("reads"),
            content
        );
        assert_eq!(
            files_in(directory.path()),
            1,
            "only the extracted file is left"
        );
    }

    #[test]
    fn a_crc_mismatch_in_a_large_entry_leaves_nothing_staged() {
        let directory = tempfile::tempdir().expect("a staging directory");
        let mut archive = staged_zip(directory.path(), &large_content());
        // Flip a byte near the end of the stored data, after several chunks were hashed.
        let mut bytes = Vec::new();
        archive.read_to_end(&mut bytes).expect("reads");
        let flip_at = bytes.len() - 1000;
        bytes[flip_at] ^= 0x01;
        archive.rewind().expect("rewinds");
        archive.write_all(&bytes).expect("rewrites");
        archive.rewind().expect("rewinds");
        let limits = Limits::default();
        let target = ExtractionTarget {
            staging_dir: directory.path(),
            limits: &limits,
            max_size: limits.max_attachment_bytes,
            label: "cid:1",
        };
        match extract_single_file(archive, &target) {
            Err(EdxmlError::BadArchive {
                problem: ArchiveProblem::CrcMismatch,
                ..
            }) => {}
            other => panic!("expected a CRC mismatch, got {other:?}"),
        }
        assert_eq!(files_in(directory.path()), 0, "nothing is left staged");
    }
}
