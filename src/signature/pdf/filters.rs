//! Decoding the few streams the structure reader must look inside — object streams and
//! cross-reference streams: no filter or `/FlateDecode`, with the PNG (10–15) and TIFF (2)
//! predictors of `/DecodeParms`. Inflation stops at the limit, so a Flate bomb costs at
//! most `max_decoded_stream_bytes` of memory. Page content and images are never decoded.

use std::io::Read;

use super::error::{one_line, PdfError};
use super::limits::Limits;
use super::object::{Dictionary, PdfObject, StreamHeader};
use super::source::SourceFile;

/// Reads the `length` data bytes of `stream` and decodes them, within the limits and the
/// file's decoding budget.
pub(crate) fn read_and_decode(
    source: &mut SourceFile,
    stream: &StreamHeader,
    length: u64,
    limits: &Limits,
) -> Result<Vec<u8>, PdfError> {
    let offset = stream.data_offset;
    if length > limits.max_decoded_stream_bytes as u64 {
        return Err(PdfError::StreamTooLarge {
            offset,
            limit: limits.max_decoded_stream_bytes,
            stage: "before decoding",
        });
    }
    let encoded = source.read_exact_at(offset, length as usize, "stream data")?;
    let decoded = decode_stream(
        &stream.dictionary,
        &encoded,
        offset,
        limits.max_decoded_stream_bytes,
    )?;
    source.charge_decoded(decoded.len())?;
    Ok(decoded)
}

/// Decodes `encoded` (a stream's data starting at file offset `offset`) as its dictionary
/// says, producing at most `max_decoded` bytes.
pub(crate) fn decode_stream(
    dictionary: &Dictionary,
    encoded: &[u8],
    offset: u64,
    max_decoded: usize,
) -> Result<Vec<u8>, PdfError> {
    let filter = single(dictionary.get("Filter"), offset, "/Filter")?;
    let parameters = single(dictionary.get("DecodeParms"), offset, "/DecodeParms")?;
    let decoded = match filter {
        None | Some(PdfObject::Null) => {
            if encoded.len() > max_decoded {
                return Err(PdfError::StreamTooLarge {
                    offset,
                    limit: max_decoded,
                    stage: "when decoded",
                });
            }
            encoded.to_vec()
        }
        Some(PdfObject::Name(name)) if matches!(name.as_bytes(), b"FlateDecode" | b"Fl") => {
            inflate(encoded, offset, max_decoded)?
        }
        Some(other) => {
            return Err(PdfError::UnsupportedStream {
                offset,
                what: match other {
                    PdfObject::Name(name) => format!("the filter /{}", one_line(name.as_bytes())),
                    other => format!("a /Filter that is {}", other.kind()),
                },
            })
        }
    };
    match parameters.and_then(PdfObject::as_dictionary) {
        Some(parameters) => unpredict(decoded, parameters, offset),
        None => Ok(decoded),
    }
}

/// A filter array of one element is the same as the element; longer chains are not used
/// by the streams this reader decodes.
fn single<'a>(
    value: Option<&'a PdfObject>,
    offset: u64,
    key: &str,
) -> Result<Option<&'a PdfObject>, PdfError> {
    match value {
        Some(PdfObject::Array(items)) => match items.as_slice() {
            [] => Ok(None),
            [only] => Ok(Some(only)),
            _ => Err(PdfError::UnsupportedStream {
                offset,
                what: format!("a chain of {} filters in {key}", items.len()),
            }),
        },
        other => Ok(other),
    }
}

fn inflate(encoded: &[u8], offset: u64, max_decoded: usize) -> Result<Vec<u8>, PdfError> {
    let mut decoder = flate2::read::ZlibDecoder::new(encoded).take(max_decoded as u64 + 1);
    let mut decoded = Vec::new();
    decoder
        .read_to_end(&mut decoded)
        .map_err(|error| PdfError::CorruptStream {
            offset,
            detail: error.to_string(),
        })?;
    if decoded.len() > max_decoded {
        return Err(PdfError::StreamTooLarge {
            offset,
            limit: max_decoded,
            stage: "when inflated (a Flate bomb?)",
        });
    }
    Ok(decoded)
}

/// Undoes a predictor (ISO 32000-1 §7.4.4.4).
fn unpredict(data: Vec<u8>, parameters: &Dictionary, offset: u64) -> Result<Vec<u8>, PdfError> {
    let predictor = parameters.integer("Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    let parameter = |key: &str, default: i64| {
        let value = parameters.integer(key).unwrap_or(default);
        if (1..=1 << 20).contains(&value) {
            Ok(value as usize)
        } else {
            Err(PdfError::UnsupportedStream {
                offset,
                what: format!("/{key} {value} in /DecodeParms"),
            })
        }
    };
    let colors = parameter("Colors", 1)?;
    let bits = parameter("BitsPerComponent", 8)?;
    let columns = parameter("Columns", 1)?;
    let bits_per_pixel = colors * bits;
    let bytes_per_pixel = bits_per_pixel.div_ceil(8);
    let row_length = (columns * bits_per_pixel).div_ceil(8);
    if row_length > data.len().max(1) {
        return Err(PdfError::UnsupportedStream {
            offset,
            what: format!(
                "a predictor row of {row_length} bytes in {} bytes of data",
                data.len()
            ),
        });
    }
    match predictor {
        2 if bits == 8 => Ok(undo_tiff(data, row_length, bytes_per_pixel)),
        10..=15 => undo_png(&data, row_length, bytes_per_pixel, offset),
        _ => Err(PdfError::UnsupportedStream {
            offset,
            what: format!("/Predictor {predictor} with /BitsPerComponent {bits}"),
        }),
    }
}

fn undo_tiff(mut data: Vec<u8>, row_length: usize, bytes_per_pixel: usize) -> Vec<u8> {
    for row in data.chunks_mut(row_length) {
        for index in bytes_per_pixel..row.len() {
            row[index] = row[index].wrapping_add(row[index - bytes_per_pixel]);
        }
    }
    data
}

/// PNG predictors: every row starts with its own filter type byte.
fn undo_png(
    data: &[u8],
    row_length: usize,
    bytes_per_pixel: usize,
    offset: u64,
) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row_length];
    let mut current = vec![0u8; row_length];
    for row in data.chunks(row_length + 1) {
        let Some((&filter, bytes)) = row.split_first() else {
            break;
        };
        // A short last row is decoded as far as it goes.
        let length = bytes.len();
        current[..length].copy_from_slice(bytes);
        for index in 0..length {
            let left = if index >= bytes_per_pixel {
                current[index - bytes_per_pixel]
            } else {
                0
            };
            let up = previous[index];
            let up_left = if index >= bytes_per_pixel {
                previous[index - bytes_per_pixel]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                other => {
                    return Err(PdfError::CorruptStream {
                        offset,
                        detail: format!("PNG row filter type {other} does not exist"),
                    })
                }
            };
            current[index] = current[index].wrapping_add(predicted);
        }
        out.extend_from_slice(&current[..length]);
        std::mem::swap(&mut previous, &mut current);
    }
    Ok(out)
}

fn paeth(left: u8, up: u8, up_left: u8) -> u8 {
    let estimate = i16::from(left) + i16::from(up) - i16::from(up_left);
    let distance_left = (estimate - i16::from(left)).abs();
    let distance_up = (estimate - i16::from(up)).abs();
    let distance_up_left = (estimate - i16::from(up_left)).abs();
    if distance_left <= distance_up && distance_left <= distance_up_left {
        left
    } else if distance_up <= distance_up_left {
        up
    } else {
        up_left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::pdf::object::Name;
    use std::io::Write;

    fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("in memory");
        encoder.finish().expect("in memory")
    }

    fn flate_with_png(columns: i64) -> Dictionary {
        let mut parameters = Dictionary::new();
        parameters.set("Predictor", PdfObject::Integer(12));
        parameters.set("Columns", PdfObject::Integer(columns));
        let mut dictionary = Dictionary::new();
        dictionary.set("Filter", PdfObject::Name(Name::new("FlateDecode")));
        dictionary.set("DecodeParms", PdfObject::Dictionary(parameters));
        dictionary
    }

    #[test]
    fn png_up_predictor_rows() {
        // Two rows of three bytes, both with filter 2 (Up).
        let rows = [2, 1, 2, 3, 2, 1, 1, 1];
        let decoded = decode_stream(&flate_with_png(3), &deflate(&rows), 0, 1024).expect("ok");
        assert_eq!(decoded, vec![1, 2, 3, 2, 3, 4]);
    }

    #[test]
    fn png_sub_average_and_paeth() {
        let rows = [1, 5, 1, 1, 3, 2, 2, 2, 4, 1, 1, 1];
        let decoded = decode_stream(&flate_with_png(3), &deflate(&rows), 0, 1024).expect("ok");
        assert_eq!(decoded, vec![5, 6, 7, 4, 7, 9, 5, 8, 10]);
    }

    #[test]
    fn a_flate_bomb_stops_at_the_limit() {
        let bomb = deflate(&vec![0u8; 1 << 20]);
        let mut dictionary = Dictionary::new();
        dictionary.set("Filter", PdfObject::Name(Name::new("FlateDecode")));
        assert!(matches!(
            decode_stream(&dictionary, &bomb, 77, 64 * 1024),
            Err(PdfError::StreamTooLarge { offset: 77, .. })
        ));
    }

    #[test]
    fn unknown_filters_and_bad_data_are_errors() {
        let mut dictionary = Dictionary::new();
        dictionary.set("Filter", PdfObject::Name(Name::new("LZWDecode")));
        assert!(matches!(
            decode_stream(&dictionary, b"x", 0, 10),
            Err(PdfError::UnsupportedStream { .. })
        ));
        dictionary.set("Filter", PdfObject::Name(Name::new("FlateDecode")));
        assert!(matches!(
            decode_stream(&dictionary, b"not zlib", 0, 10),
            Err(PdfError::CorruptStream { .. })
        ));
    }
}
