//! The picture of a visible signature: a PNG (the agency's red seal, or a leader's blue
//! signature) decoded once, bounded in size, and turned into the PDF image XObjects that a
//! widget's appearance draws — an 8-bit `/DeviceRGB` image and, when the PNG has
//! transparency, a `/DeviceGray` soft mask (`/SMask`), both FlateDecode.
//!
//! Also works out the picture's "actual size" on paper: from the PNG's `pHYs` resolution
//! when it gives pixels per metre, else [`DEFAULT_WIDTH_MM`] wide with the aspect ratio
//! kept. Owns nothing else: where the picture goes on the page and the form that draws it
//! are `appearance`'s.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::appearance::NewObject;
use super::object::{Dictionary, Name, ObjectId, PdfObject};

/// The largest width or height accepted, in pixels.
pub const MAX_SEAL_PIXELS: u32 = 4096;

/// The most bytes a decoded seal may take (8-bit RGB or RGBA samples).
pub const MAX_SEAL_DECODED_BYTES: usize = 16 * 1024 * 1024;

/// The largest PNG file read.
pub const MAX_SEAL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The width given to a picture whose PNG does not say how large it is on paper.
pub const DEFAULT_WIDTH_MM: f64 = 40.0;

/// A picture whose `pHYs` puts a side outside this range (in millimetres) is refused: a
/// seal is about 35–45 mm across, a signature 30–80 mm wide.
pub const PLAUSIBLE_SIDE_MM: std::ops::RangeInclusive<f64> = 5.0..=150.0;

/// Points per millimetre (72 per inch, 25.4 mm per inch).
pub const POINTS_PER_MM: f64 = 72.0 / 25.4;

/// Why a PNG cannot be used as a seal.
#[derive(Debug, thiserror::Error)]
pub enum SealImageError {
    /// The file could not be read. (The I/O error is in the message, not a `source`, so
    /// a printed chain of causes does not say it twice.)
    #[error("cannot read the seal image {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is larger than any seal needs to be.
    #[error("the seal image {path} is over {limit} bytes; export the seal as a PNG of at most {max}×{max} pixels", max = MAX_SEAL_PIXELS)]
    FileTooLarge { path: PathBuf, limit: u64 },
    /// The bytes are not a PNG the decoder accepts.
    #[error("{origin} is not a usable PNG ({detail}); export the seal image as PNG")]
    NotPng { origin: String, detail: String },
    /// Too many pixels on a side.
    #[error("{origin} is {width}×{height} pixels, over the limit of {max}×{max}; scale it down (a 40 mm seal at 600 dpi is under 1000 pixels wide)", max = MAX_SEAL_PIXELS)]
    TooManyPixels {
        origin: String,
        width: u32,
        height: u32,
    },
    /// The decoded samples would take too much memory.
    #[error(
        "{origin} would take {bytes} bytes once decoded, over the limit of {limit}; scale it down"
    )]
    TooLargeDecoded {
        origin: String,
        bytes: usize,
        limit: usize,
    },
    /// The PNG's resolution makes it implausibly small or large on paper.
    #[error("{origin} says (in its pHYs resolution) that it is {width_mm:.1}×{height_mm:.1} mm on paper; a seal or signature image must measure 5 to 150 mm a side: save it with the resolution that prints it at its real size, or without a resolution to get a {default} mm width", default = DEFAULT_WIDTH_MM)]
    ImplausibleSize {
        origin: String,
        width_mm: f64,
        height_mm: f64,
    },
}

/// A decoded seal picture, ready to embed: its samples already Flate-compressed, so one
/// picture serves any number of documents.
#[derive(Clone, PartialEq)]
pub struct SealImage {
    width: u32,
    height: u32,
    /// The picture's size on paper, in points.
    size_points: (f64, f64),
    /// Whether that size comes from the PNG's own resolution.
    physical_size: bool,
    /// `width × height × 3` samples, zlib-compressed.
    rgb_flate: Vec<u8>,
    /// `width × height` alpha samples, zlib-compressed; `None` when fully opaque.
    alpha_flate: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealImage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (width, height) = self.size_points;
        write!(
            formatter,
            "SealImage({}×{} px, {width:.1}×{height:.1} pt, {} bytes compressed)",
            self.width,
            self.height,
            self.rgb_flate.len() + self.alpha_flate.as_ref().map_or(0, Vec::len)
        )
    }
}

impl SealImage {
    /// Reads and decodes the PNG at `path`.
    pub fn load(path: &Path) -> Result<SealImage, SealImageError> {
        let read_error = |error| SealImageError::Read {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut bytes = Vec::new();
        file.take(MAX_SEAL_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_SEAL_FILE_BYTES {
            return Err(SealImageError::FileTooLarge {
                path: path.to_path_buf(),
                limit: MAX_SEAL_FILE_BYTES,
            });
        }
        Self::decode(&bytes, &format!("the seal image {}", path.display()))
    }

    /// Decodes PNG bytes. Palette, grayscale, RGB, with or without alpha or `tRNS`, at any
    /// bit depth, are expanded to 8-bit samples.
    pub fn from_png(bytes: &[u8]) -> Result<SealImage, SealImageError> {
        Self::decode(bytes, "the seal image")
    }

    fn decode(bytes: &[u8], origin: &str) -> Result<SealImage, SealImageError> {
        let not_png = |error: png::DecodingError| SealImageError::NotPng {
            origin: origin.to_owned(),
            detail: error.to_string(),
        };
        // The decoder's own allocations (rows, chunks) are bounded too.
        let limits = png::Limits {
            bytes: 2 * MAX_SEAL_DECODED_BYTES,
        };
        let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        decoder.set_ignore_text_chunk(true);
        decoder.set_ignore_iccp_chunk(true);
        let header = decoder.read_header_info().map_err(not_png)?;
        let (width, height) = (header.width, header.height);
        if width > MAX_SEAL_PIXELS || height > MAX_SEAL_PIXELS {
            return Err(SealImageError::TooManyPixels {
                origin: origin.to_owned(),
                width,
                height,
            });
        }
        let mut reader = decoder.read_info().map_err(not_png)?;
        // What the picture takes as RGB (and alpha) samples, the form it is kept in.
        let channels = match reader.output_color_type().0 {
            png::ColorType::Rgba | png::ColorType::GrayscaleAlpha => 4,
            _ => 3,
        };
        let expanded_bytes = (width as usize)
            .saturating_mul(height as usize)
            .saturating_mul(channels);
        let output_bytes = reader.output_buffer_size().unwrap_or(usize::MAX);
        if expanded_bytes.max(output_bytes) > MAX_SEAL_DECODED_BYTES {
            return Err(SealImageError::TooLargeDecoded {
                origin: origin.to_owned(),
                bytes: expanded_bytes.max(output_bytes),
                limit: MAX_SEAL_DECODED_BYTES,
            });
        }
        let pixel_dimensions = reader.info().pixel_dims;
        let mut samples = vec![0u8; output_bytes];
        let frame = reader.next_frame(&mut samples).map_err(not_png)?;
        samples.truncate(frame.buffer_size());
        let (rgb, alpha) =
            split_channels(&samples, frame.color_type, frame.bit_depth).ok_or_else(|| {
                SealImageError::NotPng {
                    origin: origin.to_owned(),
                    detail: format!(
                        "{:?} at {:?} bits was not expanded to 8-bit samples",
                        frame.color_type, frame.bit_depth
                    ),
                }
            })?;
        let pixels = width as usize * height as usize;
        if rgb.len() != pixels * 3 || alpha.as_ref().is_some_and(|a| a.len() != pixels) {
            return Err(SealImageError::NotPng {
                origin: origin.to_owned(),
                detail: "the decoded frame does not match the header's size".to_owned(),
            });
        }
        let (size_points, physical_size) = natural_size(width, height, pixel_dimensions);
        let (width_mm, height_mm) = (size_points.0 / POINTS_PER_MM, size_points.1 / POINTS_PER_MM);
        if !(PLAUSIBLE_SIDE_MM.contains(&width_mm) && PLAUSIBLE_SIDE_MM.contains(&height_mm)) {
            return Err(SealImageError::ImplausibleSize {
                origin: origin.to_owned(),
                width_mm,
                height_mm,
            });
        }
        // A fully opaque alpha channel adds nothing; leave the mask out.
        let alpha = alpha.filter(|alpha| alpha.iter().any(|&value| value != u8::MAX));
        Ok(SealImage {
            width,
            height,
            size_points,
            physical_size,
            rgb_flate: deflate(&rgb),
            alpha_flate: alpha.as_deref().map(deflate),
        })
    }

    /// Width and height in pixels.
    pub fn pixels(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Width and height on paper, in points.
    pub fn size_points(&self) -> (f64, f64) {
        self.size_points
    }

    /// Whether [`SealImage::size_points`] comes from the PNG's `pHYs` (else the default width).
    pub fn has_physical_size(&self) -> bool {
        self.physical_size
    }

    /// Whether the picture has a soft mask (is transparent somewhere).
    pub fn has_transparency(&self) -> bool {
        self.alpha_flate.is_some()
    }

    /// The image XObject at `image_id`, and its soft mask at `mask_id` when the picture
    /// is transparent somewhere (`mask_id` is then used; otherwise it is not).
    pub(crate) fn xobjects(&self, image_id: ObjectId, mask_id: ObjectId) -> Vec<NewObject> {
        let mut image = self.image_dictionary("DeviceRGB");
        let mask = self.alpha_flate.as_ref().map(|alpha| NewObject {
            id: mask_id,
            value: PdfObject::Dictionary(self.image_dictionary("DeviceGray")),
            stream_data: Some(alpha.clone()),
        });
        if mask.is_some() {
            image.set("SMask", PdfObject::Reference(mask_id));
        }
        let image = NewObject {
            id: image_id,
            value: PdfObject::Dictionary(image),
            stream_data: Some(self.rgb_flate.clone()),
        };
        std::iter::once(image).chain(mask).collect()
    }

    fn image_dictionary(&self, color_space: &str) -> Dictionary {
        let mut dictionary = Dictionary::new();
        dictionary.set("Type", PdfObject::Name(Name::new("XObject")));
        dictionary.set("Subtype", PdfObject::Name(Name::new("Image")));
        dictionary.set("Width", PdfObject::Integer(i64::from(self.width)));
        dictionary.set("Height", PdfObject::Integer(i64::from(self.height)));
        dictionary.set("ColorSpace", PdfObject::Name(Name::new(color_space)));
        dictionary.set("BitsPerComponent", PdfObject::Integer(8));
        dictionary.set("Filter", PdfObject::Name(Name::new("FlateDecode")));
        dictionary
    }
}

/// 8-bit samples as RGB and (when the PNG has it) alpha; `None` for anything the
/// normalising transformation should have expanded.
fn split_channels(
    samples: &[u8],
    color_type: png::ColorType,
    bit_depth: png::BitDepth,
) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    if bit_depth != png::BitDepth::Eight {
        return None;
    }
    let pixels_of = |channels: usize| samples.chunks_exact(channels);
    Some(match color_type {
        png::ColorType::Rgb => (samples.to_vec(), None),
        png::ColorType::Rgba => {
            let mut rgb = Vec::with_capacity(samples.len() / 4 * 3);
            let mut alpha = Vec::with_capacity(samples.len() / 4);
            for pixel in pixels_of(4) {
                rgb.extend_from_slice(&pixel[..3]);
                alpha.push(pixel[3]);
            }
            (rgb, Some(alpha))
        }
        png::ColorType::Grayscale => (samples.iter().flat_map(|&gray| [gray; 3]).collect(), None),
        png::ColorType::GrayscaleAlpha => {
            let mut rgb = Vec::with_capacity(samples.len() / 2 * 3);
            let mut alpha = Vec::with_capacity(samples.len() / 2);
            for pixel in pixels_of(2) {
                rgb.extend_from_slice(&[pixel[0]; 3]);
                alpha.push(pixel[1]);
            }
            (rgb, Some(alpha))
        }
        png::ColorType::Indexed => return None,
    })
}

/// The size on paper, in points, and whether it came from `pHYs`: pixels per metre when
/// the unit is the metre; otherwise [`DEFAULT_WIDTH_MM`] wide, the height following the
/// pixel aspect ratio (which an unspecified-unit `pHYs` may still give).
pub(crate) fn natural_size(
    width: u32,
    height: u32,
    dimensions: Option<png::PixelDimensions>,
) -> ((f64, f64), bool) {
    let (width, height) = (f64::from(width.max(1)), f64::from(height.max(1)));
    match dimensions {
        Some(png::PixelDimensions {
            xppu,
            yppu,
            unit: png::Unit::Meter,
        }) if xppu > 0 && yppu > 0 => {
            let points_per_metre = 1000.0 * POINTS_PER_MM;
            (
                (
                    width / f64::from(xppu) * points_per_metre,
                    height / f64::from(yppu) * points_per_metre,
                ),
                true,
            )
        }
        other => {
            // Non-square pixels: a pixel is 1/xppu wide and 1/yppu tall.
            let pixel_aspect = match other {
                Some(png::PixelDimensions { xppu, yppu, .. }) if xppu > 0 && yppu > 0 => {
                    f64::from(xppu) / f64::from(yppu)
                }
                _ => 1.0,
            };
            let width_points = DEFAULT_WIDTH_MM * POINTS_PER_MM;
            (
                (width_points, width_points * height / width * pixel_aspect),
                false,
            )
        }
    }
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;

    /// A PNG of `width × height` pixels of `color_type`; `pixel(x, y)` gives each pixel's
    /// samples (for depths under 8, `pixel` is called once per row with x = 0 and gives the
    /// packed row).
    fn png(
        (width, height): (u32, u32),
        (color_type, depth): (png::ColorType, png::BitDepth),
        pixel: impl Fn(u32, u32) -> Vec<u8>,
        configure: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
    ) -> Vec<u8> {
        let mut data = Vec::new();
        for y in 0..height {
            if (depth as u8) < 8 {
                data.extend(pixel(0, y));
                continue;
            }
            for x in 0..width {
                data.extend(pixel(x, y));
            }
        }
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, width, height);
            encoder.set_color(color_type);
            encoder.set_depth(depth);
            configure(&mut encoder);
            let mut writer = encoder.write_header().expect("header");
            writer.write_image_data(&data).expect("data");
        }
        bytes
    }

    /// An object's dictionary and its stream data, inflated.
    fn stream_of(objects: &[NewObject], index: usize) -> (Dictionary, Vec<u8>) {
        let object = &objects[index];
        let mut data = Vec::new();
        ZlibDecoder::new(object.stream_data.as_deref().expect("a stream"))
            .read_to_end(&mut data)
            .expect("zlib");
        let dictionary = object.value.as_dictionary().expect("a dictionary");
        (dictionary.clone(), data)
    }

    fn metre(xppu: u32, yppu: u32) -> Option<png::PixelDimensions> {
        Some(png::PixelDimensions {
            xppu,
            yppu,
            unit: png::Unit::Meter,
        })
    }

    #[test]
    fn rgba_becomes_an_rgb_image_with_a_gray_soft_mask() {
        let bytes = png(
            (3, 2),
            (png::ColorType::Rgba, png::BitDepth::Eight),
            |x, y| vec![200, x as u8, y as u8, if x == 0 { 0 } else { 255 }],
            |encoder| encoder.set_pixel_dims(metre(100, 100)),
        );
        // 3 px at 100 px/m is 30 mm: plausible.
        let image = SealImage::from_png(&bytes).expect("decodes");
        assert_eq!(image.pixels(), (3, 2));
        assert!(image.has_physical_size() && image.has_transparency());
        let (width, height) = image.size_points();
        assert!((width - 30.0 * POINTS_PER_MM).abs() < 1e-9, "{width}");
        assert!((height - 20.0 * POINTS_PER_MM).abs() < 1e-9, "{height}");

        let objects = image.xobjects(ObjectId::new(10, 0), ObjectId::new(11, 0));
        assert_eq!(objects.len(), 2);
        let (dictionary, rgb) = stream_of(&objects, 0);
        assert_eq!(objects[0].id, ObjectId::new(10, 0));
        assert_eq!(dictionary.name("Type"), Some(&b"XObject"[..]));
        assert_eq!(dictionary.name("Subtype"), Some(&b"Image"[..]));
        assert_eq!(dictionary.name("ColorSpace"), Some(&b"DeviceRGB"[..]));
        assert_eq!(dictionary.name("Filter"), Some(&b"FlateDecode"[..]));
        assert_eq!(dictionary.integer("BitsPerComponent"), Some(8));
        assert_eq!(dictionary.integer("Width"), Some(3));
        assert_eq!(dictionary.integer("Height"), Some(2));
        assert_eq!(dictionary.reference("SMask"), Some(ObjectId::new(11, 0)));
        assert_eq!(
            rgb,
            vec![200, 0, 0, 200, 1, 0, 200, 2, 0, 200, 0, 1, 200, 1, 1, 200, 2, 1]
        );
        let (mask, alpha) = stream_of(&objects, 1);
        assert_eq!(objects[1].id, ObjectId::new(11, 0));
        assert_eq!(mask.name("ColorSpace"), Some(&b"DeviceGray"[..]));
        assert_eq!(mask.get("SMask"), None);
        assert_eq!(alpha, vec![0, 255, 255, 0, 255, 255]);
    }

    #[test]
    fn palette_with_transparency_is_expanded() {
        let bytes = png(
            (2, 2),
            (png::ColorType::Indexed, png::BitDepth::Eight),
            |x, _| vec![x as u8],
            |encoder| {
                encoder.set_palette(vec![255, 255, 255, 220, 20, 20]);
                encoder.set_trns(vec![0]);
            },
        );
        let image = SealImage::from_png(&bytes).expect("decodes");
        let objects = image.xobjects(ObjectId::new(1, 0), ObjectId::new(2, 0));
        assert_eq!(stream_of(&objects, 0).1[..6], [255, 255, 255, 220, 20, 20]);
        assert_eq!(stream_of(&objects, 1).1, vec![0, 255, 0, 255]);
    }

    #[test]
    fn grayscale_of_low_depth_becomes_rgb_without_a_mask() {
        // Eight 1-bit pixels, packed in one byte: white, six black, white.
        let bytes = png(
            (8, 1),
            (png::ColorType::Grayscale, png::BitDepth::One),
            |_, _| vec![0b1000_0001],
            |_| {},
        );
        let image = SealImage::from_png(&bytes).expect("decodes");
        assert!(!image.has_transparency() && !image.has_physical_size());
        let objects = image.xobjects(ObjectId::new(1, 0), ObjectId::new(2, 0));
        assert_eq!(objects.len(), 1);
        assert_eq!(
            objects[0]
                .value
                .as_dictionary()
                .and_then(|d| d.get("SMask")),
            None
        );
        let rgb = stream_of(&objects, 0).1;
        assert_eq!(rgb.len(), 24);
        assert_eq!(&rgb[..6], &[255, 255, 255, 0, 0, 0]);
        assert_eq!(&rgb[21..], &[255, 255, 255]);
        // No pHYs: 40 mm wide, the height in proportion.
        let (width, height) = image.size_points();
        assert!((width - 40.0 * POINTS_PER_MM).abs() < 1e-9);
        assert!((height - width / 8.0).abs() < 1e-9);
    }

    #[test]
    fn an_opaque_alpha_channel_and_sixteen_bits() {
        let bytes = png(
            (2, 2),
            (png::ColorType::GrayscaleAlpha, png::BitDepth::Sixteen),
            |_, _| vec![0x80, 0x01, 0xFF, 0xFF],
            |_| {},
        );
        let image = SealImage::from_png(&bytes).expect("decodes");
        assert!(!image.has_transparency(), "an all-opaque mask is dropped");
        let objects = image.xobjects(ObjectId::new(1, 0), ObjectId::new(2, 0));
        assert_eq!(stream_of(&objects, 0).1, vec![0x80; 12]);
    }

    #[test]
    fn refusals() {
        let garbage = SealImage::from_png(b"GIF89a not a png").expect_err("garbage");
        assert!(
            matches!(garbage, SealImageError::NotPng { .. }),
            "{garbage}"
        );
        assert!(garbage.to_string().contains("not a usable PNG"));
        let truncated = png(
            (4, 4),
            (png::ColorType::Rgb, png::BitDepth::Eight),
            |_, _| vec![1, 2, 3],
            |_| {},
        );
        let truncated =
            SealImage::from_png(&truncated[..truncated.len() - 20]).expect_err("truncated");
        assert!(
            matches!(truncated, SealImageError::NotPng { .. }),
            "{truncated}"
        );

        // Over 4096 pixels on a side: refused on the header's word.
        let wide = png(
            (5000, 1),
            (png::ColorType::Grayscale, png::BitDepth::Eight),
            |_, _| vec![0],
            |_| {},
        );
        let wide = SealImage::from_png(&wide).expect_err("too wide");
        assert!(
            matches!(
                wide,
                SealImageError::TooManyPixels {
                    width: 5000,
                    height: 1,
                    ..
                }
            ),
            "{wide}"
        );
        assert!(wide.to_string().contains("5000×1 pixels"), "{wide}");

        // 2100 × 2100 RGBA is 17.6 MB decoded, over 16 MiB.
        let big = png(
            (2100, 2100),
            (png::ColorType::Rgba, png::BitDepth::Eight),
            |_, _| vec![0; 4],
            |_| {},
        );
        let big = SealImage::from_png(&big).expect_err("too many bytes");
        assert!(
            matches!(
                big,
                SealImageError::TooLargeDecoded {
                    bytes: 17_640_000,
                    ..
                }
            ),
            "{big}"
        );

        // 1000 px at 2835 px/m (72 dpi) would be 352.7 mm wide.
        let low_resolution = png(
            (1000, 10),
            (png::ColorType::Grayscale, png::BitDepth::Eight),
            |_, _| vec![0],
            |encoder| encoder.set_pixel_dims(metre(2835, 2835)),
        );
        let low_resolution = SealImage::from_png(&low_resolution).expect_err("implausible");
        assert!(
            matches!(
                low_resolution,
                SealImageError::ImplausibleSize { width_mm, .. } if (width_mm - 352.7).abs() < 0.1
            ),
            "{low_resolution}"
        );
    }

    #[test]
    fn natural_sizes() {
        // 600 dpi is 23622 px/m: 945 px is 40.0 mm.
        let ((width, height), physical) = natural_size(945, 472, metre(23622, 23622));
        assert!(physical);
        assert!((width / POINTS_PER_MM - 40.0).abs() < 0.01, "{width}");
        assert!((height / POINTS_PER_MM - 19.98).abs() < 0.01, "{height}");
        // A zero resolution is ignored.
        assert!(!natural_size(10, 10, metre(0, 100)).1);
        // Unspecified unit: only the pixel aspect ratio counts.
        let unspecified = Some(png::PixelDimensions {
            xppu: 2,
            yppu: 1,
            unit: png::Unit::Unspecified,
        });
        let ((width, height), physical) = natural_size(100, 100, unspecified);
        assert!(!physical);
        assert!((height - 2.0 * width).abs() < 1e-9);
    }
}
