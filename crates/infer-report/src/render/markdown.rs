//! Markdown (GitHub-flavoured): `#` title, `##` sections, blocks separated by blank lines.
//! Text from data cannot open raw HTML (`<` is escaped as `\<`), a table cell cannot end its
//! column (`|` as `\|`, line breaks as spaces), and code spans are fenced by more backticks than
//! they hold. Charts are left out.

use crate::{
    document::{Block, Callout, Document, Heading, Inline},
    table::Table,
};

/// The document as Markdown.
#[must_use]
pub fn markdown(doc: &Document) -> String {
    let mut parts = Vec::new();
    if !doc.title.is_empty() {
        parts.push(format!("# {}\n", escape(&doc.title)));
    }
    parts.extend(doc.subtitle.iter().map(|s| format!("{}\n", escape(s))));
    for section in &doc.sections {
        if let Some(h) = &section.heading {
            parts.push(format!("## {}\n", escape(h)));
        }
        parts.extend(section.blocks.iter().map(block).filter(|b| !b.is_empty()));
    }
    parts.join("\n")
}

/// Text that cannot open raw HTML.
#[must_use]
pub fn escape(text: &str) -> String {
    text.replace('<', "\\<")
}

/// A table cell: escaped, and unable to end its column or row.
fn cell(text: &str) -> String {
    escape(text).replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Inline text: plain text escaped, code in a backtick fence longer than any run of backticks in it.
fn inline(text: &Inline) -> String {
    match text {
        Inline::Plain(t) => escape(t),
        Inline::Code(t) => {
            let longest = t.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest + 1);
            let pad = if longest > 0 { " " } else { "" };
            format!("{fence}{pad}{t}{pad}{fence}")
        }
    }
}

/// A GitHub-flavoured Markdown table.
fn table(t: &Table) -> String {
    let row = |cells: &[String]| format!("| {} |\n", cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    let mut out = row(&t.header);
    out.push_str(&format!("|{}|\n", t.header.iter().map(|_| "---").collect::<Vec<_>>().join("|")));
    for r in &t.rows {
        out.push_str(&row(r));
    }
    out
}

fn block(b: &Block) -> String {
    let list = |items: &mut dyn Iterator<Item = String>| items.map(|i| format!("- {i}\n")).collect::<String>();
    match b {
        Block::Table(t) => table(&t.table),
        Block::Paragraph(p) => format!("{}\n", inline(p)),
        Block::Note(text) => format!("{}\n", escape(text)),
        Block::List(l) => list(&mut l.items.iter().map(inline)),
        Block::Warnings(ws) => list(&mut ws.iter().map(|w| match &w.about {
            Some(about) => format!("**{}:** {}", escape(about), escape(&w.text)),
            None => escape(&w.text),
        })),
        Block::Callout(Callout { title, text, items, .. }) => {
            let mut out = format!("**{}**", escape(title));
            if let Some(t) = text {
                out.push_str(&format!(" {}", escape(t)));
            }
            out.push_str("\n\n");
            out.push_str(&list(&mut items.iter().map(|i| escape(i))));
            out
        }
        Block::KeyValues(kv) => list(&mut kv.iter().map(|(k, v)| format!("**{}:** {}", escape(k), inline(v)))),
        Block::Heading(Heading { text, detail, .. }) => match detail {
            Some(d) => format!("### {} ({})\n", escape(text), escape(d)),
            None => format!("### {}\n", escape(text)),
        },
        Block::Chart(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::every_block;

    #[test]
    fn every_block_as_markdown() {
        let md = markdown(&every_block());
        let expected = "# Model \\<m> & co\n\
            \n\
            measured \\<today>\n\
            \n\
            | x |\n|---|\n| first table, not the main one |\n\
            \n\
            a paragraph \\<b>\n\
            \n\
            `--rate 5`\n\
            \n\
            a note\n\
            \n\
            ## Results\n\
            \n\
            | name | ms |\n|---|---|\n| a\\|b \\<i> | 1.5 |\n| with,comma \"q\" | 2 |\n\
            \n\
            - **onnx cpu:** unstable \\<run>\n- slow\n\
            \n\
            - one\n- two\n\
            \n\
            **Mixed:** beware\n\n- model \\<a> differs\n\
            \n\
            - **CPU:** Xeon \\<x>\n- **Command:** `` infer `bench` ``\n\
            \n\
            ### box-1 (a.json)\n";
        assert_eq!(md, expected, "{md}");
    }

    #[test]
    fn cells_cannot_break_the_table() {
        let mut t = Table::new(&["a"]);
        t.rows.push(vec!["line\nbreak | pipe".into()]);
        assert_eq!(table(&t), "| a |\n|---|\n| line break \\| pipe |\n");
    }
}
