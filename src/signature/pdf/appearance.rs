//! What a new signature widget looks like on its page: the seam where a visible seal will
//! plug in. Today only the invisible widget exists (`/Rect [0 0 0 0]`, no appearance
//! stream). A visible seal will add a variant that allocates its own objects (a form
//! XObject drawing a red seal image XObject), returns them here as [`NewObject`]s with
//! their stream data, and gives the widget a non-zero `/Rect` and `/AP << /N … >>` —
//! nothing else in the writer has to change.

use super::object::{Name, ObjectId, PdfObject};
use super::pages::PageRef;

/// How the signature shows on the page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureAppearance {
    /// No visible mark: a zero-size widget, as PAdES allows.
    #[default]
    Invisible,
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

/// Builds the widget's appearance on `page`; `allocate` gives fresh object numbers.
pub(crate) fn widget_appearance(
    appearance: &SignatureAppearance,
    _page: &PageRef,
    _allocate: &mut dyn FnMut() -> ObjectId,
) -> WidgetAppearance {
    match appearance {
        SignatureAppearance::Invisible => WidgetAppearance {
            rect: [0.0; 4],
            widget_entries: Vec::new(),
            objects: Vec::new(),
        },
    }
}
