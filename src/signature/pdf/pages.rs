//! Finding one page in the page tree (ISO 32000-1 §7.7.3): descends by the `/Count` of
//! each intermediate node instead of listing every page, with limits on depth and nodes
//! visited, and refuses loops. Knows nothing of annotations or signatures.

use std::collections::HashSet;

use super::error::PdfError;
use super::object::{Dictionary, ObjectId, PdfObject};
use super::reader::PdfFile;

/// A page found in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRef {
    pub id: ObjectId,
    pub dictionary: Dictionary,
    /// 1-based.
    pub number: u64,
}

fn tree_error(problem: impl Into<String>) -> PdfError {
    PdfError::Tree {
        tree: "page tree",
        problem: problem.into(),
    }
}

/// Page `requested` (1-based), or the last page when `None`.
pub fn find_page(file: &mut PdfFile, requested: Option<u32>) -> Result<PageRef, PdfError> {
    let catalog = file.catalog()?;
    let root = catalog
        .reference("Pages")
        .ok_or_else(|| PdfError::Malformed {
            what: "the catalog has no indirect /Pages".to_owned(),
        })?;
    let root_node = file
        .resolve_dictionary(&PdfObject::Reference(root))?
        .ok_or(PdfError::MissingObject {
            id: root,
            what: "the page tree root",
        })?;
    let count = page_count(&root_node).ok_or_else(|| tree_error("root has no valid /Count"))?;
    let number = match requested {
        Some(0) => {
            return Err(PdfError::InvalidRequest {
                what: "pages are numbered from 1".to_owned(),
            })
        }
        Some(page) if u64::from(page) > count => {
            return Err(PdfError::NoSuchPage {
                requested: page,
                count,
            })
        }
        Some(page) => u64::from(page),
        None if count == 0 => return Err(tree_error("has no pages")),
        None => count,
    };
    let limits = file.limits().clone();
    let mut visited = HashSet::from([root]);
    let mut node = root_node;
    // Pages still to skip before the wanted one, counted inside `node`.
    let mut skip = number - 1;
    for _ in 0..limits.max_page_tree_depth {
        let kids = match node.get("Kids") {
            Some(kids) => file.resolve(kids)?,
            None => return Err(tree_error("has an intermediate node without /Kids")),
        };
        let kids = kids
            .as_array()
            .ok_or_else(|| tree_error("has /Kids that is not an array"))?;
        let mut descended = None;
        for kid in kids {
            let Some(kid_id) = kid.as_reference() else {
                return Err(tree_error("has a kid that is not an indirect reference"));
            };
            if visited.len() >= limits.max_page_tree_nodes {
                return Err(tree_error(format!(
                    "has more than {} nodes",
                    limits.max_page_tree_nodes
                )));
            }
            if !visited.insert(kid_id) {
                return Err(tree_error(format!("loops back to {kid_id}")));
            }
            let Some(kid_node) = file.resolve_dictionary(kid)? else {
                return Err(tree_error(format!(
                    "names {kid_id}, which is not a dictionary"
                )));
            };
            let is_leaf = kid_node.name("Type") == Some(b"Page")
                || (kid_node.name("Type").is_none() && kid_node.get("Kids").is_none());
            if is_leaf {
                if skip == 0 {
                    return Ok(PageRef {
                        id: kid_id,
                        dictionary: kid_node,
                        number,
                    });
                }
                skip -= 1;
            } else {
                let kid_count = page_count(&kid_node)
                    .ok_or_else(|| tree_error(format!("node {kid_id} has no valid /Count")))?;
                if skip < kid_count {
                    descended = Some(kid_node);
                    break;
                }
                skip -= kid_count;
            }
        }
        node = descended.ok_or_else(|| {
            tree_error(format!(
                "has fewer pages than its /Count says (looking for page {number})"
            ))
        })?;
    }
    Err(tree_error(format!(
        "is deeper than {} levels",
        limits.max_page_tree_depth
    )))
}

fn page_count(node: &Dictionary) -> Option<u64> {
    node.integer("Count")
        .and_then(|count| u64::try_from(count).ok())
}
