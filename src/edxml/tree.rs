//! The small in-memory tree the reader builds for everything but attachment content: local
//! names in the edXML namespace, trimmed text, children in document order. Owns the tree
//! shape and the lookups the header mapping uses. Does not hold attachment content (only
//! what became of it) and knows nothing about what the elements mean.
//!
//! The tree is bounded by the reader's header limits (bytes, elements, depth).

use super::transfer::TransferOutcome;

/// One element in the edXML namespace.
#[derive(Debug, Default)]
pub(crate) struct Element {
    /// The local name, with the `Bussiness` misspelling normalised to `Business`.
    pub(crate) name: String,
    /// The element's own text, trimmed of XML whitespace once the element closes.
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
    /// For a `ContentTransferEncoded` inside an `Attachment`: what its content became.
    pub(crate) transfer: Option<TransferOutcome>,
}

impl Element {
    pub(crate) fn new(name: String) -> Self {
        Element {
            name,
            ..Element::default()
        }
    }

    /// The first child called `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Every child called `name`, in document order.
    pub(crate) fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// Takes the first child called `name` out of the tree, so owned parts (staged files)
    /// can move into the model.
    pub(crate) fn take_child(&mut self, name: &str) -> Option<Element> {
        let index = self.children.iter().position(|child| child.name == name)?;
        Some(self.children.remove(index))
    }

    /// The trimmed text of the first child called `name`, or `None` when it is absent or
    /// empty.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.child(name).and_then(Element::own_value)
    }

    /// This element's trimmed text, or `None` when empty.
    pub(crate) fn own_value(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.clone())
    }

    /// The values of every child called `name`, empty ones left out.
    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.children_named(name)
            .filter_map(Element::own_value)
            .collect()
    }

    /// Trims the accumulated text of XML whitespace in place.
    pub(crate) fn finish_text(&mut self) {
        let trimmed = trim_xml_whitespace(&self.text);
        if trimmed.len() != self.text.len() {
            self.text = trimmed.to_owned();
        }
    }
}

/// Trims the four XML whitespace characters (space, tab, CR, LF), and nothing else: a
/// non-breaking space at the edge of a value is content.
pub(crate) fn trim_xml_whitespace(text: &str) -> &str {
    text.trim_matches(|character| matches!(character, ' ' | '\t' | '\r' | '\n'))
}

/// The local name as the model knows it: `Bussiness`, `BussinessDocType` and the like are
/// the SDK's spelling of `Business…`; both are accepted.
pub(crate) fn normalise_local_name(local_name: &str) -> String {
    match local_name.strip_prefix("Bussiness") {
        Some(rest) => format!("Business{rest}"),
        None => local_name.to_owned(),
    }
}
