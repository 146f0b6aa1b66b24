//! Finding one page in the page tree (ISO 32000-1 §7.7.3): descends by the `/Count` of
//! each intermediate node instead of listing every page, with limits on depth and nodes
//! visited, and refuses loops. Also a page's visible box (`/CropBox` within `/MediaBox`,
//! inherited through `/Parent`), which a visible signature is placed in. Knows nothing of
//! annotations or signatures.

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

/// The part of `page` a viewer shows, in default user space, as `[x0 y0 x1 y1]` with
/// `x0 < x1` and `y0 < y1`: its `/CropBox` cut to its `/MediaBox`, each the page's own or
/// the nearest ancestor's (ISO 32000-1 §7.7.3.4, §14.11.2). `/Rotate` is not applied.
pub(crate) fn page_box(file: &mut PdfFile, page: &PageRef) -> Result<[f64; 4], PdfError> {
    let depth_limit = file.limits().max_page_tree_depth;
    let mut media_box = None;
    let mut crop_box = None;
    let mut node = page.dictionary.clone();
    let mut visited = HashSet::from([page.id]);
    for _ in 0..=depth_limit {
        if media_box.is_none() {
            media_box = read_box(file, &node, "MediaBox")?;
        }
        if crop_box.is_none() {
            crop_box = read_box(file, &node, "CropBox")?;
        }
        if media_box.is_some() && crop_box.is_some() {
            break;
        }
        let Some(parent) = node.reference("Parent") else {
            break;
        };
        if !visited.insert(parent) {
            return Err(tree_error(format!(
                "loops back to {parent} through /Parent"
            )));
        }
        match file.resolve_dictionary(&PdfObject::Reference(parent))? {
            Some(parent) => node = parent,
            None => break,
        }
    }
    let media_box = media_box.ok_or_else(|| PdfError::Malformed {
        what: format!(
            "page {} has no usable /MediaBox (nor has any of its ancestors)",
            page.number
        ),
    })?;
    Ok(match crop_box.and_then(|crop| intersect(crop, media_box)) {
        Some(visible) => visible,
        None => media_box,
    })
}

/// A rectangle entry as `[x0 y0 x1 y1]` normalised; `None` when absent, not four numbers,
/// or empty.
fn read_box(
    file: &mut PdfFile,
    node: &Dictionary,
    key: &str,
) -> Result<Option<[f64; 4]>, PdfError> {
    let Some(value) = node.get(key) else {
        return Ok(None);
    };
    let value = file.resolve(value)?;
    let Some(items) = value.as_array() else {
        return Ok(None);
    };
    let mut numbers = Vec::with_capacity(4);
    for item in items.iter().take(5) {
        match file.resolve(item)?.as_number() {
            Some(number) if number.is_finite() => numbers.push(number),
            _ => return Ok(None),
        }
    }
    Ok(match numbers[..] {
        [a, b, c, d] => normalised_rect([a, b, c, d]),
        _ => None,
    })
}

/// `rect` with its corners ordered so that `x0 < x1` and `y0 < y1`; `None` when it has no
/// area (as the invisible signature widget's `[0 0 0 0]`).
pub(crate) fn normalised_rect([a, b, c, d]: [f64; 4]) -> Option<[f64; 4]> {
    let rect = [a.min(c), b.min(d), a.max(c), b.max(d)];
    (rect[2] > rect[0] && rect[3] > rect[1]).then_some(rect)
}

fn intersect(first: [f64; 4], second: [f64; 4]) -> Option<[f64; 4]> {
    normalised_rect([
        first[0].max(second[0]),
        first[1].max(second[1]),
        first[2].min(second[2]),
        first[3].min(second[3]),
    ])
    .filter(|rect| rect[0] < rect[2] && rect[1] < rect[3])
}

fn page_count(node: &Dictionary) -> Option<u64> {
    node.integer("Count")
        .and_then(|count| u64::try_from(count).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::pdf::Limits;
    use std::io::Cursor;

    /// A file of `bodies` as objects 1, 2, … with the catalog at 1 and pages at 2.
    fn file(bodies: &[&str]) -> PdfFile {
        let bytes = crate::signature::pdf::reader::test_pdf(bodies);
        PdfFile::from_source(Box::new(Cursor::new(bytes)), Limits::default()).expect("opens")
    }

    fn box_of_page(bodies: &[&str]) -> Result<[f64; 4], PdfError> {
        let mut file = file(bodies);
        let page = find_page(&mut file, None)?;
        page_box(&mut file, &page)
    }

    #[test]
    fn the_media_box_is_inherited_and_cut_by_the_crop_box() {
        let catalog = "<</Type /Catalog /Pages 2 0 R>>";
        // Inherited from the root of the page tree, as the demo sample has it.
        assert_eq!(
            box_of_page(&[
                catalog,
                "<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842]>>",
                "<</Type /Page /Parent 2 0 R>>",
            ])
            .expect("a box"),
            [0.0, 0.0, 595.0, 842.0]
        );
        // The page's own, written corner-first the other way, and an indirect crop box
        // that reaches past it.
        assert_eq!(
            box_of_page(&[
                catalog,
                "<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 100 100]>>",
                "<</Type /Page /Parent 2 0 R /MediaBox [612 792 0 0] /CropBox 4 0 R>>",
                "[10 20 700 780.5]",
            ])
            .expect("a box"),
            [10.0, 20.0, 612.0, 780.5]
        );
        // No media box anywhere.
        let error = box_of_page(&[
            catalog,
            "<</Type /Pages /Kids [3 0 R] /Count 1>>",
            "<</Type /Page /Parent 2 0 R /MediaBox [0 0 0 0]>>",
        ])
        .expect_err("no box");
        assert!(error.to_string().contains("no usable /MediaBox"), "{error}");
    }

    #[test]
    fn rectangles_are_normalised() {
        assert_eq!(
            normalised_rect([300.0, 80.0, 200.0, 40.0]),
            Some([200.0, 40.0, 300.0, 80.0])
        );
        assert_eq!(normalised_rect([0.0; 4]), None);
        assert_eq!(normalised_rect([5.0, 5.0, 5.0, 9.0]), None);
    }
}
