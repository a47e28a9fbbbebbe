//! A text table: a header and rows of cells, the one shape of every report's tables. It draws
//! itself aligned for the terminal and as CSV; [`crate::render`] draws it in Markdown and HTML.

use infer_core::Result;

/// A simple text table: a header and rows of cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    #[must_use]
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(ToString::to_string).collect(), rows: Vec::new() }
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        w
    }

    /// Aligned plain text for the terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            cells.iter().zip(&w).map(|(c, &n)| format!("{c:<n$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&w.iter().map(|&n| "-".repeat(n)).collect::<Vec<_>>().join("  "));
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out.push('\n');
        out
    }

    /// CSV with a header line.
    ///
    /// # Errors
    /// Never in practice (writing to memory).
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let err = |e: csv::Error| infer_core::Error::InvalidInput(e.to_string());
        w.write_record(&self.header).map_err(err)?;
        for row in &self.rows {
            w.write_record(row).map_err(err)?;
        }
        let bytes = w.into_inner().map_err(|e| infer_core::Error::InvalidInput(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tables_render_in_every_format() {
        let mut t = Table::new(&["a", "long header"]);
        t.rows.push(vec!["x|y".into(), "1".into()]);
        t.rows.push(vec!["with,comma".into(), "22".into()]);
        let text = t.to_text();
        assert!(text.starts_with("a           long header\n"), "{text}");
        let csv = t.to_csv().unwrap();
        assert_eq!(csv, "a,long header\nx|y,1\n\"with,comma\",22\n");
    }
}
