//! Terminal text: the sections one after the other, each after the first starting with a blank
//! line, a heading as `heading:`; tables aligned, every other block as lines. The title, subtitle
//! and charts are left out.

use crate::document::{Block, Document, Heading, Inline};

/// The document as terminal text.
#[must_use]
pub fn terminal(doc: &Document) -> String {
    let mut out = String::new();
    for (i, section) in doc.sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(h) = &section.heading {
            out.push_str(&format!("{h}:\n"));
        }
        for block in &section.blocks {
            out.push_str(&block_text(block));
        }
    }
    out
}

fn inline(text: &Inline) -> &str {
    text.text()
}

fn block_text(block: &Block) -> String {
    let lines = |items: &mut dyn Iterator<Item = String>| items.map(|l| l + "\n").collect::<String>();
    match block {
        Block::Table(t) => t.table.to_text(),
        Block::Paragraph(p) => format!("{}\n", inline(p)),
        Block::Note(text) => format!("{text}\n"),
        Block::List(l) => lines(&mut l.items.iter().map(|i| inline(i).to_string())),
        Block::Warnings(ws) => lines(&mut ws.iter().map(|w| format!("warning: {w}"))),
        Block::Callout(c) => {
            let head = c.text.as_ref().map_or_else(|| c.title.clone(), |t| format!("{} {t}", c.title));
            lines(&mut std::iter::once(head).chain(c.items.iter().map(|i| format!("- {i}"))))
        }
        Block::KeyValues(kv) => lines(&mut kv.iter().map(|(k, v)| format!("{k}: {}", inline(v)))),
        Block::Heading(Heading { text, detail, .. }) => match detail {
            Some(d) => format!("{text} ({d})\n"),
            None => format!("{text}\n"),
        },
        Block::Chart(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::every_block;

    #[test]
    fn every_block_as_terminal_text() {
        let text = terminal(&every_block());
        let expected = "x\n\
            -----------------------------\n\
            first table, not the main one\n\
            a paragraph <b>\n\
            --rate 5\n\
            a note\n\
            \n\
            Results:\n\
            name            ms\n\
            --------------  ---\n\
            a|b <i>         1.5\n\
            with,comma \"q\"  2\n\
            warning: onnx cpu: unstable <run>\n\
            warning: slow\n\
            one\n\
            two\n\
            Mixed: beware\n\
            - model <a> differs\n\
            CPU: Xeon <x>\n\
            Command: infer `bench`\n\
            box-1 (a.json)\n";
        assert_eq!(text, expected, "{text}");
        assert!(!text.contains("Model <m>") && !text.contains("<svg"), "no title, no chart");
    }
}
