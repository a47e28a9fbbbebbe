//! The document model every format renders: a [`Document`] (title, subtitle lines, sections),
//! each [`Section`] a heading and [`Block`]s (tables, paragraphs, notes, lists, warnings, a
//! call-out, key/value lists, sub-headings, charts). Result kinds build documents
//! ([`crate::report::Report::document`]); [`crate::render`] turns one into terminal text,
//! Markdown, CSV or HTML. Documents hold plain text: escaping is the renderers' job.

use std::{collections::BTreeMap, fmt};

use infer_measure::environment::Environment;

use crate::table::Table;

/// A report as every format sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The title (HTML `<title>` and `<h1>`, Markdown `#`; the terminal leaves it out: the command
    /// line says what runs).
    pub title: String,
    /// Lines under the title (HTML `<p class="sub">`, Markdown paragraphs; not on the terminal).
    pub subtitle: Vec<String>,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

impl Document {
    /// An empty document titled `title`.
    #[must_use]
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), ..Self::default() }
    }

    /// This document with one more subtitle line.
    #[must_use]
    pub fn subtitle(mut self, line: impl Into<String>) -> Self {
        self.subtitle.push(line.into());
        self
    }

    /// This document with one more section.
    #[must_use]
    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }

    /// Every block of every section, in order.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.sections.iter().flat_map(|s| &s.blocks)
    }

    /// The main table (the one CSV holds): the first table marked [`TableBlock::main`], else the
    /// first table.
    #[must_use]
    pub fn main_table(&self) -> Option<&Table> {
        let tables = || {
            self.blocks().filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
        };
        tables().find(|t| t.main).or_else(|| tables().next()).map(|t| &t.table)
    }
}

/// A part of a document: an optional heading and its blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// The HTML anchor (`<section id=…>`), when the page links or tests find it.
    pub id: Option<String>,
    /// The heading (HTML `<h2>`, Markdown `##`, terminal `heading:` after a blank line).
    pub heading: Option<String>,
    /// The content.
    pub blocks: Vec<Block>,
}

impl Section {
    /// A section without a heading.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A section headed `heading`.
    #[must_use]
    pub fn titled(heading: impl Into<String>) -> Self {
        Self { heading: Some(heading.into()), ..Self::default() }
    }

    /// This section with the HTML anchor `id`.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// This section with one more block.
    #[must_use]
    pub fn block(mut self, block: impl Into<Block>) -> Self {
        self.blocks.push(block.into());
        self
    }

    /// Adds a block.
    pub fn push(&mut self, block: impl Into<Block>) {
        self.blocks.push(block.into());
    }
}

/// Text that is plain or code (a command line, an option list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// Plain text.
    Plain(String),
    /// Code (HTML `<code>`, Markdown backticks).
    Code(String),
}

impl Inline {
    /// The text itself.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Inline::Plain(t) | Inline::Code(t) => t,
        }
    }
}

impl From<String> for Inline {
    fn from(text: String) -> Self {
        Inline::Plain(text)
    }
}

impl From<&str> for Inline {
    fn from(text: &str) -> Self {
        Inline::Plain(text.into())
    }
}

/// One piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A table.
    Table(TableBlock),
    /// A paragraph (terminal: one line).
    Paragraph(Inline),
    /// An explanation of what the numbers mean (HTML `<p class="note">`).
    Note(String),
    /// A list (terminal: one line per item).
    List(List),
    /// Warnings about the numbers (HTML `<ul class="warnings">`, terminal `warning: …`).
    Warnings(Vec<Warning>),
    /// A boxed warning at the top of a page (HTML `<div class="warn">`).
    Callout(Callout),
    /// Labelled values, such as the environment (HTML `<dl class="env">`).
    KeyValues(Vec<(String, Inline)>),
    /// A sub-heading (HTML `<h3>`, Markdown `###`).
    Heading(Heading),
    /// An inline SVG chart from [`crate::svg`], shown in HTML only.
    Chart(String),
}

impl From<TableBlock> for Block {
    fn from(t: TableBlock) -> Self {
        Block::Table(t)
    }
}

impl From<Table> for Block {
    fn from(t: Table) -> Self {
        Block::Table(TableBlock::new(t))
    }
}

impl From<List> for Block {
    fn from(l: List) -> Self {
        Block::List(l)
    }
}

impl From<Callout> for Block {
    fn from(c: Callout) -> Self {
        Block::Callout(c)
    }
}

impl From<Heading> for Block {
    fn from(h: Heading) -> Self {
        Block::Heading(h)
    }
}

/// A paragraph of plain text.
#[must_use]
pub fn paragraph(text: impl Into<String>) -> Block {
    Block::Paragraph(Inline::Plain(text.into()))
}

/// A note.
#[must_use]
pub fn note(text: impl Into<String>) -> Block {
    Block::Note(text.into())
}

/// The environment fingerprint as key/value lines, the command line as code.
#[must_use]
pub fn environment(env: &Environment) -> Block {
    Block::KeyValues(
        env.lines()
            .into_iter()
            .map(|(k, v)| (k.to_string(), if k == "Command" { Inline::Code(v) } else { Inline::Plain(v) }))
            .collect(),
    )
}

/// A table with how HTML shows it: which columns hold text (left-aligned; the rest are numbers),
/// a class on some cells (`bad`, `warn`, `faster`, `slower`) and rows (`missing`), and whether it
/// is the document's main table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableBlock {
    /// The cells.
    pub table: Table,
    /// The columns of text, by index.
    pub text_columns: Vec<usize>,
    /// A class per cell, by (row, column).
    pub cell_classes: BTreeMap<(usize, usize), &'static str>,
    /// A class per row.
    pub row_classes: BTreeMap<usize, &'static str>,
    /// The main table of its document (what CSV holds).
    pub main: bool,
}

impl TableBlock {
    /// `table` with every column a number, no classes.
    #[must_use]
    pub fn new(table: Table) -> Self {
        Self { table, ..Self::default() }
    }

    /// With `columns` holding text.
    #[must_use]
    pub fn text(mut self, columns: impl IntoIterator<Item = usize>) -> Self {
        self.text_columns.extend(columns);
        self
    }

    /// Marked as its document's main table.
    #[must_use]
    pub fn main(mut self) -> Self {
        self.main = true;
        self
    }

    /// Whether column `c` holds text.
    #[must_use]
    pub fn is_text(&self, c: usize) -> bool {
        self.text_columns.contains(&c)
    }

    /// Gives the cell (`row`, `column`) the class `class` (nothing for an empty class).
    pub fn mark(&mut self, row: usize, column: usize, class: &'static str) {
        if !class.is_empty() {
            self.cell_classes.insert((row, column), class);
        }
    }

    /// Gives row `row` the class `class`.
    pub fn mark_row(&mut self, row: usize, class: &'static str) {
        self.row_classes.insert(row, class);
    }
}

/// A list of items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    /// The items.
    pub items: Vec<Inline>,
    /// The HTML class of the list (`note`), if any.
    pub class: Option<&'static str>,
}

impl List {
    /// A list of plain items.
    #[must_use]
    pub fn plain(items: impl IntoIterator<Item = String>) -> Self {
        Self { items: items.into_iter().map(Inline::Plain).collect(), class: None }
    }

    /// This list with the HTML class `class`.
    #[must_use]
    pub fn class(mut self, class: &'static str) -> Self {
        self.class = Some(class);
        self
    }
}

/// One warning, optionally named by what it is about (`onnx cpu, batch 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What it is about, shown in bold before the text.
    pub about: Option<String>,
    /// The warning.
    pub text: String,
}

impl Warning {
    /// A warning about nothing in particular.
    #[must_use]
    pub fn plain(text: impl Into<String>) -> Self {
        Self { about: None, text: text.into() }
    }

    /// A warning about `about`.
    #[must_use]
    pub fn about(about: impl Into<String>, text: impl Into<String>) -> Self {
        Self { about: Some(about.into()), text: text.into() }
    }
}

impl fmt::Display for Warning {
    /// `about: text`, or the text alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.about {
            Some(about) => write!(f, "{about}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// A boxed warning: a bold title, an optional sentence and a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// The HTML anchor.
    pub id: &'static str,
    /// The bold title.
    pub title: String,
    /// A sentence after the title, if any.
    pub text: Option<String>,
    /// The items.
    pub items: Vec<String>,
}

/// A sub-heading, with an optional detail in small type and a colour swatch (the colour of a
/// series in the charts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// The heading.
    pub text: String,
    /// In small type after it, in parentheses.
    pub detail: Option<String>,
    /// A CSS colour shown as a swatch before it.
    pub swatch: Option<String>,
}

impl Heading {
    /// A plain sub-heading.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), detail: None, swatch: None }
    }
}
