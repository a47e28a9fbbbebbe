//! HTML: one self-contained page (inline style sheet and SVG charts, no scripts, nothing loaded
//! from elsewhere) that opens offline in any browser. Every text of the document is escaped; only
//! the charts, built by [`crate::svg`] from escaped text, go in as they are.

use crate::{
    document::{Block, Callout, Document, Heading, Inline, Section, TableBlock, Warning},
    svg::escape,
};

/// The page's style sheet: page, headings, tables (text columns left, numbers right, classes for
/// emphasis), notes, warnings, the environment list and the charts of [`crate::svg`].
const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px auto; max-width: 1280px;
       padding: 0 16px; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
dl.env { display: grid; grid-template-columns: max-content auto; gap: 4px 16px; font-size: 14px; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; word-break: break-word; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
svg.chart { display: block; margin: 12px 0; background: #fff; width: 100%; max-width: 960px; height: auto; }
svg .title { font-size: 15px; font-weight: 600; } svg .tick, svg .legend, svg .rowlabel { font-size: 12px; fill: #333; }
svg .label { font-size: 13px; fill: #333; } svg .grid { stroke: #e5e7eb; } svg .value { font-size: 11px; fill: #333; }
svg .note { font-size: 12px; font-weight: 600; fill: #222; } svg .whisker { stroke-width: 1.5; }
p.sub, p.note { color: #555; margin-top: 4px; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: right; vertical-align: top; }
th { background: #f3f4f6; } td.text, th.text { text-align: left; } div.scroll { overflow-x: auto; }
td { white-space: nowrap; } td.text:last-child { white-space: normal; min-width: 160px; max-width: 360px; }
tr.missing td { color: #777; } td.bad { color: #b00020; font-weight: 600; } td.warn { color: #a15c00; }
td.faster { color: #1b7f3b; font-weight: 600; } td.slower { color: #b00020; font-weight: 600; }
ul.warnings { font-size: 13px; color: #a15c00; margin: 4px 0 8px; padding-left: 20px; }
ul.warnings b { color: #222; font-weight: 600; }
div.warn { border: 1px solid #a15c00; background: #fff7eb; padding: 8px 12px; color: #5c3500; }
span.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
";

/// The document as one HTML page.
#[must_use]
pub fn html(doc: &Document) -> String {
    let title = escape(&doc.title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    for line in &doc.subtitle {
        out.push_str(&format!("<p class=\"sub\">{}</p>\n", escape(line)));
    }
    for section in &doc.sections {
        out.push_str(&section_html(section));
    }
    out.push_str("</body></html>\n");
    out
}

/// A `<section>` with its anchor and `<h2>`; the blocks alone when it has neither.
fn section_html(s: &Section) -> String {
    let blocks: String = s.blocks.iter().map(block).collect();
    if s.id.is_none() && s.heading.is_none() {
        return blocks;
    }
    let id = s.id.as_ref().map_or_else(String::new, |id| format!(" id=\"{}\"", escape(id)));
    let heading = s.heading.as_ref().map_or_else(String::new, |h| format!("<h2>{}</h2>\n", escape(h)));
    format!("<section{id}>{heading}{blocks}</section>\n")
}

fn inline(text: &Inline) -> String {
    match text {
        Inline::Plain(t) => escape(t),
        Inline::Code(t) => format!("<code>{}</code>", escape(t)),
    }
}

/// ` class="a b"` of the non-empty `classes`, or nothing.
fn class_attr(classes: &[&str]) -> String {
    let classes: Vec<&str> = classes.iter().copied().filter(|c| !c.is_empty()).collect();
    if classes.is_empty() { String::new() } else { format!(" class=\"{}\"", classes.join(" ")) }
}

fn table(t: &TableBlock) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (c, h) in t.table.header.iter().enumerate() {
        let class = class_attr(&[if t.is_text(c) { "text" } else { "" }]);
        out.push_str(&format!("<th{class}>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for (r, row) in t.table.rows.iter().enumerate() {
        out.push_str(&format!("<tr{}>", class_attr(&[t.row_classes.get(&r).copied().unwrap_or("")])));
        for (c, cell) in row.iter().enumerate() {
            let mark = t.cell_classes.get(&(r, c)).copied().unwrap_or("");
            let class = class_attr(&[if t.is_text(c) { "text" } else { "" }, mark]);
            out.push_str(&format!("<td{class}>{}</td>", escape(cell)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

fn list(class: Option<&str>, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let items: String = items.iter().map(|i| format!("<li>{i}</li>")).collect();
    format!("<ul{}>{items}</ul>", class_attr(&[class.unwrap_or("")]))
}

fn warning(w: &Warning) -> String {
    match &w.about {
        Some(about) => format!("<b>{}:</b> {}", escape(about), escape(&w.text)),
        None => escape(&w.text),
    }
}

fn block(b: &Block) -> String {
    match b {
        Block::Table(t) => table(t),
        Block::Paragraph(p) => format!("<p>{}</p>", inline(p)),
        Block::Note(text) => format!("<p class=\"note\">{}</p>", escape(text)),
        Block::List(l) => list(l.class, &l.items.iter().map(inline).collect::<Vec<_>>()),
        Block::Warnings(ws) => list(Some("warnings"), &ws.iter().map(warning).collect::<Vec<_>>()),
        Block::Callout(Callout { id, title, text, items }) => {
            let text = text.as_ref().map_or_else(String::new, |t| format!(" {}", escape(t)));
            let items: Vec<String> = items.iter().map(|i| escape(i)).collect();
            format!(
                "<div class=\"warn\" id=\"{}\"><strong>{}</strong>{text}{}</div>\n",
                escape(id),
                escape(title),
                list(None, &items)
            )
        }
        Block::KeyValues(kv) => {
            let pairs: String =
                kv.iter().map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), inline(v))).collect();
            format!("<dl class=\"env\">{pairs}</dl>\n")
        }
        Block::Heading(Heading { text, detail, swatch }) => {
            let swatch = swatch.as_ref().map_or_else(String::new, |c| {
                format!("<span class=\"swatch\" style=\"background:{}\"></span>", escape(c))
            });
            let detail = detail.as_ref().map_or_else(String::new, |d| format!(" <small>({})</small>", escape(d)));
            format!("<h3>{swatch}{}{detail}</h3>", escape(text))
        }
        Block::Chart(svg) => svg.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::every_block;

    #[test]
    fn every_block_as_html_escaped() {
        let page = html(&every_block());
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{page}");
        assert!(page.contains("<title>Model &lt;m&gt; &amp; co</title>"));
        assert!(page.contains("<h1>Model &lt;m&gt; &amp; co</h1>\n<p class=\"sub\">measured &lt;today&gt;</p>\n"));
        // The bare first section: its blocks without a <section>.
        assert!(page.contains(
            "<p>a paragraph &lt;b&gt;</p><p><code>--rate 5</code></p><p class=\"note\">a note</p><section id=\"results\"><h2>Results</h2>\n"
        ));
        assert!(page.contains(
            "<thead><tr><th class=\"text\">name</th><th>ms</th></tr></thead><tbody>\
             <tr class=\"missing\"><td class=\"text\">a|b &lt;i&gt;</td><td>1.5</td></tr>\
             <tr><td class=\"text\">with,comma &quot;q&quot;</td><td class=\"bad\">2</td></tr></tbody>"
        ));
        assert!(
            page.contains("<ul class=\"warnings\"><li><b>onnx cpu:</b> unstable &lt;run&gt;</li><li>slow</li></ul>")
        );
        assert!(page.contains("<ul class=\"note\"><li>one</li><li>two</li></ul>"));
        assert!(page.contains(
            "<div class=\"warn\" id=\"mixed\"><strong>Mixed:</strong> beware<ul><li>model &lt;a&gt; differs</li></ul></div>\n"
        ));
        assert!(page.contains(
            "<dl class=\"env\"><dt>CPU</dt><dd>Xeon &lt;x&gt;</dd><dt>Command</dt><dd><code>infer `bench`</code></dd></dl>\n"
        ));
        assert!(page.contains(
            "<h3><span class=\"swatch\" style=\"background:#4e79a7\"></span>box-1 <small>(a.json)</small></h3>"
        ));
        assert!(page.contains("<svg class=\"chart\"></svg></section>\n</body></html>\n"), "the chart as it is");
        assert!(!page.contains("<i>") && !page.contains("<b>b") && !page.contains("<script"));
        assert!(!page.contains("<link") && !page.contains("src=") && !page.contains("url("), "self-contained");
    }
}
