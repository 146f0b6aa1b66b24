//! The limits that bound every packet read: sizes, counts, nesting and archive expansion.
//! Owns only the numbers and their defaults; the reader and the extractor enforce them as
//! they count bytes (never by trusting sizes a packet declares about itself).

/// Upper bounds for one packet read. Every read counts the bytes it actually consumes and
/// produces against these; declared sizes are only used to refuse early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The whole packet as it arrives, in bytes.
    pub max_packet_bytes: u64,
    /// Everything but attachment content (XML markup, header values, signatures), in bytes.
    pub max_header_bytes: u64,
    /// How many elements the XML outside attachment content may hold.
    pub max_header_elements: usize,
    /// How deep elements may nest, counting the root as 1.
    pub max_depth: usize,
    /// How many `Attachment` elements one packet may carry.
    pub max_attachments: usize,
    /// One extracted attachment, in bytes (also caps the ZIP that carries it).
    pub max_attachment_bytes: u64,
    /// All extracted attachments of one packet together, in bytes: bounds the disk a
    /// packet can fill in the staging directory.
    pub max_total_attachment_bytes: u64,
    /// Extracted size divided by compressed size, for entries large enough to matter.
    pub max_expansion_ratio: u64,
    /// Entries smaller than this are not held to the expansion ratio: a small file of
    /// zeros compresses a thousandfold and harms nobody.
    pub expansion_ratio_min_bytes: u64,
    /// An attachment or ZIP entry name, in bytes of UTF-8.
    pub max_name_bytes: usize,
}

const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    /// Limits for a gateway on a government office link: a packet up to 512 MiB, up to 50
    /// attachments of up to 300 MiB each (1 GiB together), at most 100-fold expansion.
    fn default() -> Self {
        Limits {
            max_packet_bytes: 512 * MIB,
            max_header_bytes: 4 * MIB,
            max_header_elements: 20_000,
            max_depth: 32,
            max_attachments: 50,
            max_attachment_bytes: 300 * MIB,
            max_total_attachment_bytes: 1024 * MIB,
            max_expansion_ratio: 100,
            expansion_ratio_min_bytes: MIB,
            max_name_bytes: 255,
        }
    }
}
