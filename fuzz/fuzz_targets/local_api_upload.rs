//! Fuzzes the multipart intake of `POST /api/v1/documents` (and `/replace`): arbitrary
//! bytes, sent as a `multipart/form-data` body with a fixed boundary, go through axum's
//! `Multipart` extractor and `docgate::web::upload::read_upload` — the handlers' own code —
//! with the file parts staged in a real blob store.
//!
//! Checks: never a panic; every error message is one line; nothing is left in the staging
//! area once the upload is dropped, refused or not; what was read keeps within the limits;
//! and every file name the intake would accept is a plain name that cannot leave the
//! directory it is saved in.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request};
use docgate::store::BlobStore;
use docgate::web::upload::{read_upload, HEAD_BYTES, MAX_META_BYTES};
use docgate::workflow::intake::file_name_problem;
use docgate_fuzz::{assert_one_line, assert_plain_file_name};
use libfuzzer_sys::fuzz_target;

/// The boundary every fuzz input is framed with (the seeds use it).
const BOUNDARY: &str = "docgate-fuzz";
/// Small limits, so the fuzzer reaches them quickly and runs stay fast.
const MAX_FILE_BYTES: u64 = 8 * 1024;
const MAX_FILES: u32 = 3;

/// One runtime for the whole run: `read_upload` writes on the blocking pool.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("the fuzz host can start a runtime")
    })
}

/// A fresh blob directory per input, in memory when the host has /dev/shm (the staged
/// files are fsynced).
fn blob_directory() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("docgate-fuzz-upload")
        .clone();
    if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    }
    .expect("the fuzz host can make a temp directory")
}

fn staged_count(blobs: &BlobStore) -> usize {
    std::fs::read_dir(blobs.staging_dir())
        .expect("the staging directory is readable")
        .count()
}

fuzz_target!(|data: &[u8]| {
    let directory = blob_directory();
    let blobs = BlobStore::open(directory.path()).expect("the blob store opens");
    let request = Request::post("/api/v1/documents")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("a fixed request line and headers");
    let result = runtime().block_on(async {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .expect("a multipart content type with a boundary is accepted");
        read_upload(&blobs, &mut multipart, MAX_FILE_BYTES, MAX_FILES).await
    });
    match &result {
        Ok(upload) => {
            if let Some(meta) = &upload.meta_json {
                assert!(meta.len() <= MAX_META_BYTES, "an over-long meta was kept");
            }
            assert!(upload.files.len() <= MAX_FILES as usize, "too many files");
            assert_eq!(
                staged_count(&blobs),
                upload.files.len(),
                "one staged file each"
            );
            for file in &upload.files {
                let size = file.staged.size();
                assert!(size <= MAX_FILE_BYTES, "an over-long file was staged");
                assert_eq!(file.head.len() as u64, size.min(HEAD_BYTES as u64));
                assert!(!file.content_type.is_empty());
                match file_name_problem(&file.name) {
                    None => assert_plain_file_name(&file.name),
                    Some(problem) => assert_one_line(problem),
                }
            }
        }
        Err(error) => assert_one_line(&error.message),
    }
    drop(result);
    assert_eq!(staged_count(&blobs), 0, "staged files outlived the upload");
});
