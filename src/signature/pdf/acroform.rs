//! The interactive form (ISO 32000-1 §12.7): where the `/AcroForm` dictionary is, and a
//! walk of its field tree through `/Kids` with full names (`parent.child`) and the
//! inherited field type, bounded in depth and size. A field listed twice is visited once.
//!
//! Knows fields, not signatures: `signatures` picks the `/FT /Sig` fields from this walk and
//! `incremental` uses it for unique names.

use std::collections::HashSet;

use super::error::PdfError;
use super::object::{Dictionary, ObjectId, PdfObject};
use super::reader::PdfFile;
use super::text::decode_text;

/// Where the catalog keeps its `/AcroForm`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AcroFormLocation {
    Absent,
    /// A dictionary written inside the catalog.
    InCatalog(Dictionary),
    /// An indirect dictionary.
    Indirect(ObjectId, Dictionary),
}

impl AcroFormLocation {
    pub(crate) fn dictionary(&self) -> Option<&Dictionary> {
        match self {
            AcroFormLocation::Absent => None,
            AcroFormLocation::InCatalog(dictionary) | AcroFormLocation::Indirect(_, dictionary) => {
                Some(dictionary)
            }
        }
    }
}

/// One node of the field tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormField {
    /// The fully qualified name; empty for a node with no named ancestor.
    pub full_name: String,
    /// Whether this node has its own `/T`.
    pub named: bool,
    pub id: Option<ObjectId>,
    pub dictionary: Dictionary,
    /// `/FT`, its own or inherited.
    pub field_type: Option<Vec<u8>>,
}

pub(crate) fn acroform(
    file: &mut PdfFile,
    catalog: &Dictionary,
) -> Result<AcroFormLocation, PdfError> {
    Ok(match catalog.get("AcroForm") {
        None => AcroFormLocation::Absent,
        Some(PdfObject::Reference(id)) => match file.object(*id)? {
            PdfObject::Dictionary(dictionary) => AcroFormLocation::Indirect(*id, dictionary),
            PdfObject::Null => AcroFormLocation::Absent,
            other => {
                return Err(PdfError::Malformed {
                    what: format!("/AcroForm ({id}) is {}, not a dictionary", other.kind()),
                })
            }
        },
        Some(PdfObject::Dictionary(dictionary)) => AcroFormLocation::InCatalog(dictionary.clone()),
        Some(PdfObject::Null) => AcroFormLocation::Absent,
        Some(other) => {
            return Err(PdfError::Malformed {
                what: format!("/AcroForm is {}, not a dictionary", other.kind()),
            })
        }
    })
}

fn tree_error(problem: String) -> PdfError {
    PdfError::Tree {
        tree: "form field tree",
        problem,
    }
}

/// Every node of the field tree under `/Fields`, parents before children, in order.
pub(crate) fn walk_fields(
    file: &mut PdfFile,
    acroform: &Dictionary,
) -> Result<Vec<FormField>, PdfError> {
    let limits = file.limits().clone();
    let roots = match acroform.get("Fields") {
        Some(fields) => file.resolve(fields)?,
        None => return Ok(Vec::new()),
    };
    let Some(roots) = roots.as_array() else {
        return Ok(Vec::new());
    };
    // (node, parent's full name, inherited /FT, depth), last to visit first.
    let mut pending: Vec<(PdfObject, String, Option<Vec<u8>>, usize)> = roots
        .iter()
        .rev()
        .map(|root| (root.clone(), String::new(), None, 1))
        .collect();
    let mut visited = HashSet::new();
    let mut fields = Vec::new();
    let mut nodes = 0usize;
    while let Some((node, parent_name, inherited_type, depth)) = pending.pop() {
        if depth > limits.max_field_depth {
            return Err(tree_error(format!(
                "nests deeper than {} levels",
                limits.max_field_depth
            )));
        }
        let id = node.as_reference();
        if let Some(id) = id {
            if !visited.insert(id) {
                continue;
            }
        }
        nodes += 1;
        if nodes > limits.max_fields {
            return Err(tree_error(format!(
                "has more than {} nodes",
                limits.max_fields
            )));
        }
        let Some(dictionary) = file.resolve_dictionary(&node)? else {
            continue;
        };
        let partial = dictionary
            .get("T")
            .and_then(PdfObject::as_string)
            .map(|name| decode_text(&name.bytes));
        let full_name = match (&partial, parent_name.is_empty()) {
            (Some(partial), true) => partial.clone(),
            (Some(partial), false) => format!("{parent_name}.{partial}"),
            (None, _) => parent_name,
        };
        let field_type = dictionary.name("FT").map(<[u8]>::to_vec).or(inherited_type);
        if let Some(kids) = dictionary.get("Kids") {
            let kids = file.resolve(kids)?;
            if let Some(kids) = kids.as_array() {
                if pending.len() + kids.len() > limits.max_fields {
                    return Err(tree_error(format!(
                        "has more than {} nodes",
                        limits.max_fields
                    )));
                }
                for kid in kids.iter().rev() {
                    pending.push((
                        kid.clone(),
                        full_name.clone(),
                        field_type.clone(),
                        depth + 1,
                    ));
                }
            }
        }
        fields.push(FormField {
            full_name,
            named: partial.is_some(),
            id,
            dictionary,
            field_type,
        });
    }
    Ok(fields)
}
