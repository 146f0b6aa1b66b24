//! Content-addressed blob files: `blobs/<first two hex digits>/<sha256 hex>`.
//!
//! A file becomes a blob in two steps. [`BlobWriter`] streams it to `blobs/tmp/` while
//! hashing, then fsyncs it ([`StagedBlob`]); [`BlobStore::publish`] renames it to its final
//! name and fsyncs the directory. Only then may a row name it. A staged blob that is dropped
//! without being published deletes its temp file, so a refused request leaves nothing.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ring::digest::{Context, SHA256};

use super::StoreError;

/// The blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    staging: PathBuf,
    /// Bytes of published blobs: counted by the sweep on open, grown by each publish that
    /// adds a file (blobs are only removed by the sweep), so the quota check costs nothing.
    published_bytes: Arc<AtomicU64>,
}

/// A file being streamed into the staging area.
pub struct BlobWriter {
    file: File,
    staged: StagedBlob,
    digest: Context,
    limit: u64,
}

/// A complete, fsynced file in the staging area, not yet published.
#[derive(Debug)]
pub struct StagedBlob {
    path: PathBuf,
    sha256: String,
    size: u64,
    published: bool,
}

/// A blob under its final, content-addressed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedBlob {
    pub sha256: String,
    pub size: u64,
}

impl BlobStore {
    /// Opens the blob directory, creating it and its staging area if needed.
    pub fn open(root: &Path) -> Result<BlobStore, StoreError> {
        let staging = root.join("tmp");
        fs::create_dir_all(&staging)
            .map_err(StoreError::io("create the blob directory", &staging))?;
        Ok(BlobStore {
            root: root.to_path_buf(),
            staging,
            published_bytes: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Starts a new staged file that refuses to grow past `limit` bytes.
    pub fn writer(&self, limit: u64) -> Result<BlobWriter, StoreError> {
        let path = self.staging.join(format!("{}.part", ulid::Ulid::new()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::io("create a staging file", &path))?;
        Ok(BlobWriter {
            file,
            staged: StagedBlob {
                path,
                sha256: String::new(),
                size: 0,
                published: false,
            },
            digest: Context::new(&SHA256),
            limit,
        })
    }

    /// Moves a staged file to its content address and makes the rename durable. If a blob
    /// with the same content already exists, the staged copy is simply removed.
    pub fn publish(&self, mut staged: StagedBlob) -> Result<PublishedBlob, StoreError> {
        let final_path = self.path_of(&staged.sha256)?;
        let shard = final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        if !shard.exists() {
            fs::create_dir_all(&shard).map_err(StoreError::io("create a blob shard", &shard))?;
            sync_directory(&self.root)?;
        }
        if final_path.exists() {
            fs::remove_file(&staged.path).map_err(StoreError::io(
                "remove a duplicate staging file",
                &staged.path,
            ))?;
        } else {
            fs::rename(&staged.path, &final_path)
                .map_err(StoreError::io("publish a blob", &final_path))?;
            sync_directory(&shard)?;
            self.published_bytes
                .fetch_add(staged.size, Ordering::Relaxed);
        }
        staged.published = true;
        Ok(PublishedBlob {
            sha256: staged.sha256.clone(),
            size: staged.size,
        })
    }

    /// Opens a published blob for reading.
    pub fn open_blob(&self, sha256: &str) -> Result<File, StoreError> {
        let path = self.path_of(sha256)?;
        File::open(&path).map_err(StoreError::io("open a blob", &path))
    }

    /// Where a published blob lives (for readers that want a path, such as the packet
    /// writer opening attachments). Refuses names that are not SHA-256 hex.
    pub fn blob_path(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        self.path_of(sha256)
    }

    /// The staging directory (inside the state directory, on the blobs' filesystem), for
    /// readers that stage their own files there so that keeping one is a rename.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// A fresh, unused path in the staging directory for a file written by someone else
    /// (e.g. a packet streamed from the axis). Leftovers are swept on the next open.
    pub fn staging_file_path(&self) -> PathBuf {
        self.staging.join(format!("{}.part", ulid::Ulid::new()))
    }

    /// Takes a complete file in the staging directory, written and hashed by the caller
    /// (whose `sha256` and `size` are trusted: they come from our own code that computed
    /// them while writing), fsyncs it, and makes it a [`StagedBlob`] ready to publish.
    pub fn adopt_staged(
        &self,
        path: &Path,
        sha256: &str,
        size: u64,
    ) -> Result<StagedBlob, StoreError> {
        if path.parent() != Some(self.staging.as_path()) {
            return Err(StoreError::Io {
                action: "adopt a staged file",
                path: path.to_path_buf(),
                source: io::Error::other("the file is not in the blob staging directory"),
            });
        }
        self.path_of(sha256)?;
        let staged = StagedBlob {
            path: path.to_path_buf(),
            sha256: sha256.to_string(),
            size,
            published: false,
        };
        File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(StoreError::io("fsync a staged file", path))?;
        Ok(staged)
    }

    /// Bytes held by published blobs (see `published_bytes`).
    pub fn published_bytes(&self) -> u64 {
        self.published_bytes.load(Ordering::Relaxed)
    }

    /// Whether a published blob exists.
    pub fn contains(&self, sha256: &str) -> bool {
        self.path_of(sha256)
            .map(|path| path.is_file())
            .unwrap_or(false)
    }

    /// Removes everything in the staging area and every blob no row names. Runs on open,
    /// before any writer exists, so nothing in flight can be swept.
    pub fn sweep_unreferenced(
        &self,
        referenced: &HashSet<String>,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut kept_bytes = 0u64;
        for entry in read_dir(&self.staging)? {
            fs::remove_file(&entry).map_err(StoreError::io("remove a staging leftover", &entry))?;
            report.staging_files_removed += 1;
        }
        if report.staging_files_removed > 0 {
            sync_directory(&self.staging)?;
        }
        for shard in read_dir(&self.root)? {
            if shard == self.staging || !shard.is_dir() {
                continue;
            }
            let mut removed_here = false;
            for blob in read_dir(&shard)? {
                let name = blob
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or("");
                if !referenced.contains(name) {
                    fs::remove_file(&blob)
                        .map_err(StoreError::io("remove an unreferenced blob", &blob))?;
                    report.unreferenced_blobs_removed += 1;
                    removed_here = true;
                } else {
                    kept_bytes += fs::metadata(&blob).map(|meta| meta.len()).unwrap_or(0);
                }
            }
            // Only a directory that changed needs an fsync; a start with a thousand shards
            // must not pay a thousand of them.
            if removed_here {
                sync_directory(&shard)?;
            }
        }
        self.published_bytes.store(kept_bytes, Ordering::Relaxed);
        if report != SweepReport::default() {
            tracing::info!(
                staging_files_removed = report.staging_files_removed,
                unreferenced_blobs_removed = report.unreferenced_blobs_removed,
                "swept files left by an interrupted write"
            );
        }
        Ok(report)
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(StoreError::MissingBlob {
                sha256: sha256.to_string(),
            });
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }
}

/// What [`BlobStore::sweep_unreferenced`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub staging_files_removed: u64,
    pub unreferenced_blobs_removed: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.staged.size
    }

    /// Flushes, fsyncs and hashes the file; it is now complete on disk but has no name yet.
    pub fn finish(mut self) -> Result<StagedBlob, StoreError> {
        self.file
            .sync_all()
            .map_err(StoreError::io("fsync a staging file", &self.staged.path))?;
        let digest = self.digest.clone().finish();
        self.staged.sha256 = hex::encode(digest.as_ref());
        let path = self.staged.path.clone();
        let staged = StagedBlob {
            path,
            sha256: std::mem::take(&mut self.staged.sha256),
            size: self.staged.size,
            published: false,
        };
        // The writer's own guard must not delete the file we hand on.
        self.staged.published = true;
        Ok(staged)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let new_size = self.staged.size.saturating_add(buf.len() as u64);
        if new_size > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("file is larger than the limit of {} bytes", self.limit),
            ));
        }
        let written = self.file.write(buf)?;
        self.digest.update(&buf[..written]);
        self.staged.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedBlob {
    /// Lowercase hex SHA-256 of the content.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Path of the staged file (for checks such as a file's magic bytes before publishing).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a leftover is also swept on the next open.
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_dir(path: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = fs::read_dir(path).map_err(StoreError::io("list a directory", path))?;
    entries
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .map_err(StoreError::io("list a directory", path))
}

/// fsyncs a directory so that a rename or create inside it survives a power cut.
fn sync_directory(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|directory| directory.sync_all())
        .map_err(StoreError::io("fsync a directory", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(store: &BlobStore, content: &[u8]) -> StagedBlob {
        let mut writer = store.writer(1 << 20).expect("writer");
        writer.write_all(content).expect("write");
        writer.finish().expect("finish")
    }

    #[test]
    fn publish_names_the_file_by_its_sha256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let staged = stage(&store, b"abc");
        assert_eq!(
            staged.sha256(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let published = store.publish(staged).expect("publish");
        let mut content = String::new();
        io::Read::read_to_string(
            &mut store.open_blob(&published.sha256).expect("open"),
            &mut content,
        )
        .expect("read");
        assert_eq!(content, "abc");
        assert!(read_dir(&store.staging).expect("list").is_empty());
    }

    #[test]
    fn dropping_a_staged_blob_removes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        drop(stage(&store, b"refused request"));
        assert!(read_dir(&store.staging).expect("list").is_empty());
    }

    #[test]
    fn writer_refuses_to_pass_its_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let mut writer = store.writer(4).expect("writer");
        assert!(writer.write_all(b"12345").is_err());
    }

    #[test]
    fn sweep_removes_staging_leftovers_and_unreferenced_blobs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let kept = store.publish(stage(&store, b"kept")).expect("publish");
        let orphan = store.publish(stage(&store, b"orphan")).expect("publish");
        fs::write(store.staging.join("x.part"), b"half").expect("leftover");
        let referenced = HashSet::from([kept.sha256.clone()]);
        let report = store.sweep_unreferenced(&referenced).expect("sweep");
        assert_eq!(report.staging_files_removed, 1);
        assert_eq!(report.unreferenced_blobs_removed, 1);
        assert!(store.contains(&kept.sha256));
        assert!(!store.contains(&orphan.sha256));
    }

    #[test]
    fn rejects_names_that_are_not_sha256_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        assert!(store.open_blob("../../etc/passwd").is_err());
        assert!(!store.contains("ABC"));
    }
}
