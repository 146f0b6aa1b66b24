//! The PDF signature structure against real tools: input PDFs made with lopdf and rewritten
//! by qpdf (object and cross-reference streams, linearized), hand-made hybrid and hostile
//! files; each signed with `prepare` → a detached CMS from `openssl cms` → `embed`, then
//! checked by `qpdf --check`, `pdfsig` and our own `signatures()`. The 100 MB case runs in
//! a child process whose peak RSS is measured.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use docgate::signature::pdf::{
    prepare, ByteRangeDefect, EmbeddedSignature, Limits, PdfError, PdfFile, PreparedSignature,
    SignatureRequest, SubFilter, XrefForm,
};
use lopdf::{dictionary, Document, Object, Stream};
use time::macros::datetime;

// ---------------------------------------------------------------- tools and signing

struct TestSigner {
    cert: PathBuf,
    key: PathBuf,
}

/// One RSA test certificate per build, kept in Cargo's scratch directory for tests.
fn signer() -> &'static TestSigner {
    static SIGNER: OnceLock<TestSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pdf_signature_structure");
        fs::create_dir_all(&dir).expect("scratch dir");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        if !cert.exists() || !key.exists() {
            let (cert_tmp, key_tmp) = (dir.join("cert.tmp"), dir.join("key.tmp"));
            run(Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                ])
                .args(["-subj", "/CN=docgate PDF structure test"])
                .arg("-keyout")
                .arg(&key_tmp)
                .arg("-out")
                .arg(&cert_tmp));
            fs::rename(key_tmp, &key).expect("rename key");
            fs::rename(cert_tmp, &cert).expect("rename cert");
        }
        TestSigner { cert, key }
    })
}

/// Runs a command that must succeed; returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("the tool is installed");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn qpdf_check(path: &Path) {
    let output = run(Command::new("qpdf").arg("--check").arg(path));
    assert!(
        output.contains("No syntax or stream encoding errors"),
        "{output}"
    );
}

fn qpdf_rewrite(input: &Path, output: &Path, options: &[&str]) {
    run(Command::new("qpdf").args(options).arg(input).arg(output));
}

/// pdfsig's report, one block per signature.
fn pdfsig(path: &Path) -> Vec<String> {
    let output = Command::new("pdfsig").arg(path).output().expect("pdfsig");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split("Signature #")
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn assert_valid(block: &str, whole: bool) {
    assert!(
        block.contains("Signature Validation: Signature is Valid."),
        "{block}"
    );
    let coverage = if whole {
        "Total document signed"
    } else {
        "Not total document signed"
    };
    assert!(block.contains(coverage), "expected {coverage:?}: {block}");
}

/// The detached CMS of the prepared byte ranges, by `openssl cms -sign`.
fn openssl_sign(prepared: &PreparedSignature, dir: &Path) -> Vec<u8> {
    let ranges = dir.join("ranges.bin");
    let mut writer = BufWriter::new(fs::File::create(&ranges).expect("ranges"));
    prepared
        .feed_signed_bytes(|chunk| writer.write_all(chunk).expect("write ranges"))
        .expect("feed");
    writer.flush().expect("flush");
    drop(writer);
    let der = dir.join("signature.der");
    let signer = signer();
    run(Command::new("openssl")
        .args([
            "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
        ])
        .arg("-in")
        .arg(&ranges)
        .arg("-signer")
        .arg(&signer.cert)
        .arg("-inkey")
        .arg(&signer.key)
        .arg("-out")
        .arg(&der));
    fs::remove_file(&ranges).expect("remove ranges");
    fs::read(der).expect("der")
}

fn request(reason: &str) -> SignatureRequest {
    let mut request = SignatureRequest::new(datetime!(2026-03-02 09:30 +7), 8 * 1024);
    request.sub_filter = SubFilter::AdbePkcs7Detached;
    request.signer_name = Some("Nguyễn Văn An".to_owned());
    request.reason = Some(reason.to_owned());
    request.location = Some("Hà Nội".to_owned());
    request
}

/// prepare → openssl → embed.
fn sign(input: &Path, output: &Path, request: &SignatureRequest) -> PreparedSignature {
    let prepared = prepare(input, output, request).expect("prepare");
    let dir = output.parent().expect("a directory");
    let der = openssl_sign(&prepared, dir);
    prepared.embed(&der).expect("embed");
    prepared
}

/// Signs `input` and checks everything a signed file must satisfy.
fn sign_and_check(dir: &Path, input: &Path, expected_field: &str) -> PathBuf {
    let output = dir.join("signed.pdf");
    let prepared = sign(input, &output, &request("Phê duyệt"));
    assert_eq!(prepared.field_name, expected_field);
    let original = fs::read(input).expect("input");
    let signed = fs::read(&output).expect("output");
    assert!(
        signed.starts_with(&original),
        "the original bytes are a prefix"
    );
    assert_eq!(signed.len() as u64, prepared.byte_range.end());
    qpdf_check(&output);
    let blocks = pdfsig(&output);
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_valid(&blocks[0], true);

    let mut file = PdfFile::open(&output).expect("reopen");
    let signatures = file.signatures().expect("signatures");
    assert_eq!(signatures.len(), 1);
    let signature = &signatures[0];
    assert_eq!(signature.field_name, expected_field);
    assert_eq!(signature.sub_filter.as_deref(), Some("adbe.pkcs7.detached"));
    assert_eq!(signature.filter.as_deref(), Some("Adobe.PPKLite"));
    assert_eq!(signature.signer_name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(signature.reason.as_deref(), Some("Phê duyệt"));
    assert_eq!(signature.location.as_deref(), Some("Hà Nội"));
    assert_eq!(
        signature.signing_time_text.as_deref(),
        Some("D:20260302093000+07'00'")
    );
    assert_eq!(
        signature.signing_time(),
        Some(datetime!(2026-03-02 09:30 +7))
    );
    let contents = signature.contents.as_deref().expect("contents");
    assert_eq!(contents.len(), 8 * 1024, "the padding is kept");
    let der = signature.cms_der().expect("DER");
    assert!(contents.starts_with(der) && contents[der.len()..].iter().all(|&b| b == 0));
    let coverage = signature.coverage.as_ref().expect("a valid byte range");
    assert_eq!(coverage.byte_range, prepared.byte_range);
    assert!(coverage.hole_is_contents);
    assert!(coverage.covers_whole_file());
    assert_eq!(coverage.revision_end, Some(signed.len() as u64));
    assert_eq!(coverage.later_revisions, 0);
    let digest = file
        .digest_signed_bytes(&coverage.byte_range, &ring::digest::SHA256)
        .expect("digest");
    assert_eq!(
        digest.as_ref(),
        prepared
            .digest(&ring::digest::SHA256)
            .expect("digest")
            .as_ref()
    );
    output
}

// ---------------------------------------------------------------- input PDFs

#[derive(Clone, Copy, PartialEq)]
enum Annots {
    Absent,
    Inline,
    Indirect,
}

#[derive(Clone, Copy, PartialEq)]
enum Form {
    Absent,
    /// An indirect /AcroForm with an indirect /Fields array holding a text field named
    /// "Signature1", so the new field must be "Signature2".
    IndirectWithField,
}

/// A document of `pages` pages with a classic cross-reference table, by lopdf.
fn lopdf_document(pages: usize, annots: Annots, form: Form) -> Vec<u8> {
    let mut document = Document::with_version("1.7");
    document.reference_table.cross_reference_type = lopdf::xref::XrefType::CrossReferenceTable;
    let pages_id = document.new_object_id();
    let font = document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut kids = Vec::new();
    let mut page_ids = Vec::new();
    for number in 1..=pages {
        let text = format!("BT /F1 16 Tf 72 760 Td (Trang {number}) Tj ET");
        let content = document.add_object(Stream::new(dictionary! {}, text.into_bytes()));
        let mut page = dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        };
        if annots != Annots::Absent {
            let link = document.add_object(dictionary! {
                "Type" => "Annot", "Subtype" => "Link",
                "Rect" => vec![0.into(), 0.into(), 10.into(), 10.into()],
                "Border" => vec![0.into(), 0.into(), 0.into()],
            });
            let array = vec![Object::Reference(link)];
            if annots == Annots::Inline {
                page.set("Annots", array);
            } else {
                page.set("Annots", document.add_object(array));
            }
        }
        let page_id = document.add_object(page);
        kids.push(Object::Reference(page_id));
        page_ids.push(page_id);
    }
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
    if form == Form::IndirectWithField {
        let field = document.add_object(dictionary! {
            "Type" => "Annot", "Subtype" => "Widget", "FT" => "Tx",
            "T" => Object::string_literal("Signature1"),
            "Rect" => vec![72.into(), 700.into(), 300.into(), 720.into()],
            "P" => page_ids[0], "DA" => Object::string_literal("/F1 12 Tf 0 g"),
        });
        let first_page = document.get_dictionary_mut(page_ids[0]).expect("page");
        first_page.set("Annots", vec![Object::Reference(field)]);
        let fields = document.add_object(vec![Object::Reference(field)]);
        let acroform = document.add_object(dictionary! {
            "Fields" => fields, "DA" => Object::string_literal("/F1 12 Tf 0 g"),
        });
        catalog.set("AcroForm", acroform);
    }
    let catalog_id = document.add_object(catalog);
    document.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).expect("lopdf writes");
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write input");
    path
}

/// A PDF written by hand, for shapes no tool writes on request.
struct RawPdf {
    bytes: Vec<u8>,
    offsets: BTreeMap<u32, usize>,
}

impl RawPdf {
    fn new() -> Self {
        RawPdf {
            bytes: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            offsets: BTreeMap::new(),
        }
    }

    fn object(&mut self, number: u32, body: &[u8]) -> &mut Self {
        self.offsets.insert(number, self.bytes.len());
        self.bytes
            .extend_from_slice(format!("{number} 0 obj\n").as_bytes());
        self.bytes.extend_from_slice(body);
        self.bytes.extend_from_slice(b"\nendobj\n");
        self
    }

    /// A classic table over objects 0..=max and a trailer with `extra` entries.
    fn table(&mut self, extra: &str) -> usize {
        let start = self.bytes.len();
        let size = self.offsets.keys().max().map_or(1, |max| max + 1);
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f\r\n");
        for number in 1..size {
            match self.offsets.get(&number) {
                Some(offset) => table.push_str(&format!("{offset:010} 00000 n\r\n")),
                None => table.push_str("0000000000 65535 f\r\n"),
            }
        }
        table.push_str(&format!("trailer\n<</Size {size} /Root 1 0 R {extra}>>\n"));
        self.bytes.extend_from_slice(table.as_bytes());
        start
    }

    fn finish(&mut self, startxref: usize) -> Vec<u8> {
        self.bytes
            .extend_from_slice(format!("startxref\n{startxref}\n%%EOF\n").as_bytes());
        self.bytes.clone()
    }
}

/// Catalog, pages and one page: the smallest signable document.
fn minimal_objects(raw: &mut RawPdf, catalog_extra: &str) {
    raw.object(
        1,
        format!("<</Type /Catalog /Pages 2 0 R {catalog_extra}>>").as_bytes(),
    )
    .object(
        2,
        b"<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842]>>",
    )
    .object(3, b"<</Type /Page /Parent 2 0 R>>");
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("memory");
    encoder.finish().expect("memory")
}

/// A hybrid file: page 3 lives in object stream 5 (with an indirect /Length 7), listed by
/// the /XRefStm stream 6; the table marks it free.
fn hybrid_pdf() -> Vec<u8> {
    let mut raw = RawPdf::new();
    raw.object(1, b"<</Type /Catalog /Pages 2 0 R>>").object(
        2,
        b"<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842]>>",
    );
    let content = b"BT /F1 12 Tf 72 760 Td (hybrid) Tj ET";
    let mut body = format!("<</Length {}>>\nstream\n", content.len()).into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(b"\nendstream");
    raw.object(4, &body);
    let page = b"<</Type /Page /Parent 2 0 R /Contents 4 0 R>>";
    let header = b"3 0 ";
    let mut data = header.to_vec();
    data.extend_from_slice(page);
    let packed = deflate(&data);
    let mut body = format!(
        "<</Type /ObjStm /N 1 /First {} /Filter /FlateDecode /Length 7 0 R>>\nstream\n",
        header.len()
    )
    .into_bytes();
    body.extend_from_slice(&packed);
    body.extend_from_slice(b"\nendstream");
    raw.object(5, &body);
    raw.object(7, packed.len().to_string().as_bytes());
    // /W [1 2 1]: object 3 is entry 0 of stream 5.
    let entries = [2u8, 0, 5, 0];
    let mut body = format!(
        "<</Type /XRef /Size 8 /W [1 2 1] /Index [3 1] /Length {}>>\nstream\n",
        entries.len()
    )
    .into_bytes();
    body.extend_from_slice(&entries);
    body.extend_from_slice(b"\nendstream");
    raw.object(6, &body);
    let stream_offset = raw.offsets[&6];
    let start = raw.table(&format!("/XRefStm {stream_offset}"));
    raw.finish(start)
}

// ---------------------------------------------------------------- signing real files

#[test]
fn signs_the_demo_sample_whose_cross_reference_is_a_stream() {
    let dir = tempfile::tempdir().expect("dir");
    let sample = docgate::demo::sample_pdf("Cong van so 12/UBND").expect("sample");
    let input = write(dir.path(), "in.pdf", &sample);
    assert_eq!(
        PdfFile::open(&input).expect("open").newest_xref_form(),
        XrefForm::Stream
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let file = PdfFile::open(&output).expect("reopen");
    assert_eq!(file.newest_xref_form(), XrefForm::Stream);
    assert_eq!(file.revisions().len(), 2);
}

#[test]
fn signs_a_file_with_a_classic_table() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Absent, Form::Absent),
    );
    assert_eq!(
        PdfFile::open(&input).expect("open").newest_xref_form(),
        XrefForm::Table
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let file = PdfFile::open(&output).expect("reopen");
    assert_eq!(file.newest_xref_form(), XrefForm::Table);
    assert_eq!(file.revisions().len(), 2);
}

#[test]
fn signs_a_file_with_object_and_cross_reference_streams() {
    let dir = tempfile::tempdir().expect("dir");
    let plain = write(
        dir.path(),
        "plain.pdf",
        &lopdf_document(2, Annots::Absent, Form::Absent),
    );
    let input = dir.path().join("in.pdf");
    qpdf_rewrite(&plain, &input, &["--object-streams=generate"]);
    assert_eq!(
        PdfFile::open(&input).expect("open").newest_xref_form(),
        XrefForm::Stream
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let file = PdfFile::open(&output).expect("reopen");
    assert_eq!(
        file.newest_xref_form(),
        XrefForm::Stream,
        "the update is a stream too"
    );
}

#[test]
fn signs_a_linearized_file() {
    let dir = tempfile::tempdir().expect("dir");
    let plain = write(
        dir.path(),
        "plain.pdf",
        &lopdf_document(3, Annots::Inline, Form::Absent),
    );
    let input = dir.path().join("in.pdf");
    qpdf_rewrite(&plain, &input, &["--linearize"]);
    let file = PdfFile::open(&input).expect("open");
    assert_eq!(
        file.revisions().len(),
        1,
        "the first-page section is part of the one revision"
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    assert_eq!(PdfFile::open(&output).expect("reopen").revisions().len(), 2);
}

#[test]
fn signs_a_page_whose_annots_are_inline() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Inline, Form::Absent),
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let document = lopdf::Document::load(&output).expect("lopdf reads the result");
    let page = document.page_iter().next().expect("a page");
    assert_eq!(
        document.get_page_annotations(page).expect("annots").len(),
        2
    );
}

#[test]
fn signs_a_page_whose_annots_are_an_indirect_array() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Indirect, Form::Absent),
    );
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let document = lopdf::Document::load(&output).expect("lopdf reads the result");
    let page = document.page_iter().next().expect("a page");
    assert_eq!(
        document.get_page_annotations(page).expect("annots").len(),
        2
    );
}

#[test]
fn signs_a_document_with_a_form_and_picks_a_free_field_name() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(2, Annots::Indirect, Form::IndirectWithField),
    );
    let output = sign_and_check(dir.path(), &input, "Signature2");
    let document = lopdf::Document::load(&output).expect("lopdf reads the result");
    let form = document
        .catalog()
        .and_then(|catalog| catalog.get(b"AcroForm"))
        .and_then(|form| document.dereference(form))
        .and_then(|(_, form)| form.as_dict())
        .expect("the form is still there")
        .clone();
    assert_eq!(form.get(b"SigFlags").and_then(Object::as_i64).ok(), Some(3));
    let fields = document
        .dereference(form.get(b"Fields").expect("fields"))
        .expect("array");
    assert_eq!(fields.1.as_array().expect("array").len(), 2);
}

#[test]
fn signs_a_form_inside_object_streams() {
    let dir = tempfile::tempdir().expect("dir");
    let plain = write(
        dir.path(),
        "plain.pdf",
        &lopdf_document(2, Annots::Indirect, Form::IndirectWithField),
    );
    let input = dir.path().join("in.pdf");
    qpdf_rewrite(&plain, &input, &["--object-streams=generate"]);
    sign_and_check(dir.path(), &input, "Signature2");
}

#[test]
fn signs_the_requested_page() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(3, Annots::Absent, Form::Absent),
    );
    let output = dir.path().join("signed.pdf");
    let mut on_page_two = request("Trang 2");
    on_page_two.page = Some(2);
    let prepared = sign(&input, &output, &on_page_two);
    assert_eq!(prepared.page_number, 2);
    assert_valid(&pdfsig(&output)[0], true);
    let document = lopdf::Document::load(&output).expect("lopdf");
    let pages = document.get_pages();
    let annotated: Vec<u32> = pages
        .iter()
        .filter(|(_, id)| {
            !document
                .get_page_annotations(**id)
                .unwrap_or_default()
                .is_empty()
        })
        .map(|(number, _)| *number)
        .collect();
    assert_eq!(annotated, vec![2]);

    let mut too_far = request("Trang 9");
    too_far.page = Some(9);
    let error = prepare(&input, &dir.path().join("nine.pdf"), &too_far).expect_err("no page 9");
    assert!(
        matches!(
            error,
            PdfError::NoSuchPage {
                requested: 9,
                count: 3
            }
        ),
        "{error}"
    );
}

#[test]
fn signs_a_hybrid_file() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(dir.path(), "in.pdf", &hybrid_pdf());
    let file = PdfFile::open(&input).expect("open");
    assert_eq!(file.newest_xref_form(), XrefForm::Hybrid);
    qpdf_check(&input);
    let output = sign_and_check(dir.path(), &input, "Signature1");
    let file = PdfFile::open(&output).expect("reopen");
    assert_eq!(file.newest_xref_form(), XrefForm::Table);
}

#[test]
fn the_default_request_is_pades_with_an_invisible_widget_on_the_last_page() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(3, Annots::Absent, Form::Absent),
    );
    let output = dir.path().join("prepared.pdf");
    let request = SignatureRequest::new(datetime!(2026-03-02 02:30 UTC), 4096);
    let prepared = prepare(&input, &output, &request).expect("prepare");
    assert_eq!(prepared.page_number, 3);
    // Not yet embedded: the empty hole is still a well-formed file.
    qpdf_check(&output);
    let signature = PdfFile::open(&output)
        .expect("open")
        .signatures()
        .expect("signatures")
        .remove(0);
    assert_eq!(signature.sub_filter.as_deref(), Some("ETSI.CAdES.detached"));
    assert_eq!(signature.dictionary_type.as_deref(), Some("Sig"));
    assert_eq!(
        signature.signing_time_text.as_deref(),
        Some("D:20260302093000+07'00'")
    );
    assert_eq!(signature.signer_name, None);
    assert_eq!(signature.cms_der(), None, "all zeros");
    let document = lopdf::Document::load(&output).expect("lopdf");
    let last_page = *document.get_pages().get(&3).expect("page 3");
    let annotations = document.get_page_annotations(last_page).expect("annots");
    let widget = annotations.first().expect("the widget");
    let rect: Vec<i64> = widget
        .get(b"Rect")
        .and_then(Object::as_array)
        .expect("rect")
        .iter()
        .map(|value| value.as_i64().expect("integer"))
        .collect();
    assert_eq!(rect, vec![0, 0, 0, 0]);
    assert_eq!(widget.get(b"F").and_then(Object::as_i64).ok(), Some(132));
    assert_eq!(
        widget.get(b"FT").and_then(Object::as_name).ok(),
        Some(&b"Sig"[..])
    );
}

#[test]
fn a_second_signature_keeps_the_first_valid() {
    for object_streams in [false, true] {
        let dir = tempfile::tempdir().expect("dir");
        let plain = write(
            dir.path(),
            "plain.pdf",
            &lopdf_document(1, Annots::Absent, Form::Absent),
        );
        let input = dir.path().join("in.pdf");
        if object_streams {
            qpdf_rewrite(&plain, &input, &["--object-streams=generate"]);
        } else {
            fs::copy(&plain, &input).expect("copy");
        }
        let leader = dir.path().join("leader.pdf");
        let first = sign(&input, &leader, &request("Lãnh đạo ký"));
        let agency = dir.path().join("agency.pdf");
        let second = sign(&leader, &agency, &request("Văn thư đóng dấu"));
        assert_eq!(
            (first.field_name.as_str(), second.field_name.as_str()),
            ("Signature1", "Signature2")
        );
        let leader_bytes = fs::read(&leader).expect("leader");
        assert!(fs::read(&agency)
            .expect("agency")
            .starts_with(&leader_bytes));
        qpdf_check(&agency);
        let blocks = pdfsig(&agency);
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        assert_valid(&blocks[0], false);
        assert_valid(&blocks[1], true);

        let signatures = PdfFile::open(&agency)
            .expect("open")
            .signatures()
            .expect("signatures");
        assert_eq!(signatures.len(), 2);
        let first_coverage = signatures[0].coverage.as_ref().expect("range");
        assert_eq!(signatures[0].reason.as_deref(), Some("Lãnh đạo ký"));
        assert_eq!(first_coverage.byte_range, first.byte_range);
        assert!(!first_coverage.covers_whole_file());
        assert_eq!(first_coverage.revision_end, Some(leader_bytes.len() as u64));
        assert_eq!(first_coverage.later_revisions, 1);
        assert!(first_coverage.hole_is_contents);
        let second_coverage = signatures[1].coverage.as_ref().expect("range");
        assert!(second_coverage.covers_whole_file());
        assert_eq!(second_coverage.later_revisions, 0);
    }
}

#[test]
fn bytes_appended_after_a_signature_are_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Absent, Form::Absent),
    );
    let output = dir.path().join("signed.pdf");
    sign(&input, &output, &request("Ký"));
    let mut bytes = fs::read(&output).expect("signed");
    let signed_length = bytes.len() as u64;
    bytes.extend_from_slice(b"% appended, not a revision\n");
    let tampered = write(dir.path(), "tampered.pdf", &bytes);
    let signatures = PdfFile::open(&tampered)
        .expect("open")
        .signatures()
        .expect("signatures");
    let coverage = signatures[0].coverage.as_ref().expect("range");
    assert_eq!(coverage.bytes_after, 27);
    assert_eq!(coverage.later_revisions, 0, "garbage is no revision");
    assert_eq!(coverage.revision_end, Some(signed_length));
    assert!(!coverage.covers_whole_file());
}

#[test]
fn a_changed_byte_in_the_signed_range_invalidates_the_signature() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Absent, Form::Absent),
    );
    let output = dir.path().join("signed.pdf");
    sign(&input, &output, &request("Ký"));
    let mut bytes = fs::read(&output).expect("signed");
    let position = bytes
        .windows(7)
        .position(|window| window == b"Trang 1")
        .expect("the page text");
    bytes[position + 6] = b'7';
    let tampered = write(dir.path(), "tampered.pdf", &bytes);
    let blocks = pdfsig(&tampered);
    assert_eq!(blocks.len(), 1);
    assert!(!blocks[0].contains("Signature is Valid"), "{}", blocks[0]);
}

#[test]
fn refusals_of_the_writer() {
    let dir = tempfile::tempdir().expect("dir");
    let input = write(
        dir.path(),
        "in.pdf",
        &lopdf_document(1, Annots::Absent, Form::Absent),
    );
    let same = prepare(&input, &input, &request("Ký")).expect_err("same file");
    assert!(matches!(same, PdfError::OutputIsInput { .. }), "{same}");
    let mut empty = request("Ký");
    empty.contents_capacity = 0;
    let error = prepare(&input, &dir.path().join("x.pdf"), &empty).expect_err("no room");
    assert!(matches!(error, PdfError::InvalidRequest { .. }), "{error}");

    let output = dir.path().join("signed.pdf");
    let mut small = request("Ký");
    small.contents_capacity = 16;
    let prepared = prepare(&input, &output, &small).expect("prepare");
    let error = prepared.embed(&[0x30; 17]).expect_err("too large");
    assert!(
        matches!(
            error,
            PdfError::SignatureTooLarge {
                needed: 17,
                capacity: 16
            }
        ),
        "{error}"
    );
    // A shorter retry replaces the whole hole.
    prepared.embed(&[0xAB; 16]).expect("fits");
    prepared.embed(&[0xCD; 2]).expect("fits");
    let signatures = PdfFile::open(&output)
        .expect("open")
        .signatures()
        .expect("sigs");
    let mut expected = vec![0xCD, 0xCD];
    expected.resize(16, 0);
    assert_eq!(signatures[0].contents.as_deref(), Some(&expected[..]));
    fs::OpenOptions::new()
        .append(true)
        .open(&output)
        .and_then(|mut file| file.write_all(b"x"))
        .expect("append");
    let error = prepared.embed(&[1]).expect_err("changed file");
    assert!(matches!(error, PdfError::NotPrepared { .. }), "{error}");
    assert!(!input.with_extension("pdf.tmp").exists());
}

/// A file signed by hand (no real CMS): the signature dictionary's /ByteRange is filled in
/// by `byte_range`, given the offsets of the /Contents string and the file length.
fn hand_signed(byte_range: impl Fn(usize, usize, usize) -> [usize; 4]) -> Vec<u8> {
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "/AcroForm <</Fields [5 0 R] /SigFlags 3>>");
    let placeholder = "[0 0000000000 0000000000 0000000000]";
    raw.object(
        4,
        format!("<</Type /Sig /SubFilter /adbe.pkcs7.detached /ByteRange {placeholder} /Contents <30030201FF00>>>")
            .as_bytes(),
    )
    .object(5, b"<</FT /Sig /T (Parent) /Kids [6 0 R]>>")
    .object(6, b"<</T (Leader) /Parent 5 0 R /V 4 0 R /Subtype /Widget /Rect [0 0 0 0]>>");
    let start = raw.table("");
    let mut bytes = raw.finish(start);
    let contents = bytes
        .windows(14)
        .position(|w| w == b"<30030201FF00>")
        .expect("contents");
    let [a, b, c, d] = byte_range(contents, contents + 14, bytes.len());
    let filled = format!("[{a} {b:010} {c:010} {d:010}]");
    assert_eq!(filled.len(), placeholder.len());
    let at = bytes
        .windows(placeholder.len())
        .position(|w| w == placeholder.as_bytes())
        .expect("slot");
    bytes[at..at + placeholder.len()].copy_from_slice(filled.as_bytes());
    bytes
}

#[test]
fn signature_facts_of_hand_made_files() {
    let exact = hand_signed(|start, end, length| [0, start, end, length - end]);
    let signatures = read_signatures(&exact).expect("signatures");
    assert_eq!(signatures.len(), 1);
    let signature = &signatures[0];
    assert_eq!(
        signature.field_name, "Parent.Leader",
        "the full name, /FT inherited"
    );
    assert_eq!(signature.cms_der(), Some(&[0x30, 3, 2, 1, 0xFF][..]));
    let coverage = signature.coverage.as_ref().expect("a range");
    assert!(coverage.hole_is_contents && coverage.covers_whole_file());
    assert_eq!(coverage.revision_end, Some(exact.len() as u64));

    // A hole wider than the /Contents string (it swallows the key too).
    let wider = hand_signed(|start, end, length| [0, start - 10, end, length - end]);
    let signatures = read_signatures(&wider).expect("signatures");
    let coverage = signatures[0].coverage.as_ref().expect("a range");
    assert!(!coverage.hole_is_contents);

    // A range that stops short of the end of the revision.
    let short = hand_signed(|start, end, length| [0, start, end, length - end - 8]);
    let signatures = read_signatures(&short).expect("signatures");
    let coverage = signatures[0].coverage.as_ref().expect("a range");
    assert_eq!((coverage.revision_end, coverage.bytes_after), (None, 8));

    // Broken ranges are reported per signature; reading the file still succeeds.
    let overlapping = hand_signed(|start, end, length| [0, end, start, length - start]);
    let signatures = read_signatures(&overlapping).expect("signatures");
    assert!(matches!(
        signatures[0].coverage,
        Err(ByteRangeDefect::Overlapping { .. })
    ));
    let past_end = hand_signed(|start, end, length| [0, start, end, length]);
    let signatures = read_signatures(&past_end).expect("signatures");
    assert!(matches!(
        signatures[0].coverage,
        Err(ByteRangeDefect::PastEnd { .. })
    ));
}

// ---------------------------------------------------------------- hostile inputs

fn read_signatures(bytes: &[u8]) -> Result<Vec<EmbeddedSignature>, PdfError> {
    let source = Box::new(Cursor::new(bytes.to_vec()));
    PdfFile::from_source(source, Limits::default())?.signatures()
}

/// The error reading `bytes`, which must be one line.
fn refused(bytes: &[u8]) -> PdfError {
    let error = read_signatures(bytes).expect_err("a hostile file is refused");
    let message = error.to_string();
    assert!(
        !message.contains('\n') && !message.is_empty(),
        "{message:?}"
    );
    error
}

#[test]
fn truncated_files_are_errors_never_panics() {
    let dir = tempfile::tempdir().expect("dir");
    let plain = write(
        dir.path(),
        "plain.pdf",
        &lopdf_document(2, Annots::Inline, Form::Absent),
    );
    let streams = dir.path().join("streams.pdf");
    qpdf_rewrite(&plain, &streams, &["--object-streams=generate"]);
    for path in [&plain, &streams] {
        let bytes = fs::read(path).expect("read");
        for cut in (0..bytes.len()).step_by(37) {
            if let Err(error) = read_signatures(&bytes[..cut]) {
                assert!(!error.to_string().contains('\n'), "{error}");
            }
        }
        let error = refused(&bytes[..bytes.len() / 2]);
        assert!(matches!(error, PdfError::NoStartXref { .. }), "{error}");
    }
}

#[test]
fn garbage_is_not_a_pdf() {
    let mut garbage = vec![0u8; 4096];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut garbage).expect("random");
    garbage[..5].copy_from_slice(b"GIF89");
    assert!(matches!(refused(&garbage), PdfError::NotPdf { .. }));
    let mut headed = b"%PDF-1.7\n".to_vec();
    headed.extend_from_slice(&garbage);
    assert!(matches!(refused(&headed), PdfError::NoStartXref { .. }));
    assert!(matches!(refused(b""), PdfError::NotPdf { .. }));
}

#[test]
fn a_prev_loop_is_refused() {
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    let start = raw.bytes.len();
    raw.table(&format!("/Prev {start}"));
    let error = refused(&raw.finish(start));
    assert!(
        matches!(error, PdfError::XrefLoop { offset } if offset == start as u64),
        "{error}"
    );
}

#[test]
fn offsets_past_the_end_are_refused() {
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    raw.table("");
    let error = refused(&raw.finish(999_999));
    assert!(
        matches!(
            error,
            PdfError::XrefOffsetPastEnd {
                offset: 999_999,
                ..
            }
        ),
        "{error}"
    );

    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    let start = raw.table("/Prev 88888888");
    let error = refused(&raw.finish(start));
    assert!(
        matches!(
            error,
            PdfError::XrefOffsetPastEnd {
                offset: 88_888_888,
                ..
            }
        ),
        "{error}"
    );

    // An object said to be past the end.
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    raw.offsets.insert(1, 77_777_777);
    let start = raw.table("");
    let error = refused(&raw.finish(start));
    assert!(error.to_string().contains("offset 77777777"), "{error}");
}

#[test]
fn an_enormous_size_or_count_is_refused() {
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    let start = raw.table("");
    let bytes = raw.finish(start);
    let at = bytes
        .windows(8)
        .rposition(|w| w == b"/Size 4 ")
        .expect("the trailer's /Size");
    let bytes = [&bytes[..at], b"/Size 4294967296 ", &bytes[at + 8..]].concat();
    let error = refused(&bytes);
    assert!(
        matches!(error, PdfError::ObjectNumberTooLarge { .. }),
        "{error}"
    );

    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    let start = raw.bytes.len();
    raw.bytes
        .extend_from_slice(b"xref\n0 3000000\n0000000000 65535 f\r\ntrailer\n<</Size 4>>\n");
    let error = refused(&raw.finish(start));
    assert!(matches!(error, PdfError::TooManyObjects { .. }), "{error}");
}

#[test]
fn deeply_nested_arrays_are_refused() {
    let mut raw = RawPdf::new();
    let deep = format!("/Deep {}{}", "[".repeat(20_000), "]".repeat(20_000));
    minimal_objects(&mut raw, &deep);
    let start = raw.table("");
    let error = refused(&raw.finish(start));
    assert!(
        matches!(error, PdfError::TooDeep { limit: 64, .. }),
        "{error}"
    );
}

#[test]
fn a_flate_bomb_in_a_cross_reference_stream_is_refused() {
    let mut raw = RawPdf::new();
    minimal_objects(&mut raw, "");
    let bomb = deflate(&vec![0u8; 64 << 20]);
    let mut body = format!(
        "<</Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length {}>>\nstream\n",
        bomb.len()
    )
    .into_bytes();
    body.extend_from_slice(&bomb);
    body.extend_from_slice(b"\nendstream");
    raw.object(4, &body);
    let start = raw.offsets[&4];
    let error = refused(&raw.finish(start));
    assert!(matches!(error, PdfError::StreamTooLarge { .. }), "{error}");
}

#[test]
fn a_loop_in_the_page_tree_is_refused() {
    let mut raw = RawPdf::new();
    raw.object(1, b"<</Type /Catalog /Pages 2 0 R>>")
        .object(2, b"<</Type /Pages /Kids [4 0 R] /Count 1>>")
        .object(4, b"<</Type /Pages /Kids [2 0 R] /Count 1>>");
    let start = raw.table("");
    let dir = tempfile::tempdir().expect("dir");
    let input = write(dir.path(), "in.pdf", &raw.finish(start));
    let error = prepare(&input, &dir.path().join("out.pdf"), &request("Ký")).expect_err("loop");
    assert!(matches!(error, PdfError::Tree { .. }), "{error}");
    assert!(!dir.path().join("out.pdf").exists());
}

#[test]
fn an_encrypted_pdf_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let plain = write(
        dir.path(),
        "plain.pdf",
        &lopdf_document(1, Annots::Absent, Form::Absent),
    );
    let encrypted = dir.path().join("encrypted.pdf");
    run(Command::new("qpdf")
        .args(["--encrypt", "u", "o", "256", "--"])
        .arg(&plain)
        .arg(&encrypted));
    let error = PdfFile::open(&encrypted).expect_err("encrypted");
    assert!(matches!(error, PdfError::Encrypted), "{error}");
    let error = prepare(&encrypted, &dir.path().join("out.pdf"), &request("Ký")).expect_err("no");
    assert!(matches!(error, PdfError::Encrypted), "{error}");
}

// ---------------------------------------------------------------- a 100 MB document

const LARGE_CHILD: &str = "DOCGATE_PDF_LARGE_CHILD";
const LARGE_STREAM_BYTES: usize = 100 << 20;

/// A page plus one 100 MiB stream of random bytes, written in chunks.
fn write_large_pdf(path: &Path) {
    let mut out = BufWriter::new(fs::File::create(path).expect("create"));
    let mut offsets = Vec::new();
    let mut position = 0usize;
    let emit = |out: &mut BufWriter<fs::File>, bytes: &[u8], position: &mut usize| {
        out.write_all(bytes).expect("write");
        *position += bytes.len();
    };
    emit(&mut out, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", &mut position);
    let small: [&[u8]; 3] = [
        b"<</Type /Catalog /Pages 2 0 R>>",
        b"<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842]>>",
        b"<</Type /Page /Parent 2 0 R>>",
    ];
    for (index, body) in small.iter().enumerate() {
        offsets.push(position);
        emit(
            &mut out,
            format!("{} 0 obj\n", index + 1).as_bytes(),
            &mut position,
        );
        emit(&mut out, body, &mut position);
        emit(&mut out, b"\nendobj\n", &mut position);
    }
    offsets.push(position);
    let header = format!("4 0 obj\n<</Length {LARGE_STREAM_BYTES}>>\nstream\n");
    emit(&mut out, header.as_bytes(), &mut position);
    let random = ring::rand::SystemRandom::new();
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..LARGE_STREAM_BYTES / chunk.len() {
        ring::rand::SecureRandom::fill(&random, &mut chunk).expect("random");
        emit(&mut out, &chunk, &mut position);
    }
    emit(&mut out, b"\nendstream\nendobj\n", &mut position);
    let start = position;
    let mut table = String::from("xref\n0 5\n0000000000 65535 f\r\n");
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n\r\n"));
    }
    table.push_str(&format!(
        "trailer\n<</Size 5 /Root 1 0 R>>\nstartxref\n{start}\n%%EOF\n"
    ));
    emit(&mut out, table.as_bytes(), &mut position);
    out.flush().expect("flush");
}

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field is in /proc/self/status")
}

/// The child half of the 100 MB test: does nothing unless the parent started it.
#[test]
fn large_pdf_child_process() {
    let Ok(dir) = std::env::var(LARGE_CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let baseline = status_kib("VmRSS:");
    let signed = dir.join("signed.pdf");
    let prepared = sign(&dir.join("large.pdf"), &signed, &request("Ký văn bản lớn"));
    let mut file = PdfFile::open(&signed).expect("reopen");
    let signatures = file.signatures().expect("signatures");
    let coverage = signatures[0].coverage.as_ref().expect("range");
    assert!(coverage.covers_whole_file() && coverage.hole_is_contents);
    let digest = file
        .digest_signed_bytes(&prepared.byte_range, &ring::digest::SHA256)
        .expect("digest");
    assert_eq!(digest.as_ref().len(), 32);
    println!("BASELINE_RSS_KIB={baseline}");
    println!("PEAK_RSS_KIB={}", status_kib("VmHWM:"));
}

#[test]
fn a_100_mb_pdf_is_signed_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("dir");
    let large = dir.path().join("large.pdf");
    write_large_pdf(&large);
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "large_pdf_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LARGE_CHILD, dir.path())
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = |key: &str| -> u64 {
        stdout
            .lines()
            .find_map(|line| line.split_once(key).map(|(_, value)| value))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {stdout}"))
    };
    let (baseline, peak) = (value("BASELINE_RSS_KIB="), value("PEAK_RSS_KIB="));
    eprintln!("100 MB PDF: child RSS {baseline} KiB at start, peak {peak} KiB");
    assert!(
        peak < 40 * 1024,
        "peak RSS {peak} KiB while signing a 100 MB PDF"
    );
    let signed = dir.path().join("signed.pdf");
    assert!(fs::metadata(&signed).expect("signed").len() > LARGE_STREAM_BYTES as u64);
    let blocks = pdfsig(&signed);
    assert_eq!(blocks.len(), 1);
    assert_valid(&blocks[0], true);
}
