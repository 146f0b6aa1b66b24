//! Reads a `POST /api/v1/documents` multipart body: the `meta` part into memory (it is
//! small and capped), every file part streamed to the store's staging area in 1 MiB steps,
//! so a 200 MB PDF never sits whole in RAM.
//!
//! [`read_upload`] needs only the blob store, not the whole app state, so the fuzz target
//! `fuzz/fuzz_targets/local_api_upload.rs` runs the handlers' own code.

use std::io::Write;

use axum::extract::multipart::{Field, Multipart, MultipartError};

use super::ApiError;
use crate::store::{BlobStore, BlobWriter};
use crate::workflow::{IncomingFile, IntakeError};

/// Largest `meta` part.
pub const MAX_META_BYTES: usize = 64 * 1024;
/// Bytes gathered before one blocking write.
const WRITE_STEP: usize = 1024 * 1024;
/// Bytes of each file kept for content checks (e.g. the PDF signature).
pub const HEAD_BYTES: usize = 1024;

/// What the multipart body held.
pub struct Upload {
    pub meta_json: Option<Vec<u8>>,
    pub files: Vec<IncomingFile>,
}

/// Bytes of a refused request body read and thrown away so that the client, still sending,
/// gets to read the error instead of a broken connection. Past this, the connection closes.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// The body length a request declares (`Content-Length`), or 0 when it declares none (a
/// chunked body is then checked as it streams).
pub(crate) fn declared_length(headers: &axum::http::HeaderMap) -> u64 {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Reads and discards what is left of a refused multipart body, up to [`DRAIN_LIMIT`].
pub(crate) async fn drain(multipart: &mut Multipart) {
    let mut drained: u64 = 0;
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            field = multipart.next_field() => {
                let Ok(Some(mut field)) = field else { return };
                while let Ok(Some(chunk)) = field.chunk().await {
                    drained += chunk.len() as u64;
                    if drained > DRAIN_LIMIT {
                        return;
                    }
                }
            }
        }
    }
}

/// Reads the whole body, staging each file part in `blobs`' staging area. Files beyond
/// `max_files` are refused as soon as they start. On an error, everything staged so far is
/// removed again (the staged files are dropped with the partial upload).
pub async fn read_upload(
    blobs: &BlobStore,
    multipart: &mut Multipart,
    max_file_bytes: u64,
    max_files: u32,
) -> Result<Upload, ApiError> {
    let mut upload = Upload {
        meta_json: None,
        files: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "meta" {
            if upload.meta_json.is_some() {
                return Err(ApiError::bad_request(
                    "the request has two `meta` parts; send one",
                ));
            }
            upload.meta_json = Some(read_meta(field).await?);
        } else if let Some(file_name) = field.file_name().map(str::to_string) {
            if upload.files.len() >= max_files as usize {
                return Err(IntakeError::TooManyFiles {
                    count: upload.files.len() + 1,
                    limit: max_files,
                }
                .into());
            }
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let file = stream_file(blobs, field, file_name, content_type, max_file_bytes).await?;
            upload.files.push(file);
        } else {
            return Err(ApiError::bad_request(format!(
                "unexpected part {name:?}: send `meta` (JSON) and file parts with a filename"
            )));
        }
    }
    Ok(upload)
}

async fn read_meta(mut field: Field<'_>) -> Result<Vec<u8>, ApiError> {
    let mut meta = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if meta.len() + chunk.len() > MAX_META_BYTES {
            return Err(ApiError::too_large(format!(
                "the meta part is larger than {MAX_META_BYTES} bytes"
            )));
        }
        meta.extend_from_slice(&chunk);
    }
    Ok(meta)
}

pub(super) async fn stream_file(
    blobs: &BlobStore,
    mut field: Field<'_>,
    name: String,
    content_type: String,
    max_file_bytes: u64,
) -> Result<IncomingFile, ApiError> {
    let mut writer = Some(blobs.writer(max_file_bytes)?);
    let mut pending: Vec<u8> = Vec::with_capacity(WRITE_STEP);
    let mut head: Vec<u8> = Vec::with_capacity(HEAD_BYTES);
    let mut received: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        received += chunk.len() as u64;
        if received > max_file_bytes {
            return Err(ApiError::too_large(format!(
                "file {name:?} is larger than the limit of {max_file_bytes} bytes"
            )));
        }
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= WRITE_STEP {
            pending = write_step(&mut writer, pending).await?;
        }
    }
    let writer = match writer.take() {
        Some(mut writer) => tokio::task::spawn_blocking(move || {
            writer
                .write_all(&pending)
                .map_err(|error| stage_error(&error))?;
            writer.finish().map_err(ApiError::from)
        }),
        None => return Err(internal("the staging writer was lost")),
    };
    let staged = writer
        .await
        .map_err(|_| internal("the staging task failed"))??;
    Ok(IncomingFile {
        name,
        content_type,
        staged,
        head,
    })
}

/// Writes one step on a blocking thread, handing the writer there and back.
async fn write_step(
    writer: &mut Option<BlobWriter>,
    pending: Vec<u8>,
) -> Result<Vec<u8>, ApiError> {
    let Some(mut taken) = writer.take() else {
        return Err(internal("the staging writer was lost"));
    };
    let (taken, result, mut pending) = tokio::task::spawn_blocking(move || {
        let result = taken.write_all(&pending);
        (taken, result, pending)
    })
    .await
    .map_err(|_| internal("the staging task failed"))?;
    result.map_err(|error| stage_error(&error))?;
    *writer = Some(taken);
    pending.clear();
    Ok(pending)
}

fn stage_error(error: &std::io::Error) -> ApiError {
    if error.kind() == std::io::ErrorKind::FileTooLarge {
        ApiError::too_large(error.to_string())
    } else if crate::store::io_disk_full(error) {
        ApiError::disk_full(&format!(
            "cannot write the file to the staging area: {error}"
        ))
    } else {
        internal(&format!(
            "cannot write the file to the staging area: {error}"
        ))
    }
}

fn internal(message: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("{message}; nothing was accepted, retry later"),
    )
}

pub(super) fn multipart_error(error: MultipartError) -> ApiError {
    if paused_too_long(&error) {
        return ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body paused for longer than limits.body_idle_timeout_secs; nothing was accepted, send it again",
        );
    }
    let status = error.status();
    let message = format!("the multipart body cannot be read: {}", error.body_text());
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(message)
    } else {
        ApiError::bad_request(message)
    }
}

/// Whether reading the body failed because the client paused past the idle time limit
/// (`system::http_server`), as opposed to sending something malformed.
fn paused_too_long(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::{FromRequest, Multipart};
    use axum::http::{header, Request};

    use super::{read_upload, ApiError, Upload, HEAD_BYTES};
    use crate::store::BlobStore;

    const BOUNDARY: &str = "docgate-test";

    /// One part: its name, its file name (a file part) and its bytes.
    type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

    /// A multipart body of `parts`: (name, file name, bytes).
    fn body(parts: &[Part<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file_name, bytes) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            let disposition = match file_name {
                Some(file_name) => {
                    format!("form-data; name=\"{name}\"; filename=\"{file_name}\"")
                }
                None => format!("form-data; name=\"{name}\""),
            };
            body.extend_from_slice(
                format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    async fn read(blobs: &BlobStore, body: Vec<u8>, max_files: u32) -> Result<Upload, ApiError> {
        let request = Request::post("/api/v1/documents")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .expect("request");
        let mut multipart = Multipart::from_request(request, &())
            .await
            .expect("multipart");
        read_upload(blobs, &mut multipart, 64 * 1024, max_files).await
    }

    fn staged(blobs: &BlobStore) -> usize {
        std::fs::read_dir(blobs.staging_dir())
            .expect("staging")
            .count()
    }

    #[tokio::test]
    async fn reads_the_meta_and_stages_each_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let pdf = [b"%PDF-1.7\n".as_slice(), &[b'x'; 2000]].concat();
        let parts: [Part<'_>; 3] = [
            ("meta", None, b"{\"to\": []}"),
            ("file", Some("Công văn 12.pdf"), &pdf),
            ("file", Some("phu-luc.txt"), b"annex"),
        ];
        let upload = read(&blobs, body(&parts), 3).await.expect("upload");
        assert_eq!(
            upload.meta_json.as_deref(),
            Some(b"{\"to\": []}".as_slice())
        );
        assert_eq!(upload.files.len(), 2);
        assert_eq!(upload.files[0].name, "Công văn 12.pdf");
        assert_eq!(upload.files[0].staged.size(), pdf.len() as u64);
        assert_eq!(upload.files[0].head, pdf[..HEAD_BYTES]);
        assert_eq!(upload.files[1].head, b"annex");
        assert_eq!(staged(&blobs), 2);
        drop(upload);
        assert_eq!(
            staged(&blobs),
            0,
            "unpublished files are removed when dropped"
        );
    }

    #[tokio::test]
    async fn a_refused_upload_leaves_nothing_staged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let refused: [&[Part<'_>]; 3] = [
            // A second meta part after a file.
            &[
                ("file", Some("a.pdf"), b"%PDF-1.7"),
                ("meta", None, b"{}"),
                ("meta", None, b"{}"),
            ],
            // One file more than allowed.
            &[
                ("file", Some("a.pdf"), b"%PDF-1.7"),
                ("file", Some("b.pdf"), b"%PDF-1.7"),
            ],
            // A part that is neither the meta nor a file.
            &[("file", Some("a.pdf"), b"%PDF-1.7"), ("note", None, b"hi")],
        ];
        for parts in refused {
            let error = read(&blobs, body(parts), 1).await.err().expect("refused");
            assert!(!error.message.contains('\n'), "{}", error.message);
            assert_eq!(staged(&blobs), 0, "{parts:?} left a staged file");
        }
        // A body cut off inside a file part.
        let mut cut = body(&[("file", Some("a.pdf"), b"%PDF-1.7 and more")]);
        cut.truncate(cut.len() - 20);
        let error = read(&blobs, cut, 1).await.err().expect("refused");
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(staged(&blobs), 0, "a cut body left a staged file");
    }
}
