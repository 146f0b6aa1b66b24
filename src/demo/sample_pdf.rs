//! A small one-page PDF for the demo and the tests, written with `lopdf` (a sample document,
//! not a signed one: signing arrives with the `signature` module).

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// A one-page A4 PDF whose text is `title` (ASCII shown; other characters become '?').
pub fn sample_pdf(title: &str) -> Result<Vec<u8>, lopdf::Error> {
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let printable: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 16.into()]),
            Operation::new("Td", vec![72.into(), 760.into()]),
            Operation::new("Tj", vec![Object::string_literal(printable)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = document.add_object(Stream::new(dictionary! {}, content.encode()?));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_a_pdf_that_lopdf_reads_back() {
        let bytes = super::sample_pdf("Cong van mau").expect("pdf");
        assert!(bytes.starts_with(b"%PDF-1.7"));
        let document = lopdf::Document::load_mem(&bytes).expect("reload");
        assert_eq!(document.get_pages().len(), 1);
    }
}
