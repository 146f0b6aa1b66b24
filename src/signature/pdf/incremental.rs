//! Adding a signature to a PDF as an incremental update (ISO 32000-1 §7.5.6, §12.8):
//! [`prepare`] copies the input byte for byte and appends one revision — a signature
//! dictionary with a `/Contents` hole, a signature field merged with its widget, the page
//! with the widget in its `/Annots`, the form with the field in `/Fields` and `/SigFlags 3`
//! — and returns a [`PreparedSignature`] (`prepared`) whose byte ranges the caller digests
//! and signs before it writes the CMS into the hole.
//!
//! Decides what the update contains; the bytes are laid out by `revision_writer`. Never
//! builds or checks CMS, and never changes a byte of the input.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::acroform::{acroform, walk_fields, AcroFormLocation};
use super::appearance::{check_appearance, widget_appearance, NewObject, SignatureAppearance};
use super::error::PdfError;
use super::limits::Limits;
use super::object::{Dictionary, Name, ObjectId, PdfObject, PdfString, StringForm};
use super::pages::{find_page, PageRef};
use super::prepared::PreparedSignature;
use super::reader::PdfFile;
use super::revision_writer::{UpdateBytes, UpdateTrailer};
use super::source::CHUNK_BYTES;
use super::text::{encode_text, format_pdf_date};
use super::xref::XrefForm;

/// `/F 132`: Print (4) and Locked (128).
const WIDGET_FLAGS: i64 = 132;

/// `/SigFlags 3`: SignaturesExist and AppendOnly.
const SIG_FLAGS: i64 = 3;

/// The `/SubFilter` of the signature: how its `/Contents` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubFilter {
    /// PAdES (ETSI EN 319 142-1): a detached CAdES signature. What docgate signs with.
    EtsiCadesDetached,
    /// The older PKCS#7 detached form (ISO 32000-1 §12.8.3.3).
    AdbePkcs7Detached,
}

impl SubFilter {
    pub fn name(self) -> &'static str {
        match self {
            SubFilter::EtsiCadesDetached => "ETSI.CAdES.detached",
            SubFilter::AdbePkcs7Detached => "adbe.pkcs7.detached",
        }
    }
}

/// What to sign and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureRequest {
    pub sub_filter: SubFilter,
    /// Room for this many bytes of DER in `/Contents` (the file holds twice as many hex
    /// digits). Must hold the whole CMS, with certificates and any timestamp token.
    pub contents_capacity: usize,
    /// Written as `/M`, in Vietnam time.
    pub signing_time: OffsetDateTime,
    /// `/Name`: who signs.
    pub signer_name: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    pub contact_info: Option<String>,
    /// The page the widget goes on, from 1; the last page when `None`.
    pub page: Option<u32>,
    /// The field's name; `SignatureN` (the first unused N from 1) when `None`.
    pub field_name: Option<String>,
    pub appearance: SignatureAppearance,
}

impl SignatureRequest {
    /// A PAdES request with an invisible widget on the last page.
    pub fn new(signing_time: OffsetDateTime, contents_capacity: usize) -> Self {
        SignatureRequest {
            sub_filter: SubFilter::EtsiCadesDetached,
            contents_capacity,
            signing_time,
            signer_name: None,
            reason: None,
            location: None,
            contact_info: None,
            page: None,
            field_name: None,
            appearance: SignatureAppearance::Invisible,
        }
    }
}

/// [`prepare_with_limits`] with the default limits.
pub fn prepare(
    input: &Path,
    output: &Path,
    request: &SignatureRequest,
) -> Result<PreparedSignature, PdfError> {
    prepare_with_limits(input, output, request, Limits::default())
}

/// Writes `output`: every byte of `input`, then one incremental update holding an empty
/// signature. The file is written under a temporary name, fsynced and renamed (and the
/// directory fsynced), so a failure never leaves a partial `output`. Like every staging
/// file it is created owner-only (mode 0600 on Unix). `output` must not be `input`.
pub fn prepare_with_limits(
    input: &Path,
    output: &Path,
    request: &SignatureRequest,
    limits: Limits,
) -> Result<PreparedSignature, PdfError> {
    check_request(request, &limits)?;
    refuse_same_file(input, output)?;
    let mut file = PdfFile::open_with_limits(input, limits)?;
    let page = find_page(&mut file, request.page)?;
    let catalog = file.catalog()?;
    let form = acroform(&mut file, &catalog)?;
    let existing_names: Vec<String> = match form.dictionary() {
        Some(dictionary) => walk_fields(&mut file, dictionary)?
            .into_iter()
            .filter(|field| field.named)
            .map(|field| field.full_name)
            .collect(),
        None => Vec::new(),
    };
    let field_name = choose_field_name(request.field_name.as_deref(), &existing_names)?;

    let mut next_number = file.next_object_number();
    let max_number = file.limits().max_object_number;
    let mut allocate = || {
        let id = ObjectId::new(next_number, 0);
        next_number = next_number.saturating_add(1);
        id
    };
    let signature_id = allocate();
    let widget_id = allocate();
    let appearance = widget_appearance(&request.appearance, &mut file, &page, &mut allocate)?;
    let xref_stream_id = allocate();
    if xref_stream_id.number > max_number {
        return Err(PdfError::ObjectNumberTooLarge {
            number: u64::from(xref_stream_id.number),
            limit: max_number,
            offset: file.startxref(),
        });
    }

    let mut objects = vec![NewObject {
        id: widget_id,
        value: PdfObject::Dictionary(signature_widget(
            &field_name,
            signature_id,
            page.id,
            appearance.rect,
            appearance.widget_entries,
        )),
        stream_data: None,
    }];
    objects.extend(appearance.objects);
    objects.extend(add_to_annots(&mut file, &page, widget_id)?);
    objects.extend(add_to_form(&mut file, catalog, form, widget_id)?);
    refuse_duplicates(&objects)?;

    let input_length = file.length();
    let mut update = UpdateBytes::new(input_length);
    if !ends_with_line_break(&mut file)? {
        update.push(b"\n");
    }
    update.signature_dictionary(
        signature_id,
        &signature_entries(request),
        request.contents_capacity,
    );
    for object in &objects {
        update.object(object);
    }
    let form = match file.newest_xref_form() {
        XrefForm::Stream => XrefForm::Stream,
        XrefForm::Table | XrefForm::Hybrid => XrefForm::Table,
    };
    let trailer =
        UpdateTrailer::from_file(file.trailer(), file.next_object_number(), file.startxref());
    update.finish(form, &trailer, xref_stream_id);
    let byte_range = update
        .byte_range()
        .ok_or_else(|| PdfError::InvalidRequest {
            what: "internal: the update has no signature hole".to_owned(),
        })?;
    update.patch_byte_range(&byte_range)?;

    write_output(&mut file, &update, output)?;
    Ok(PreparedSignature {
        output: output.to_path_buf(),
        byte_range,
        contents_capacity: request.contents_capacity,
        field_name,
        signature_dictionary: signature_id,
        page_number: page.number,
    })
}

fn check_request(request: &SignatureRequest, limits: &Limits) -> Result<(), PdfError> {
    if request.contents_capacity == 0 || request.contents_capacity > limits.max_contents_capacity {
        return Err(PdfError::InvalidRequest {
            what: format!(
                "contents_capacity {} must be between 1 and {} bytes",
                request.contents_capacity, limits.max_contents_capacity
            ),
        });
    }
    if let Some(name) = &request.field_name {
        if name.is_empty() || name.contains('.') {
            return Err(PdfError::InvalidRequest {
                what: format!("field name {name:?} must be non-empty and without '.'"),
            });
        }
    }
    check_appearance(&request.appearance)
}

fn refuse_same_file(input: &Path, output: &Path) -> Result<(), PdfError> {
    let same = match (input.canonicalize(), output.canonicalize()) {
        (Ok(input), Ok(output)) => input == output,
        _ => false,
    };
    #[cfg(unix)]
    let same = same || {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(input), std::fs::metadata(output)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    };
    if same {
        return Err(PdfError::OutputIsInput {
            path: output.to_path_buf(),
        });
    }
    Ok(())
}

fn choose_field_name(requested: Option<&str>, existing: &[String]) -> Result<String, PdfError> {
    if let Some(name) = requested {
        if existing.iter().any(|taken| taken == name) {
            return Err(PdfError::InvalidRequest {
                what: format!("the form already has a field named {name:?}"),
            });
        }
        return Ok(name.to_owned());
    }
    (1..=existing.len() + 1)
        .map(|n| format!("Signature{n}"))
        .find(|candidate| !existing.contains(candidate))
        .ok_or_else(|| PdfError::InvalidRequest {
            what: "no free signature field name".to_owned(),
        })
}

/// The signature field merged with its widget annotation.
fn signature_widget(
    field_name: &str,
    signature: ObjectId,
    page: ObjectId,
    rect: [f64; 4],
    appearance_entries: Vec<(Name, PdfObject)>,
) -> Dictionary {
    let mut widget = Dictionary::new();
    widget.set("Type", PdfObject::Name(Name::new("Annot")));
    widget.set("Subtype", PdfObject::Name(Name::new("Widget")));
    widget.set("FT", PdfObject::Name(Name::new("Sig")));
    widget.set("T", PdfObject::String(encode_text(field_name)));
    widget.set("V", PdfObject::Reference(signature));
    widget.set("F", PdfObject::Integer(WIDGET_FLAGS));
    widget.set(
        "Rect",
        PdfObject::Array(rect.iter().map(|&value| number(value)).collect()),
    );
    widget.set("P", PdfObject::Reference(page));
    for (key, value) in appearance_entries {
        widget.set_name(key, value);
    }
    widget
}

/// Whole numbers as integers, others as reals.
fn number(value: f64) -> PdfObject {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        PdfObject::Integer(value as i64)
    } else {
        PdfObject::Real(value)
    }
}

/// The signature dictionary's entries before `/ByteRange` and `/Contents`.
fn signature_entries(request: &SignatureRequest) -> Dictionary {
    let mut dictionary = Dictionary::new();
    dictionary.set("Type", PdfObject::Name(Name::new("Sig")));
    dictionary.set("Filter", PdfObject::Name(Name::new("Adobe.PPKLite")));
    dictionary.set(
        "SubFilter",
        PdfObject::Name(Name::new(request.sub_filter.name())),
    );
    dictionary.set(
        "M",
        PdfObject::String(PdfString {
            bytes: format_pdf_date(request.signing_time).into_bytes(),
            form: StringForm::Literal,
        }),
    );
    let texts = [
        ("Name", &request.signer_name),
        ("Reason", &request.reason),
        ("Location", &request.location),
        ("ContactInfo", &request.contact_info),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            dictionary.set(key, PdfObject::String(encode_text(value)));
        }
    }
    dictionary
}

/// The page's `/Annots` with the widget added: the page rewritten, or the indirect
/// array rewritten when `/Annots` is one.
fn add_to_annots(
    file: &mut PdfFile,
    page: &PageRef,
    widget: ObjectId,
) -> Result<Vec<NewObject>, PdfError> {
    let widget = PdfObject::Reference(widget);
    let mut page_dictionary = page.dictionary.clone();
    match page.dictionary.get("Annots") {
        None | Some(PdfObject::Null) => {
            page_dictionary.set("Annots", PdfObject::Array(vec![widget]));
        }
        Some(PdfObject::Array(items)) => {
            let mut items = items.clone();
            items.push(widget);
            page_dictionary.set("Annots", PdfObject::Array(items));
        }
        Some(PdfObject::Reference(id)) => match file.object(*id)? {
            PdfObject::Array(mut items) => {
                items.push(widget);
                return Ok(vec![NewObject {
                    id: *id,
                    value: PdfObject::Array(items),
                    stream_data: None,
                }]);
            }
            PdfObject::Null => page_dictionary.set("Annots", PdfObject::Array(vec![widget])),
            other => {
                return Err(PdfError::Malformed {
                    what: format!(
                        "page {} has /Annots ({id}) that is {}",
                        page.number,
                        other.kind()
                    ),
                })
            }
        },
        Some(other) => {
            return Err(PdfError::Malformed {
                what: format!("page {} has /Annots that is {}", page.number, other.kind()),
            })
        }
    }
    Ok(vec![NewObject {
        id: page.id,
        value: PdfObject::Dictionary(page_dictionary),
        stream_data: None,
    }])
}

/// The form with the field in `/Fields` and `/SigFlags 3`: the catalog rewritten, or the
/// indirect `/AcroForm` (and an indirect `/Fields` array) rewritten.
fn add_to_form(
    file: &mut PdfFile,
    mut catalog: Dictionary,
    form: AcroFormLocation,
    field: ObjectId,
) -> Result<Vec<NewObject>, PdfError> {
    let root = file.trailer().root;
    let (form_id, mut dictionary) = match form {
        AcroFormLocation::Absent => (None, Dictionary::new()),
        AcroFormLocation::InCatalog(dictionary) => (None, dictionary),
        AcroFormLocation::Indirect(id, dictionary) => (Some(id), dictionary),
    };
    let mut objects = Vec::new();
    let field = PdfObject::Reference(field);
    match dictionary.get("Fields") {
        Some(PdfObject::Array(items)) => {
            let mut items = items.clone();
            items.push(field);
            dictionary.set("Fields", PdfObject::Array(items));
        }
        Some(PdfObject::Reference(id)) => match file.object(*id)? {
            PdfObject::Array(mut items) => {
                items.push(field);
                objects.push(NewObject {
                    id: *id,
                    value: PdfObject::Array(items),
                    stream_data: None,
                });
            }
            _ => dictionary.set("Fields", PdfObject::Array(vec![field])),
        },
        _ => dictionary.set("Fields", PdfObject::Array(vec![field])),
    }
    let flags = dictionary.integer("SigFlags").unwrap_or(0) | SIG_FLAGS;
    dictionary.set("SigFlags", PdfObject::Integer(flags));
    match form_id {
        Some(id) => objects.push(NewObject {
            id,
            value: PdfObject::Dictionary(dictionary),
            stream_data: None,
        }),
        None => {
            catalog.set("AcroForm", PdfObject::Dictionary(dictionary));
            objects.push(NewObject {
                id: root,
                value: PdfObject::Dictionary(catalog),
                stream_data: None,
            });
        }
    }
    Ok(objects)
}

/// A hostile file can make two roles share one object (the page's `/Annots` array is also
/// `/Fields`); rewriting it twice would be ambiguous, so refuse.
fn refuse_duplicates(objects: &[NewObject]) -> Result<(), PdfError> {
    let mut seen = std::collections::HashSet::new();
    for object in objects {
        if !seen.insert(object.id.number) {
            return Err(PdfError::Malformed {
                what: format!(
                    "{} plays two roles in the form (page annotations and form fields?)",
                    object.id
                ),
            });
        }
    }
    Ok(())
}

fn ends_with_line_break(file: &mut PdfFile) -> Result<bool, PdfError> {
    let length = file.length();
    let last = file.source_mut().read_at(length.saturating_sub(1), 1)?;
    Ok(matches!(last.first(), Some(b'\n') | Some(b'\r')))
}

/// Copies the input and appends the update under a temporary name next to `output`, then
/// fsyncs, renames and fsyncs the directory.
fn write_output(file: &mut PdfFile, update: &UpdateBytes, output: &Path) -> Result<(), PdfError> {
    let write_error = |source| PdfError::Write {
        path: output.to_path_buf(),
        source,
    };
    let directory = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".docgate-sign-")
        .suffix(".pdf.tmp")
        .tempfile_in(&directory)
        .map_err(write_error)?;
    {
        let mut writer = BufWriter::with_capacity(CHUNK_BYTES, staging.as_file());
        let length = file.length();
        file.source_mut().copy_prefix(length, &mut writer, output)?;
        update.write_to(&mut writer, output)?;
        writer.flush().map_err(write_error)?;
    }
    staging.as_file().sync_all().map_err(write_error)?;
    staging
        .persist(output)
        .map_err(|error| write_error(error.error))?;
    File::open(&directory)
        .and_then(|directory| directory.sync_all())
        .map_err(write_error)
}
