//! tract's errors as one line. An error from tract is a chain of contexts (anyhow), often ten
//! deep, some carrying whole `Debug` dumps of facts over several lines: the line worth showing
//! names the node that failed (`Failed analyse for node #12 "Conv_3" Conv`) and ends with what
//! went wrong at the bottom of the chain.

/// The longest piece of one context kept, in characters.
const MAX_PART: usize = 240;

/// One line from an error chain (outermost first): the outermost context that names a node,
/// then the root cause; the outermost context and the root cause when none names a node.
/// Each part is cut to its first line and [`MAX_PART`] characters.
#[must_use]
pub fn summarize<I, S>(chain: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let parts: Vec<String> = chain.into_iter().map(|s| clip(s.as_ref())).filter(|s| !s.is_empty()).collect();
    let Some(root) = parts.last() else { return "unknown error".into() };
    let head = parts.iter().find(|p| names_a_node(p)).unwrap_or(&parts[0]);
    if head == root { head.clone() } else { format!("{head}: {root}") }
}

fn names_a_node(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    lower.contains("node #") || lower.contains("node \"") || lower.contains("building node")
}

/// The first non-empty line, cut to [`MAX_PART`] characters.
fn clip(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if line.chars().count() <= MAX_PART {
        return line.to_string();
    }
    let cut: String = line.chars().take(MAX_PART).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_node_and_the_root_cause_on_one_line() {
        let chain = [
            "Translating to typed model",
            "Failed analyse for node #3 \"Conv_0\" Conv",
            "Infering facts",
            "Unifying shapes [1,3,8,8] and\n[1,4,8,8]",
        ];
        assert_eq!(summarize(chain), "Failed analyse for node #3 \"Conv_0\" Conv: Unifying shapes [1,3,8,8] and");
        assert_eq!(summarize(["outer", "", "inner\nmore"]), "outer: inner");
        assert_eq!(summarize(["alone"]), "alone");
        assert_eq!(summarize(Vec::<String>::new()), "unknown error");
        let long = "x".repeat(1000);
        let s = summarize([long.as_str()]);
        assert!(s.chars().count() == MAX_PART + 1 && !s.contains('\n'), "{s}");
    }
}
