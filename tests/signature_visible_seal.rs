//! The visible seal, end to end with real tools: a red seal PNG (a ring on a transparent
//! background, with a `pHYs` resolution) made here, applied with `docgate sign
//! --seal-image`, then checked by `pdfsig` (both signatures valid, the whole document
//! signed), `qpdf --check`, and by looking at the page as `pdftoppm` renders it at 72 dpi
//! (one pixel per point): red pixels inside the seal's rectangle and nowhere else, the
//! page showing through the transparent parts. Placement: the bottom right of an
//! invisibly signed document, an explicit `--seal-position`, and over the left third of a
//! leader's visible (blue) signature. Unusable PNGs are refused and write nothing. Last,
//! the gateway's sealer with `[signing] seal_image`, across the demo exchange.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::docgate;
use common::exchange::{set_option, wait_for, Exchange};
use common::signing::pdfsig;
use common::{sample_meta, GatewayProcess};
use docgate::demo::pki::{SignerFiles, TestCa};
use docgate::signature::pdf::{PdfFile, POINTS_PER_MM};

/// The seal picture: 400 px square at 10,000 px/m, so 40 mm (113.39 pt) on paper.
const SEAL_PIXELS: u32 = 400;
const SEAL_POINTS: f64 = 40.0 * POINTS_PER_MM;
/// The leader's signature picture: 600 × 240 px at 12,000 px/m, 50 × 20 mm.
const SIGNATURE_POINTS: (f64, f64) = (50.0 * POINTS_PER_MM, 20.0 * POINTS_PER_MM);
/// The band under each picture holding the signing time.
const CAPTION_BAND: f64 = 10.0;
/// The demo sample is A4.
const PAGE: (f64, f64) = (595.0, 842.0);

struct Setup {
    dir: tempfile::TempDir,
    ca_certificate: PathBuf,
    crl: PathBuf,
    leader: SignerFiles,
    agency: SignerFiles,
    seal: PathBuf,
    signature: PathBuf,
    unsigned: PathBuf,
}

/// Who signs: the leader (a person's certificate) or the agency (CN = the organization).
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Leader,
    Agency,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &path, "ca").expect("ca");
    let organization = "UBND huyện Thử Nghiệm";
    let issue = |name: &str, serial, stem: &str| {
        ca.issue_document_signer(name, organization, serial, &path, stem)
            .expect("a signer")
    };
    let (leader, agency) = (
        issue("Nguyễn Văn An", 21, "leader"),
        issue(organization, 22, "agency"),
    );
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(path.join(name), bytes).expect("write");
        path.join(name)
    };
    Setup {
        ca_certificate: ca.certificate.clone(),
        crl: ca.revocation_list(&[], &path, "crl").expect("crl"),
        leader,
        agency,
        seal: write("seal.png", red_ring_png()),
        signature: write("signature.png", blue_signature_png()),
        unsigned: write(
            "unsigned.pdf",
            docgate::demo::sample_pdf("Cong van so 7").expect("pdf"),
        ),
        dir,
    }
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `docgate sign --key-file … --role … [extra…] INPUT OUTPUT`.
    fn sign(&self, who: Who, extra: &[&str], input: &Path, output: &Path) -> Output {
        let (signer, role) = match who {
            Who::Leader => (&self.leader, "leader"),
            Who::Agency => (&self.agency, "agency"),
        };
        docgate()
            .arg("sign")
            .arg("--key-file")
            .arg(&signer.key_file)
            .args(["--role", role])
            .args(extra)
            .arg(input)
            .arg(output)
            .output()
            .expect("docgate sign")
    }

    /// [`Setup::sign`] into `name`, which must succeed.
    fn signed(&self, who: Who, extra: &[&str], input: &Path, name: &str) -> PathBuf {
        let output = self.path(name);
        let result = self.sign(who, extra, input, &output);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success(), "docgate sign {extra:?}: {stderr}");
        output
    }

    fn seal_arg(&self) -> &str {
        self.seal.to_str().expect("a UTF-8 path")
    }

    /// The leader's signature with the blue picture, its lower-left corner at `position`.
    fn leader_signed_visibly(&self, position: &str, name: &str) -> PathBuf {
        let signature = self.signature.to_str().expect("a UTF-8 path");
        let extra = ["--seal-image", signature, "--seal-position", position];
        self.signed(Who::Leader, &extra, &self.unsigned, name)
    }
}

/// RGBA: a red ring (and a red dot in the middle) on a fully transparent black background.
fn red_ring_png() -> Vec<u8> {
    let centre = f64::from(SEAL_PIXELS) / 2.0;
    rgba_png((SEAL_PIXELS, SEAL_PIXELS), 10_000, |x, y| {
        let distance = (f64::from(x) + 0.5 - centre).hypot(f64::from(y) + 0.5 - centre);
        if (150.0..=190.0).contains(&distance) || distance <= 30.0 {
            [220, 25, 30, 255]
        } else {
            [0, 0, 0, 0]
        }
    })
}

/// RGBA: a thick blue wave on a transparent background.
fn blue_signature_png() -> Vec<u8> {
    rgba_png((600, 240), 12_000, |x, y| {
        let wave = 120.0 + 70.0 * (f64::from(x) / 40.0).sin();
        if x > 30 && x < 570 && (f64::from(y) - wave).abs() < 9.0 {
            [20, 40, 200, 255]
        } else {
            [255, 255, 255, 0]
        }
    })
}

fn rgba_png(
    (width, height): (u32, u32),
    pixels_per_metre: u32,
    pixel: impl Fn(u32, u32) -> [u8; 4],
) -> Vec<u8> {
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            data.extend_from_slice(&pixel(x, y));
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: pixels_per_metre,
            yppu: pixels_per_metre,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().expect("png header");
        writer.write_image_data(&data).expect("png data");
    }
    bytes
}

/// `pdfsig` calls every signature valid and the last one covers the whole document;
/// `qpdf --check` finds nothing wrong.
fn assert_valid_pdf(file: &Path, signatures: usize) {
    let text = pdfsig(file);
    assert_eq!(
        text.matches("Signature is Valid").count(),
        signatures,
        "{text}"
    );
    assert!(text.contains("Total document signed"), "{text}");
    let qpdf = Command::new("qpdf")
        .arg("--check")
        .arg(file)
        .output()
        .expect("qpdf");
    assert!(
        qpdf.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&qpdf.stdout),
        String::from_utf8_lossy(&qpdf.stderr)
    );
}

/// Each signature's field name and visible widget rectangle, as our reader sees them.
fn widgets(file: &Path) -> Vec<(String, Option<[f64; 4]>)> {
    PdfFile::open(file)
        .expect("open")
        .signatures()
        .expect("signatures")
        .into_iter()
        .map(|signature| {
            let rect = signature
                .widget
                .filter(|widget| widget.is_visible())
                .and_then(|widget| widget.rect);
            (signature.field_name, rect)
        })
        .collect()
}

/// The picture's part of a widget: the widget less the caption band at its bottom, the
/// picture `width` wide and centred across.
fn picture_of(widget: [f64; 4], width: f64) -> [f64; 4] {
    let x0 = (widget[0] + widget[2] - width) / 2.0;
    [x0, widget[1] + CAPTION_BAND, x0 + width, widget[3]]
}

fn assert_close<const N: usize>(actual: [f64; N], expected: [f64; N], what: &str) {
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() < 0.02,
            "{what}: {actual:?}, expected {expected:?}"
        );
    }
}

/// The rendered page, one pixel per point.
struct Raster {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

fn render(file: &Path) -> Raster {
    let prefix = file.with_extension("render");
    let output = Command::new("pdftoppm")
        .args(["-png", "-r", "72", "-singlefile"])
        .arg(file)
        .arg(&prefix)
        .output()
        .expect("pdftoppm");
    assert!(
        output.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rendered = prefix.into_os_string();
    rendered.push(".png");
    let bytes = std::fs::read(&rendered).expect("rendered page");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("png");
    let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut buffer).expect("frame");
    assert_eq!(frame.color_type, png::ColorType::Rgb, "pdftoppm writes RGB");
    assert_eq!((frame.width, frame.height), (595, 842), "A4 at 72 dpi");
    buffer.truncate(frame.buffer_size());
    Raster {
        width: frame.width as usize,
        height: frame.height as usize,
        rgb: buffer,
    }
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 80 && b < 80
}

fn is_blue([r, g, b]: [u8; 3]) -> bool {
    b > 150 && r < 80 && g < 120
}

impl Raster {
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// Pixels matching `wanted` inside `rect` (PDF points, origin bottom left) grown by
    /// `margin`, and outside it.
    fn count(&self, rect: [f64; 4], margin: f64, wanted: fn([u8; 3]) -> bool) -> (usize, usize) {
        let (mut inside, mut outside) = (0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if !wanted(self.pixel(x, y)) {
                    continue;
                }
                // The pixel's centre in PDF space.
                let (px, py) = (x as f64 + 0.5, PAGE.1 - (y as f64 + 0.5));
                let within = px >= rect[0] - margin
                    && px <= rect[2] + margin
                    && py >= rect[1] - margin
                    && py <= rect[3] + margin;
                if within {
                    inside += 1;
                } else {
                    outside += 1;
                }
            }
        }
        (inside, outside)
    }

    /// The pixel at a point of PDF space.
    fn at(&self, x: f64, y: f64) -> [u8; 3] {
        self.pixel(x as usize, (PAGE.1 - y) as usize)
    }
}

/// The ring's red appears inside `picture` and nowhere else, and the page shows through
/// between the ring and the dot (the picture's transparent black did not paint).
fn assert_seal_drawn_in(page: &Raster, picture: [f64; 4]) {
    let (inside, outside) = page.count(picture, 1.5, is_red);
    // The ring and dot cover about 28 % of the picture's area.
    let area = (picture[2] - picture[0]) * (picture[3] - picture[1]);
    assert!(
        inside as f64 > 0.22 * area,
        "only {inside} red pixels in {picture:?}"
    );
    assert_eq!(
        outside, 0,
        "red pixels outside the seal's rectangle {picture:?}"
    );
    let centre = (
        (picture[0] + picture[2]) / 2.0,
        (picture[1] + picture[3]) / 2.0,
    );
    let scale = (picture[2] - picture[0]) / f64::from(SEAL_PIXELS);
    assert!(is_red(page.at(centre.0, centre.1)), "the dot at the centre");
    let between = page.at(centre.0 + 100.0 * scale, centre.1);
    assert!(
        between.iter().all(|&sample| sample > 240),
        "transparent between ring and dot, not {between:?}"
    );
    let ring = page.at(centre.0 + 170.0 * scale, centre.1);
    assert!(is_red(ring), "the ring, not {ring:?}");
}

/// Where the seal's picture must be when it covers the left third of `leaders_widget`,
/// vertically centred on it.
fn over_left_third(leaders_widget: [f64; 4]) -> [f64; 4] {
    let third = leaders_widget[0] + (leaders_widget[2] - leaders_widget[0]) / 3.0;
    let middle = (leaders_widget[1] + leaders_widget[3]) / 2.0;
    let half = SEAL_POINTS / 2.0;
    [third - SEAL_POINTS, middle - half, third, middle + half]
}

fn widgets_last(file: &Path) -> [f64; 4] {
    widgets(file)
        .pop()
        .and_then(|(_, rect)| rect)
        .expect("a visible last widget")
}

/// The caption the newest appearance shows: the text of its (uncompressed) form's `(…) Tj`.
fn caption_of(file: &Path) -> String {
    let bytes = std::fs::read(file).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let end = text.rfind(") Tj").expect("a caption in the appearance");
    let start = text[..end].rfind('(').expect("its opening parenthesis");
    text[start + 1..end].to_owned()
}

#[test]
fn the_agency_seal_goes_bottom_right_of_an_invisibly_signed_document_or_where_asked() {
    let setup = setup();
    let leader = setup.signed(Who::Leader, &[], &setup.unsigned, "leader.pdf");
    let sealed = setup.signed(
        Who::Agency,
        &["--seal-image", setup.seal_arg()],
        &leader,
        "sealed.pdf",
    );
    assert_valid_pdf(&sealed, 2);

    let widgets = widgets(&sealed);
    assert_eq!(widgets.len(), 2);
    assert_eq!(widgets[0].1, None, "the leader's signature stays invisible");
    let widget = widgets[1].1.expect("the seal's widget is visible");
    // 20 mm from the right edge, 25 mm above the bottom edge; the picture 40 mm square with
    // the signing time in a band under it, as wide as the picture.
    let (right, bottom) = (PAGE.0 - 20.0 * POINTS_PER_MM, 25.0 * POINTS_PER_MM);
    let top = bottom + CAPTION_BAND + SEAL_POINTS;
    assert_close(
        widget,
        [right - SEAL_POINTS, bottom, right, top],
        "default placement",
    );
    let page = render(&sealed);
    assert_seal_drawn_in(&page, picture_of(widget, SEAL_POINTS));
    // The caption is drawn (dark pixels in the band) and is the time in Vietnam, ISO 8601.
    let band = [widget[0], widget[1], widget[2], widget[1] + CAPTION_BAND];
    let (dark, _) = page.count(band, 0.0, |[r, g, b]| r < 120 && g < 120 && b < 120);
    assert!(dark > 40, "only {dark} dark pixels in the caption band");
    let caption = caption_of(&sealed);
    let shape = caption.bytes().enumerate().all(|(at, byte)| match at {
        4 | 7 => byte == b'-',
        10 => byte == b'T',
        13 | 16 | 22 => byte == b':',
        19 => byte == b'+',
        _ => byte.is_ascii_digit(),
    });
    assert!(
        shape && caption.len() == 25 && caption.ends_with("+07:00"),
        "{caption}"
    );

    // Where asked: the picture's lower-left corner 30 mm right and 150 mm up.
    let extra = [
        "--seal-image",
        setup.seal_arg(),
        "--seal-position",
        "30,150",
    ];
    let placed = setup.signed(Who::Agency, &extra, &leader, "placed.pdf");
    assert_valid_pdf(&placed, 2);
    let picture = picture_of(widgets_last(&placed), SEAL_POINTS);
    let corner = [30.0 * POINTS_PER_MM, 150.0 * POINTS_PER_MM];
    assert_close(
        [picture[0], picture[1]],
        corner,
        "the picture's lower-left corner",
    );
    assert_seal_drawn_in(&render(&placed), picture);
}

#[test]
fn the_agency_seal_covers_the_left_third_of_the_leaders_visible_signature() {
    let setup = setup();
    // The leader signs with a blue signature picture 100 mm from the left and 60 mm up.
    let leader = setup.leader_signed_visibly("100,60", "leader-visible.pdf");
    assert_valid_pdf(&leader, 1);
    let leaders_widget = widgets_last(&leader);
    let leaders_picture = picture_of(leaders_widget, SIGNATURE_POINTS.0);
    let (x, y) = (100.0 * POINTS_PER_MM, 60.0 * POINTS_PER_MM);
    let expected = [x, y, x + SIGNATURE_POINTS.0, y + SIGNATURE_POINTS.1];
    assert_close(leaders_picture, expected, "the leader's picture");

    let sealed = setup.signed(
        Who::Agency,
        &["--seal-image", setup.seal_arg()],
        &leader,
        "sealed.pdf",
    );
    assert_valid_pdf(&sealed, 2);
    let widgets = widgets(&sealed);
    assert_eq!(
        widgets[0].1,
        Some(leaders_widget),
        "the leader's widget is untouched"
    );
    let seal_picture = picture_of(widgets[1].1.expect("a visible seal"), SEAL_POINTS);
    assert_close(
        seal_picture,
        over_left_third(leaders_widget),
        "the seal over the leader's",
    );

    let page = render(&sealed);
    assert_seal_drawn_in(&page, seal_picture);
    // The seal's red lies over the leader's left third, not over the rest of it.
    let [x0, y0, x1, y1] = leaders_widget;
    let third = seal_picture[2];
    let (red_over_left_third, _) = page.count([x0, y0, third, y1], 0.0, is_red);
    assert!(
        red_over_left_third > 100,
        "{red_over_left_third} red pixels on the left third"
    );
    let (red_beyond, _) = page.count([third + 1.5, y0, x1, y1], 0.0, is_red);
    assert_eq!(red_beyond, 0, "red beyond the left third");
    // The leader's blue is still there, inside its own picture only.
    let (blue, stray_blue) = page.count(leaders_picture, 1.5, is_blue);
    assert!(blue > 200, "only {blue} blue pixels");
    assert_eq!(stray_blue, 0, "blue outside the leader's picture");
}

#[test]
fn unusable_seal_images_are_refused_and_nothing_is_written() {
    let setup = setup();
    let leader = setup.signed(Who::Leader, &[], &setup.unsigned, "leader.pdf");
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(setup.path(name), bytes).expect("write");
        setup.path(name)
    };
    let red = |_, _| [200, 0, 0, 255];
    let cases = [
        (
            write("garbage.png", b"\x89PNG\r\n\x1a\n but then no PNG"),
            "is not a usable PNG",
        ),
        // 5000 × 8 pixels: small on disk, over the 4096-pixel limit.
        (
            write("huge.png", &rgba_png((5000, 8), 100_000, red)),
            "5000×8 pixels, over the limit of 4096×4096",
        ),
        // 1200 px at 72 dpi would print 423 mm wide.
        (
            write("72dpi.png", &rgba_png((1200, 1200), 2835, red)),
            "mm on paper",
        ),
        (setup.path("missing.png"), "cannot read the seal image"),
    ];
    for (image, expected) in &cases {
        for (who, input) in [(Who::Agency, &leader), (Who::Leader, &setup.unsigned)] {
            let output = setup.path("refused.pdf");
            let extra = ["--seal-image", image.to_str().expect("utf-8")];
            let result = setup.sign(who, &extra, input, &output);
            let stderr = String::from_utf8_lossy(&result.stderr);
            assert_eq!(result.status.code(), Some(1), "{image:?}: {stderr}");
            assert!(stderr.contains(expected), "{image:?}: {stderr}");
            assert!(
                stderr.contains(&image.display().to_string()),
                "names the file: {stderr}"
            );
            assert!(!output.exists(), "{image:?}: {output:?} was written");
        }
    }
    // A position without an image is a usage error.
    let output = setup.path("no-image.pdf");
    let result = setup.sign(Who::Agency, &["--seal-position", "10,10"], &leader, &output);
    assert_eq!(
        result.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(!output.exists());
}

#[test]
fn the_gateways_sealer_shows_the_configured_seal_over_the_leaders_signature() {
    let dir = tempfile::tempdir().expect("dir");
    let setup = setup();
    let exchange = Exchange::setup(dir.path());
    let config = &exchange.gateway("district").config;
    let quoted = |path: &Path| format!("{path:?}");
    set_option(
        config,
        "signing",
        "key_file",
        &quoted(&setup.agency.key_file),
    );
    set_option(
        config,
        "signing",
        "trust_roots",
        &format!("[{}]", quoted(&setup.ca_certificate)),
    );
    set_option(
        config,
        "signing",
        "crls",
        &format!("[{}]", quoted(&setup.crl)),
    );
    set_option(config, "signing", "seal_image", &quoted(&setup.seal));

    // The leader signs visibly at the foot of the page, as a leader's station would.
    let leader = setup.leader_signed_visibly("110,40", "gateway-leader.pdf");
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!([exchange.organ_id("commune")]);
    let pdf = std::fs::read(&leader).expect("read");
    let (status, body) =
        district.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None);
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let sealed = wait_for(Duration::from_secs(30), || sealed_file(&district, &id))
        .expect("the district seals the document");
    let file = setup.path("gateway-sealed.pdf");
    std::fs::write(&file, sealed).expect("write");

    assert_valid_pdf(&file, 2);
    let seal_picture = picture_of(widgets_last(&file), SEAL_POINTS);
    let expected = over_left_third(widgets_last(&leader));
    assert_close(
        seal_picture,
        expected,
        "the gateway's seal over the leader's signature",
    );
    assert_seal_drawn_in(&render(&file), seal_picture);
}

/// The district's file 1 once the document is past `accepted` (sealed), if it is.
fn sealed_file(district: &GatewayProcess, id: &str) -> Option<Vec<u8>> {
    let (_, record) = district.get_json(&format!("/api/v1/documents/{id}"));
    if record["state"] == "accepted" || record["state"].is_null() {
        return None;
    }
    let (status, bytes) = district.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
    (status == 200).then_some(bytes)
}
