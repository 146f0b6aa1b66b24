//! The limits that bound every PDF read: object sizes, nesting, decoded stream sizes,
//! cross-reference sections, object counts, form and page trees, and the total work one
//! open file may cause. Owns only the numbers and their defaults; the lexer, the
//! cross-reference loader and the reader enforce them as they go (never by trusting a size
//! the file declares about itself).

/// Upper bounds for reading one PDF (and for the incremental update written onto it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The whole file, in bytes. Also keeps every offset within the ten digits the
    /// fixed-width `/ByteRange` placeholder has room for.
    pub max_file_bytes: u64,
    /// The text of one object outside stream data (a dictionary, an array), in bytes.
    pub max_object_bytes: usize,
    /// How many objects (numbers, names, nested arrays…) one object may hold: bounds the
    /// memory a parsed object takes, whatever its text size.
    pub max_object_elements: usize,
    /// How deep arrays and dictionaries may nest inside one object.
    pub max_depth: usize,
    /// One stream's encoded data when the reader has to decode it (object and
    /// cross-reference streams), and the same stream after decoding, in bytes: bounds a
    /// Flate bomb.
    pub max_decoded_stream_bytes: usize,
    /// All streams decoded while one file is open, in bytes: bounds the time a file can
    /// make the reader spend inflating.
    pub max_total_decoded_bytes: u64,
    /// All bytes read to understand the structure (objects, cross-reference data) while
    /// one file is open; streaming the signed byte ranges does not count.
    pub max_structure_read_bytes: u64,
    /// Cross-reference sections on the `/Prev` chain (roughly: revisions).
    pub max_xref_sections: usize,
    /// Cross-reference entries read over all sections together.
    pub max_xref_entries: usize,
    /// Distinct objects the cross-reference index may hold (bounds its memory).
    pub max_objects: usize,
    /// The highest object number accepted (ISO 32000-1 Annex C: 8,388,607); a larger
    /// trailer `/Size` is refused.
    pub max_object_number: u32,
    /// Objects one object stream may declare (`/N`).
    pub max_objects_per_stream: usize,
    /// Nodes visited in the `/AcroForm` field tree.
    pub max_fields: usize,
    /// How deep `/Kids` may nest in the field tree.
    pub max_field_depth: usize,
    /// Nodes visited in the page tree.
    pub max_page_tree_nodes: usize,
    /// How deep the page tree may nest.
    pub max_page_tree_depth: usize,
    /// The largest `/Contents` placeholder a signature request may ask for, in bytes of
    /// DER (the file holds twice as many hex digits).
    pub max_contents_capacity: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

impl Default for Limits {
    /// Limits for official documents on a small appliance: files up to 4 GiB; objects up to
    /// 4 MiB of text (room for a 1 MiB signature's hex) and 100,000 elements; decoded streams
    /// up to 8 MiB each (two kept decoded) and 256 MiB in total; 250,000 objects (an index
    /// of at most about 13 MiB); 1,000 revisions. Even a hostile file stays under about
    /// 48 MiB of memory; an ordinary one needs a few MiB.
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 * 1024 * MIB as u64,
            max_object_bytes: 4 * MIB,
            max_object_elements: 100_000,
            max_depth: 64,
            max_decoded_stream_bytes: 8 * MIB,
            max_total_decoded_bytes: 256 * MIB as u64,
            max_structure_read_bytes: 256 * MIB as u64,
            max_xref_sections: 1_000,
            max_xref_entries: 2_000_000,
            max_objects: 250_000,
            max_object_number: 8_388_607,
            max_objects_per_stream: 100_000,
            max_fields: 10_000,
            max_field_depth: 32,
            max_page_tree_nodes: 200_000,
            max_page_tree_depth: 64,
            max_contents_capacity: MIB,
        }
    }
}

impl Limits {
    /// Small limits for fuzzing and hostile-input tests: every limit is reached quickly.
    pub fn small() -> Self {
        Limits {
            max_file_bytes: 16 * MIB as u64,
            max_object_bytes: 64 * KIB,
            max_object_elements: 5_000,
            max_depth: 32,
            max_decoded_stream_bytes: 256 * KIB,
            max_total_decoded_bytes: 4 * MIB as u64,
            max_structure_read_bytes: 16 * MIB as u64,
            max_xref_sections: 32,
            max_xref_entries: 20_000,
            max_objects: 10_000,
            max_object_number: 100_000,
            max_objects_per_stream: 1_000,
            max_fields: 200,
            max_field_depth: 16,
            max_page_tree_nodes: 1_000,
            max_page_tree_depth: 16,
            max_contents_capacity: 64 * KIB,
        }
    }
}
