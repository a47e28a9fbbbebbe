//! The renderers: one function per format turns a [`Document`] into text. The terminal and
//! Markdown show every block but the charts, HTML shows everything on one self-contained page,
//! CSV holds the document's main table.

mod html;
mod markdown;
mod terminal;

use infer_core::Result;

use crate::document::Document;

pub use self::{html::html, markdown::markdown, terminal::terminal};

/// The document's main table ([`Document::main_table`]) as CSV with a header line; empty when the
/// document has no table.
///
/// # Errors
/// Never in practice (writing to memory).
pub fn csv(doc: &Document) -> Result<String> {
    doc.main_table().map_or_else(|| Ok(String::new()), crate::table::Table::to_csv)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{
        document::{Block, Callout, Heading, Inline, List, Section, TableBlock, Warning, note, paragraph},
        table::Table,
    };

    /// One of every block, with text that needs escaping in HTML and Markdown.
    pub(crate) fn every_block() -> Document {
        let mut t = Table::new(&["name", "ms"]);
        t.rows.push(vec!["a|b <i>".into(), "1.5".into()]);
        t.rows.push(vec!["with,comma \"q\"".into(), "2".into()]);
        let mut main = TableBlock::new(t.clone()).text([0]).main();
        main.mark(1, 1, "bad");
        main.mark_row(0, "missing");
        let mut other = Table::new(&["x"]);
        other.rows.push(vec!["first table, not the main one".into()]);
        Document::new("Model <m> & co")
            .subtitle("measured <today>")
            .section(
                Section::new()
                    .block(other)
                    .block(paragraph("a paragraph <b>"))
                    .block(Block::Paragraph(Inline::Code("--rate 5".into())))
                    .block(note("a note")),
            )
            .section(
                Section::titled("Results")
                    .id("results")
                    .block(main)
                    .block(Block::Warnings(vec![Warning::about("onnx cpu", "unstable <run>"), Warning::plain("slow")]))
                    .block(List::plain(["one".to_string(), "two".into()]).class("note"))
                    .block(Callout {
                        id: "mixed",
                        title: "Mixed:".into(),
                        text: Some("beware".into()),
                        items: vec!["model <a> differs".into()],
                    })
                    .block(Block::KeyValues(vec![
                        ("CPU".into(), Inline::Plain("Xeon <x>".into())),
                        ("Command".into(), Inline::Code("infer `bench`".into())),
                    ]))
                    .block(Heading {
                        text: "box-1".into(),
                        detail: Some("a.json".into()),
                        swatch: Some("#4e79a7".into()),
                    })
                    .block(Block::Chart("<svg class=\"chart\"></svg>".into())),
            )
    }

    #[test]
    fn csv_holds_the_main_table_quoted() {
        let csv = csv(&every_block()).unwrap();
        assert_eq!(csv, "name,ms\na|b <i>,1.5\n\"with,comma \"\"q\"\"\",2\n");
        assert_eq!(super::csv(&Document::new("empty")).unwrap(), "");
        // Without a main mark, the first table.
        let mut t = Table::new(&["only"]);
        t.rows.push(vec!["1".into()]);
        let doc = Document::new("t").section(Section::new().block(t));
        assert_eq!(super::csv(&doc).unwrap(), "only\n1\n");
    }
}
