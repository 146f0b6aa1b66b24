//! What a new signature widget looks like on its page. [`SignatureAppearance::Invisible`]
//! is a zero-size widget with no appearance stream. [`SignatureAppearance::Seal`] draws a
//! picture (the agency's red seal, or a leader's signature image; [`SealImage`]) at its size
//! on paper, with an optional one-line caption under it (the signing time, right-aligned),
//! as the widget's normal appearance: a form XObject whose `/BBox` is the widget's size,
//! drawing the image XObject (with its soft mask) and the caption in Helvetica.
//!
//! Also the placement arithmetic: where the picture goes on the page ([`SealPlacement`]:
//! a point, over the left third of another widget, or the bottom right of the page), kept
//! inside the page. Owns no decision about *which* widget to overlap (that needs the
//! signers' roles, judged above this layer) and nothing of the writer: the objects built
//! here are handed back as [`NewObject`]s and written with the rest of the update.

use std::sync::Arc;

use super::error::PdfError;
use super::object::{Dictionary, Name, ObjectId, PdfObject};
use super::pages::{normalised_rect, page_box, PageRef};
use super::reader::PdfFile;
use super::seal_image::{SealImage, POINTS_PER_MM};

/// The default placement's distance from the page's right edge.
pub const DEFAULT_RIGHT_MARGIN_MM: f64 = 20.0;

/// The default placement's distance from the page's bottom edge.
pub const DEFAULT_BOTTOM_MARGIN_MM: f64 = 25.0;

/// The caption's font size, in points.
const CAPTION_FONT_SIZE: f64 = 7.0;

/// The height of the band under the picture that holds the caption.
const CAPTION_BAND: f64 = 10.0;

/// The longest caption accepted, in characters.
const MAX_CAPTION_CHARS: usize = 80;

/// How the signature shows on the page.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum SignatureAppearance {
    /// No visible mark: a zero-size widget, as PAdES allows.
    #[default]
    Invisible,
    /// A picture at its size on paper, with an optional caption line under it.
    Seal {
        image: Arc<SealImage>,
        placement: SealPlacement,
        /// One line under the picture (the signing time); printable ASCII only.
        caption: Option<String>,
    },
}

/// Where a visible seal's picture goes on its page. Whatever the placement, the widget is
/// then moved (never resized) as little as needed to lie inside the page's visible box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SealPlacement {
    /// The picture's lower-left corner this many points right of and above the visible
    /// box's lower-left corner.
    At { x: f64, y: f64 },
    /// Over the left third of `rect` (another widget's `/Rect`, in the page's user space):
    /// the picture's right edge at one third of `rect`'s width from its left edge, so the
    /// picture covers that third; vertically centred on `rect`. The agency seal over the
    /// leader's signature (exchange.md §5).
    OverlapLeftThird { rect: [f64; 4] },
    /// The bottom right of the page: the widget's right edge
    /// [`DEFAULT_RIGHT_MARGIN_MM`] from the right edge, its bottom edge
    /// [`DEFAULT_BOTTOM_MARGIN_MM`] above the bottom edge.
    BottomRight,
}

/// An object the update adds or rewrites, with stream data when it is a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewObject {
    pub id: ObjectId,
    /// The value; for a stream, its dictionary (`/Length` is set when written).
    pub value: PdfObject,
    pub stream_data: Option<Vec<u8>>,
}

/// The widget's appearance: its rectangle, extra widget entries (`/AP`), and the objects
/// those entries refer to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WidgetAppearance {
    pub rect: [f64; 4],
    pub widget_entries: Vec<(Name, PdfObject)>,
    pub objects: Vec<NewObject>,
}

/// Refuses an appearance that cannot be drawn, before anything is read or written.
pub(crate) fn check_appearance(appearance: &SignatureAppearance) -> Result<(), PdfError> {
    let invalid = |what: String| Err(PdfError::InvalidRequest { what });
    match appearance {
        SignatureAppearance::Invisible => Ok(()),
        SignatureAppearance::Seal {
            placement, caption, ..
        } => {
            if let Some(caption) = caption {
                if caption.chars().count() > MAX_CAPTION_CHARS
                    || !caption.chars().all(|c| c == ' ' || c.is_ascii_graphic())
                {
                    return invalid(format!(
                        "the seal caption {caption:?} must be at most {MAX_CAPTION_CHARS} printable ASCII characters"
                    ));
                }
            }
            match placement {
                SealPlacement::At { x, y } if !(x.is_finite() && y.is_finite()) => {
                    invalid("the seal position must be finite numbers".to_owned())
                }
                SealPlacement::OverlapLeftThird { rect } if normalised_rect(*rect).is_none() => {
                    invalid(format!(
                        "the widget to overlap has no area ({rect:?}); nothing to place the seal over"
                    ))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Builds the widget's appearance on `page`; `allocate` gives fresh object numbers.
pub(crate) fn widget_appearance(
    appearance: &SignatureAppearance,
    file: &mut PdfFile,
    page: &PageRef,
    allocate: &mut dyn FnMut() -> ObjectId,
) -> Result<WidgetAppearance, PdfError> {
    match appearance {
        SignatureAppearance::Invisible => Ok(WidgetAppearance {
            rect: [0.0; 4],
            widget_entries: Vec::new(),
            objects: Vec::new(),
        }),
        SignatureAppearance::Seal {
            image,
            placement,
            caption,
        } => {
            let page_box = page_box(file, page)?;
            let caption_width = caption.as_deref().map(helvetica_width);
            let layout = seal_layout(image.size_points(), caption_width, placement, page_box);
            let form_id = allocate();
            let image_id = allocate();
            let mask_id = if image.has_transparency() {
                allocate()
            } else {
                image_id
            };
            let mut objects = vec![NewObject {
                id: form_id,
                value: PdfObject::Dictionary(form_dictionary(&layout, image_id)),
                stream_data: Some(form_content(&layout, caption.as_deref())),
            }];
            objects.extend(image.xobjects(image_id, mask_id));
            let mut normal = Dictionary::new();
            normal.set("N", PdfObject::Reference(form_id));
            Ok(WidgetAppearance {
                rect: layout.widget,
                widget_entries: vec![(Name::new("AP"), PdfObject::Dictionary(normal))],
                objects,
            })
        }
    }
}

/// Where the parts of a visible seal go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SealLayout {
    /// The widget's `/Rect` on the page.
    pub widget: [f64; 4],
    /// The picture, relative to the widget's lower-left corner.
    pub image: [f64; 4],
    /// The caption's baseline start, relative to the widget's lower-left corner.
    pub caption_origin: Option<(f64, f64)>,
}

/// The widget and its parts: the picture of `image_size` placed by `placement`, the
/// caption (of `caption_width` points) in a band under it, the whole moved inside
/// `page_box` when it sticks out. All in points, rounded to 1/100. The caption ends at the
/// widget's right edge, so a leader's signing time stays legible when the agency's seal
/// covers the left third of the widget.
pub(crate) fn seal_layout(
    image_size: (f64, f64),
    caption_width: Option<f64>,
    placement: &SealPlacement,
    page_box: [f64; 4],
) -> SealLayout {
    let (image_width, image_height) = image_size;
    let band = if caption_width.is_some() {
        CAPTION_BAND
    } else {
        0.0
    };
    let width = image_width.max(caption_width.map_or(0.0, |caption| caption + 2.0));
    let height = image_height + band;
    // The picture inside the widget: centred across, above the caption band.
    let image_x = (width - image_width) / 2.0;
    let image_y = band;
    // Where the widget's lower-left corner goes on the page.
    let (x, y) = match placement {
        SealPlacement::At { x, y } => (page_box[0] + x - image_x, page_box[1] + y - image_y),
        SealPlacement::OverlapLeftThird { rect } => {
            let [x0, y0, x1, y1] = normalised_rect(*rect).unwrap_or(*rect);
            let right = x0 + (x1 - x0) / 3.0;
            let centre = (y0 + y1) / 2.0;
            (
                right - image_width - image_x,
                centre - image_height / 2.0 - image_y,
            )
        }
        SealPlacement::BottomRight => (
            page_box[2] - DEFAULT_RIGHT_MARGIN_MM * POINTS_PER_MM - width,
            page_box[1] + DEFAULT_BOTTOM_MARGIN_MM * POINTS_PER_MM,
        ),
    };
    let x = keep_inside(x, width, page_box[0], page_box[2]);
    let y = keep_inside(y, height, page_box[1], page_box[3]);
    SealLayout {
        widget: [x, y, x + width, y + height].map(round),
        image: [
            image_x,
            image_y,
            image_x + image_width,
            image_y + image_height,
        ]
        .map(round),
        caption_origin: caption_width.map(|caption| {
            (
                round(width - caption - 1.0),
                round((band - CAPTION_FONT_SIZE * 0.7) / 2.0),
            )
        }),
    }
}

/// `start` moved so that `start..start + length` lies within `low..high`; when it cannot
/// fit, it starts at `low`.
fn keep_inside(start: f64, length: f64, low: f64, high: f64) -> f64 {
    if length >= high - low {
        low
    } else {
        start.clamp(low, high - length)
    }
}

fn form_dictionary(layout: &SealLayout, image_id: ObjectId) -> Dictionary {
    let [x0, y0, x1, y1] = layout.widget;
    let mut xobjects = Dictionary::new();
    xobjects.set("Im0", PdfObject::Reference(image_id));
    let mut font = Dictionary::new();
    font.set("Type", PdfObject::Name(Name::new("Font")));
    font.set("Subtype", PdfObject::Name(Name::new("Type1")));
    font.set("BaseFont", PdfObject::Name(Name::new("Helvetica")));
    font.set("Encoding", PdfObject::Name(Name::new("WinAnsiEncoding")));
    let mut fonts = Dictionary::new();
    fonts.set("Helv", PdfObject::Dictionary(font));
    let mut resources = Dictionary::new();
    resources.set("XObject", PdfObject::Dictionary(xobjects));
    resources.set("Font", PdfObject::Dictionary(fonts));
    let mut form = Dictionary::new();
    form.set("Type", PdfObject::Name(Name::new("XObject")));
    form.set("Subtype", PdfObject::Name(Name::new("Form")));
    form.set(
        "BBox",
        PdfObject::Array(
            [0.0, 0.0, x1 - x0, y1 - y0]
                .iter()
                .map(|&value| PdfObject::Real(round(value)))
                .collect(),
        ),
    );
    form.set("Resources", PdfObject::Dictionary(resources));
    form
}

/// The form's content: the picture scaled into its place, then the caption in black.
fn form_content(layout: &SealLayout, caption: Option<&str>) -> Vec<u8> {
    let [x0, y0, x1, y1] = layout.image;
    let mut content = format!(
        "q\n{} 0 0 {} {} {} cm\n/Im0 Do\nQ\n",
        number(x1 - x0),
        number(y1 - y0),
        number(x0),
        number(y0)
    );
    if let (Some(text), Some((x, y))) = (caption, layout.caption_origin) {
        let mut escaped = String::with_capacity(text.len());
        for character in text.chars() {
            if matches!(character, '(' | ')' | '\\') {
                escaped.push('\\');
            }
            escaped.push(character);
        }
        content.push_str(&format!(
            "BT\n0 g\n/Helv {} Tf\n{} {} Td\n({escaped}) Tj\nET\n",
            number(CAPTION_FONT_SIZE),
            number(x),
            number(y)
        ));
    }
    content.into_bytes()
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A number for a content stream: at most two decimals, no exponent, no trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{:.2}", round(value));
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" | "" => "0".to_owned(),
        other => other.to_owned(),
    }
}

/// The width of `text` in Helvetica at the caption's size, in points (the standard
/// metrics of the base-14 font, in thousandths of an em, for printable ASCII).
fn helvetica_width(text: &str) -> f64 {
    #[rustfmt::skip]
    const WIDTHS: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '..'/'
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // '0'..'?'
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // '@'..'O'
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 'P'..'_'
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // '`'..'o'
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,      // 'p'..'~'
    ];
    let thousandths: u32 = text
        .bytes()
        .map(|byte| {
            byte.checked_sub(b' ')
                .and_then(|index| WIDTHS.get(usize::from(index)))
                .map_or(556, |&width| u32::from(width))
        })
        .sum();
    f64::from(thousandths) * CAPTION_FONT_SIZE / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A4: [f64; 4] = [0.0, 0.0, 595.0, 842.0];

    fn close(actual: [f64; 4], expected: [f64; 4]) {
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 0.011, "{actual:?} is not {expected:?}");
        }
    }

    #[test]
    fn over_the_left_third_of_the_leaders_widget_vertically_centred() {
        // A 60 × 30 pt leader's widget at (300, 200); a 90 × 90 pt seal without caption.
        let layout = seal_layout(
            (90.0, 90.0),
            None,
            &SealPlacement::OverlapLeftThird {
                rect: [360.0, 230.0, 300.0, 200.0],
            },
            A4,
        );
        // Right edge at 300 + 60 / 3 = 320; centred on y = 215.
        close(layout.widget, [230.0, 170.0, 320.0, 260.0]);
        close(layout.image, [0.0, 0.0, 90.0, 90.0]);
        assert_eq!(layout.caption_origin, None);
        let overlap = layout.widget[2] - 300.0;
        assert!((overlap - 60.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_caption_band_goes_under_the_picture_which_keeps_its_place() {
        let caption = helvetica_width("2026-03-02T09:30:00+07:00");
        // 18 digits (556), two '-' (333), three ':' (278), 'T' (611) and '+' (584).
        let expected = (18.0 * 556.0 + 2.0 * 333.0 + 3.0 * 278.0 + 611.0 + 584.0) * 7.0 / 1000.0;
        assert!((caption - expected).abs() < 1e-9, "{caption} vs {expected}");
        // A picture narrower than the caption: the widget widens, the picture is centred.
        let layout = seal_layout(
            (40.0, 40.0),
            Some(caption),
            &SealPlacement::At { x: 100.0, y: 50.0 },
            [0.0, 0.0, 612.0, 792.0],
        );
        let width = caption + 2.0;
        let image_x = (width - 40.0) / 2.0;
        close(
            layout.widget,
            [
                100.0 - image_x,
                50.0 - CAPTION_BAND,
                100.0 - image_x + width,
                90.0,
            ],
        );
        close(
            layout.image,
            [image_x, CAPTION_BAND, image_x + 40.0, CAPTION_BAND + 40.0],
        );
        let (x, y) = layout.caption_origin.expect("a caption");
        assert!((x - 1.0).abs() < 0.011 && y > 0.0 && y < CAPTION_BAND);
    }

    #[test]
    fn the_default_is_bottom_right_inside_the_margins() {
        let layout = seal_layout(
            (113.39, 113.39),
            Some(90.0),
            &SealPlacement::BottomRight,
            A4,
        );
        let right = 595.0 - 20.0 * POINTS_PER_MM;
        let bottom = 25.0 * POINTS_PER_MM;
        close(
            layout.widget,
            [
                right - 113.39,
                bottom,
                right,
                bottom + 113.39 + CAPTION_BAND,
            ],
        );
        // The caption ends 1 pt inside the widget's right edge.
        assert_eq!(layout.caption_origin.map(|(x, _)| x), Some(22.39));
        // A page box that does not start at the origin.
        let shifted = seal_layout(
            (50.0, 50.0),
            None,
            &SealPlacement::BottomRight,
            [100.0, 100.0, 695.0, 942.0],
        );
        close(
            shifted.widget,
            [
                695.0 - 20.0 * POINTS_PER_MM - 50.0,
                100.0 + bottom,
                695.0 - 20.0 * POINTS_PER_MM,
                150.0 + bottom,
            ],
        );
        let at = seal_layout(
            (50.0, 50.0),
            None,
            &SealPlacement::At { x: 10.0, y: 20.0 },
            [100.0, 100.0, 695.0, 942.0],
        );
        close(at.widget, [110.0, 120.0, 160.0, 170.0]);
    }

    #[test]
    fn a_seal_that_would_leave_the_page_is_moved_back_inside() {
        // The leader's widget at the very left edge: the seal would start at x = -80.
        let layout = seal_layout(
            (90.0, 90.0),
            None,
            &SealPlacement::OverlapLeftThird {
                rect: [0.0, 10.0, 30.0, 40.0],
            },
            A4,
        );
        close(layout.widget, [0.0, 0.0, 90.0, 90.0]);
        // Past the top right corner.
        let layout = seal_layout(
            (90.0, 90.0),
            None,
            &SealPlacement::At { x: 590.0, y: 900.0 },
            A4,
        );
        close(layout.widget, [505.0, 752.0, 595.0, 842.0]);
        // Larger than the page: pinned to its lower-left corner.
        let layout = seal_layout(
            (700.0, 90.0),
            None,
            &SealPlacement::At { x: 50.0, y: 50.0 },
            A4,
        );
        close(layout.widget, [0.0, 50.0, 700.0, 140.0]);
    }

    #[test]
    fn the_form_draws_the_picture_scaled_and_the_caption() {
        let layout = SealLayout {
            widget: [230.0, 170.0, 330.5, 270.0],
            image: [5.25, 10.0, 95.25, 100.0],
            caption_origin: Some((3.0, 2.55)),
        };
        let content =
            String::from_utf8(form_content(&layout, Some("a(b)\\c"))).expect("ascii content");
        assert_eq!(
            content,
            "q\n90 0 0 90 5.25 10 cm\n/Im0 Do\nQ\nBT\n0 g\n/Helv 7 Tf\n3 2.55 Td\n(a\\(b\\)\\\\c) Tj\nET\n"
        );
        let without = String::from_utf8(form_content(&layout, None)).expect("ascii");
        assert!(!without.contains("BT"));
        let form = form_dictionary(&layout, ObjectId::new(12, 0));
        let mut written = Vec::new();
        form.write_to(&mut written);
        let written = String::from_utf8(written).expect("ascii");
        assert!(
            written.contains("/Subtype /Form/BBox [0 0 100.5 100]"),
            "{written}"
        );
        assert!(written.contains("/XObject <</Im0 12 0 R>>"), "{written}");
        assert!(written.contains("/BaseFont /Helvetica"), "{written}");
        assert_eq!(number(-0.001), "0");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(0.105), "0.11");
    }

    #[test]
    fn unusable_appearances_are_refused() {
        let image = Arc::new(SealImage::from_png(&tiny_png()).expect("a one-pixel PNG decodes"));
        let seal = |placement, caption: Option<&str>| SignatureAppearance::Seal {
            image: image.clone(),
            placement,
            caption: caption.map(str::to_owned),
        };
        assert!(check_appearance(&seal(
            SealPlacement::BottomRight,
            Some("2026-03-02T09:30:00+07:00")
        ))
        .is_ok());
        for appearance in [
            seal(SealPlacement::BottomRight, Some("Thời gian")),
            seal(SealPlacement::BottomRight, Some("line\nbreak")),
            seal(
                SealPlacement::At {
                    x: f64::NAN,
                    y: 0.0,
                },
                None,
            ),
            seal(SealPlacement::OverlapLeftThird { rect: [0.0; 4] }, None),
        ] {
            let error = check_appearance(&appearance).expect_err("refused");
            assert!(matches!(error, PdfError::InvalidRequest { .. }), "{error}");
        }
    }

    /// A one-pixel opaque red PNG.
    fn tiny_png() -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, 1, 1);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(&[255, 0, 0]).expect("data");
        }
        bytes
    }
}
