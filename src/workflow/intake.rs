//! Intake of a new outgoing document from the office's software: check everything, make
//! the files durable, then commit the row in one transaction (state `accepted`). Only when
//! that commit has returned may anyone be told "accepted". A refused request leaves the
//! store exactly as it was. With a cached agency directory, every recipient but ourselves
//! must be in it (`directory.rs`); a misspelt code is refused with the closest ones.

use ring::digest::{Context, SHA256};

use super::directory::{self, UnknownRecipients};
use super::exchange::{check_quota, StorageFull};
use super::meta::{MetaError, OutgoingMeta};
use super::register::{series_for, NotationRules, RegisterError};
use crate::edxml::check_file_name;
use crate::store::{
    AcceptOutcome, AgencyEntry, DocumentState, NewFile, NewOutgoingDocument, NumberingRequest,
    StagedBlob, Store, StoreError,
};
use crate::system::clock::{edxml_date, rfc3339_utc, vietnam_year, SharedClock};

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest file name accepted (bytes, as most file systems count).
const MAX_FILE_NAME_BYTES: usize = 255;

/// A file that arrived with the request, streamed to the staging area.
#[derive(Debug)]
pub struct IncomingFile {
    pub name: String,
    pub content_type: String,
    pub staged: StagedBlob,
    /// The first bytes of the file (for the PDF signature check).
    pub head: Vec<u8>,
}

/// Everything the local API received for one new document.
#[derive(Debug)]
pub struct IntakeRequest {
    pub meta_json: Vec<u8>,
    pub files: Vec<IncomingFile>,
    pub idempotency_key: Option<String>,
    /// `/replace`: our id of the outgoing document the new one replaces.
    pub replaces: Option<String>,
}

/// Who we are, for numbering and validation.
#[derive(Debug, Clone)]
pub struct IntakeContext {
    pub organ_id: String,
    pub extra_agency_codes: Vec<String>,
    pub max_files: u32,
    pub clock: SharedClock,
    /// `limits.disk_quota_bytes`: the state directory may not grow past this.
    pub disk_quota_bytes: u64,
    /// `[signing]`: when set, the PDF must carry a valid leader's signature.
    pub signatures: Option<std::sync::Arc<super::signing::SignaturePolicy>>,
    /// `[register]`: how a ký hiệu is composed when the office sends none.
    pub notation: NotationRules,
}

/// Why a document was refused, or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{0}")]
    Meta(#[from] MetaError),
    #[error("file {index} ({name:?}): {problem}")]
    File {
        index: usize,
        name: String,
        problem: String,
    },
    #[error(
        "the request has no `meta` part; send the document's metadata as JSON in a part named meta"
    )]
    MissingMeta,
    #[error("the request has no file; attach the signed PDF as a file part")]
    NoFile,
    #[error("the request has {count} files, more than the {limit} allowed")]
    TooManyFiles { count: usize, limit: u32 },
    #[error("Idempotency-Key {0}")]
    BadIdempotencyKey(&'static str),
    #[error("file 1 ({name:?}): {reason}")]
    LeaderSignature { name: String, reason: String },
    /// A recipient the agency directory does not hold (checked only once the directory was
    /// refreshed from the axis).
    #[error(transparent)]
    UnknownRecipient(#[from] UnknownRecipients),
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    StorageFull(#[from] StorageFull),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks, publishes and commits a new outgoing document. Answers after the commit.
pub async fn accept_outgoing(
    store: &Store,
    context: &IntakeContext,
    request: IntakeRequest,
) -> Result<AcceptOutcome, IntakeError> {
    let mut meta = OutgoingMeta::parse(&request.meta_json, &context.extra_agency_codes)?;
    check_files(&request.files, context.max_files)?;
    if let Some(key) = &request.idempotency_key {
        check_idempotency_key(key)?;
    }
    // The fingerprint is of the request as sent, before the gateway fills anything in.
    let request_sha256 = request_fingerprint(&meta, request.replaces.as_deref(), &request.files);
    if let Some(key) = &request.idempotency_key {
        // A retry of a request already answered is answered again without touching anything.
        let lookup = key.clone();
        if let Some(claim) = read(store, move |store| store.find_idempotency_key(&lookup)).await? {
            if claim.request_sha256 != request_sha256 {
                return Err(StoreError::IdempotencyKeyReused { key: key.clone() }.into());
            }
            return Ok(AcceptOutcome {
                identity: claim.identity,
                replayed: true,
            });
        }
    }
    // After the replay above: a retry gets its first answer even if the directory changed.
    // A secret document never goes over the network, so its recipients need not be on it.
    if !meta.secret {
        check_recipients(store, &context.organ_id, &meta.to).await?;
    }
    let incoming: u64 = request.files.iter().map(|file| file.staged.size()).sum();
    check_storage(store, context, incoming)?;
    let notation = match &meta.code_notation {
        Some(notation) => notation.clone(),
        None => context.notation.compose(&meta.document_type.name)?,
    };
    meta.code_notation = Some(notation.clone());
    let series = series_for(meta.secret);
    let now = context.clock.now();
    if let (Some(policy), Some(document)) = (&context.signatures, request.files.first()) {
        check_leader_signature(policy, document, now).await?;
    }
    if let Some(number) = meta.code_number {
        // Checked before publishing so a refused request leaves no file behind. (Two requests
        // racing for one number both pass here; the commit checks again and refuses the
        // loser, whose files are swept on next start.)
        let year = vietnam_year(now);
        let taken = read(store, move |store| {
            store.outgoing_number_taken(year, series, number)
        });
        if let Some(document_id) = taken.await? {
            return Err(StoreError::NumberTaken {
                year,
                series: series.as_str(),
                number,
                document_id,
            }
            .into());
        }
    }
    let files = publish_files(store, request.files).await?;
    let meta_json = serde_json::to_string(&meta).map_err(|error| MetaError {
        field: String::new(),
        problem: error.to_string(),
    })?;
    let document = NewOutgoingDocument {
        id: ulid::Ulid::new().to_string(),
        subject: meta.subject.trim().to_string(),
        meta_json,
        files,
        // A secret document is recorded in the register and goes no further: the sealer and
        // the packer never take `registered`.
        state: if meta.secret {
            DocumentState::Registered
        } else {
            DocumentState::Accepted
        },
        numbering: NumberingRequest {
            series,
            year: vietnam_year(now),
            number: meta.code_number,
            notation,
            organ_id: context.organ_id.clone(),
            promulgation_date: edxml_date(now),
        },
        idempotency: request.idempotency_key.map(|key| (key, request_sha256)),
        at: rfc3339_utc(now),
        replaces: request.replaces,
    };
    Ok(store.accept_outgoing(document).await?)
}

/// Refuses a recipient the cached agency directory does not hold, with the closest codes
/// it does. While the directory was never refreshed (a stand-alone gateway, or a first
/// start without the axis) nothing is refused; our own code is never checked (nor are a
/// secret document's recipients: it is never sent).
async fn check_recipients(store: &Store, own_code: &str, to: &[String]) -> Result<(), IntakeError> {
    let wanted = directory::recipients_to_check(to, own_code);
    if wanted.is_empty() {
        return Ok(());
    }
    let Some((unknown, entries)) = read(store, move |store| directory_gaps(store, wanted)).await?
    else {
        return Ok(());
    };
    Ok(directory::refuse_unknown(unknown, &entries)?)
}

/// Recipients (with their places in `meta.to`) the directory lacks, and the directory.
type DirectoryGaps = (Vec<(usize, String)>, Vec<AgencyEntry>);

/// The recipients of `wanted` the directory lacks, with the whole directory when there are
/// some (for the suggestions); `None` when the directory was never refreshed.
fn directory_gaps(
    store: &Store,
    wanted: Vec<(usize, String)>,
) -> Result<Option<DirectoryGaps>, StoreError> {
    if store.agency_directory_refresh()?.is_none() {
        return Ok(None);
    }
    let mut unknown = Vec::new();
    for (index, code) in wanted {
        if store.agency(&code)?.is_none() {
            unknown.push((index, code));
        }
    }
    let entries = if unknown.is_empty() {
        Vec::new()
    } else {
        store.agency_directory()?
    };
    Ok(Some((unknown, entries)))
}

/// The leader's signature on the document's PDF, checked off the runtime.
async fn check_leader_signature(
    policy: &std::sync::Arc<super::signing::SignaturePolicy>,
    document: &IncomingFile,
    now: time::OffsetDateTime,
) -> Result<(), IntakeError> {
    let (policy, path) = (policy.clone(), document.staged.path().to_path_buf());
    let checked = tokio::task::spawn_blocking(move || policy.check_leader_signature(&path, now))
        .await
        .map_err(|_| StoreError::Closed)?;
    checked
        .map(|_| ())
        .map_err(|reason| IntakeError::LeaderSignature {
            name: document.name.clone(),
            reason,
        })
}

/// Refuses a request that would take the state directory past its quota (checked before
/// the body is read, with its declared length, and again with the staged files' sizes).
pub fn check_storage(
    store: &Store,
    context: &IntakeContext,
    incoming: u64,
) -> Result<(), StorageFull> {
    check_quota(
        store.storage_usage().total(),
        incoming,
        context.disk_quota_bytes,
    )
}

/// The first file is the document itself and must be a PDF; every name must be a plain
/// file name that is safe on any system the document reaches.
fn check_files(files: &[IncomingFile], max_files: u32) -> Result<(), IntakeError> {
    if files.is_empty() {
        return Err(IntakeError::NoFile);
    }
    if files.len() > max_files as usize {
        return Err(IntakeError::TooManyFiles {
            count: files.len(),
            limit: max_files,
        });
    }
    for (index, file) in files.iter().enumerate() {
        let refuse = |problem: &str| IntakeError::File {
            index: index + 1,
            name: file.name.clone(),
            problem: problem.to_string(),
        };
        if let Some(problem) = file_name_problem(&file.name) {
            return Err(refuse(&format!(
                "refused: {problem}; send a plain file name such as cong-van.pdf"
            )));
        }
        if file.staged.size() == 0 {
            return Err(refuse("is empty"));
        }
        let claims_pdf = file.content_type == "application/pdf"
            || file.name.to_ascii_lowercase().ends_with(".pdf");
        if (index == 0 || claims_pdf) && !looks_like_pdf(&file.head) {
            return Err(refuse(if index == 0 {
                "is not a PDF; the first file must be the signed PDF of the document"
            } else {
                "is named or typed as a PDF but does not start with %PDF-"
            }));
        }
    }
    Ok(())
}

/// Why `name` is not acceptable as a file name, if it is not. The same rule as for edXML
/// attachment names (`edxml::check_file_name`), since these files become attachments.
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    check_file_name(name, MAX_FILE_NAME_BYTES).err()
}

/// PDF files start with `%PDF-` within the first 1024 bytes (ISO 32000-1, 7.5.2 allows a
/// little junk before it, and some producers write a BOM or whitespace).
fn looks_like_pdf(head: &[u8]) -> bool {
    head.windows(5).take(1024).any(|window| window == b"%PDF-")
}

fn check_idempotency_key(key: &str) -> Result<(), IntakeError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(IntakeError::BadIdempotencyKey(
            "must be 1 to 128 characters",
        ));
    }
    if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(IntakeError::BadIdempotencyKey(
            "may contain only printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// A fingerprint of what the request asks for: the normalised meta and every file's name,
/// type and content hash. Two requests with the same fingerprint are the same request.
fn request_fingerprint(
    meta: &OutgoingMeta,
    replaces: Option<&str>,
    files: &[IncomingFile],
) -> String {
    let mut digest = Context::new(&SHA256);
    // serde_json writes struct fields in declaration order, so this is canonical.
    digest.update(serde_json::to_string(meta).unwrap_or_default().as_bytes());
    // A replacement of another document is another request than a new document. (Only
    // then: a new document's fingerprint stays what it was before replacements existed.)
    if let Some(replaces) = replaces {
        digest.update(b"replaces");
        digest.update(&(replaces.len() as u64).to_be_bytes());
        digest.update(replaces.as_bytes());
    }
    for file in files {
        for part in [
            file.name.as_str(),
            file.content_type.as_str(),
            file.staged.sha256(),
        ] {
            digest.update(&(part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
    }
    hex::encode(digest.finish().as_ref())
}

/// Runs a store read on a blocking thread: SQLite calls never run on the async runtime.
async fn read<T: Send + 'static>(
    store: &Store,
    query: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || query(&store))
        .await
        .map_err(|_| StoreError::Closed)?
}

/// Makes every staged file durable under its content address (blocking I/O, off the runtime).
async fn publish_files(
    store: &Store,
    files: Vec<IncomingFile>,
) -> Result<Vec<NewFile>, IntakeError> {
    let blobs = store.blobs().clone();
    let published = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|file| {
                let blob = blobs.publish(file.staged)?;
                Ok(NewFile {
                    name: file.name,
                    content_type: file.content_type,
                    sha256: blob.sha256,
                    size: blob.size,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
    })
    .await
    .map_err(|_| StoreError::Closed)??;
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        for good in ["QD-123.pdf", "Công văn số 5.pdf", "phu luc (1).docx"] {
            assert_eq!(file_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "../x.pdf",
            "a/b.pdf",
            "a\\b.pdf",
            "..",
            "x\u{0}.pdf",
            "x\n.pdf",
            "x.pdf ",
            "\u{202e}fdp.exe",
        ] {
            assert!(file_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(file_name_problem(&"a".repeat(256)).is_some());
    }

    #[test]
    fn pdf_signature() {
        assert!(looks_like_pdf(b"%PDF-1.7\n"));
        assert!(looks_like_pdf(b"\xef\xbb\xbf%PDF-1.4"));
        assert!(!looks_like_pdf(b"PK\x03\x04"));
        assert!(!looks_like_pdf(b""));
    }

    #[test]
    fn idempotency_keys() {
        assert!(check_idempotency_key("order-2026-0001").is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(129)).is_err());
    }
}
