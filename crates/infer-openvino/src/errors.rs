//! OpenVINO's error messages reduced to what went wrong: its exceptions start with location
//! headers (`Exception from src/inference/src/cpp/core.cpp:84:`, `Check 'false' failed at
//! src/…/frontend.cpp:47:`), then say what it was doing and why, a line each. Those lines are
//! kept, joined; the headers go. The rest is `infer_core::error::first_line`'s.

/// The message of an OpenVINO error, one line.
#[must_use]
pub fn clean(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else { return String::new() };
    let Some(prefix) = location_header(first) else { return message.to_string() };
    let mut said: Vec<&str> = Vec::new();
    if !prefix.is_empty() {
        said.push(prefix);
    }
    said.extend(lines.filter(|l| location_header(l).is_none()).take(3));
    said.join(": ")
}

/// Where `line` only says where native code threw (maybe after the binding's own words): the
/// words before it (often none).
fn location_header(line: &str) -> Option<&str> {
    if !line.ends_with(':') {
        return None;
    }
    if let Some(at) = line.find("Exception from ") {
        return Some(line[..at].trim_end().trim_end_matches(':').trim_end());
    }
    (line.starts_with("Check '") && line.contains(" failed at ")).then_some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_go_and_what_it_did_and_why_stay() {
        let raw = "Exception from src/inference/src/cpp/core.cpp:84:\nCheck 'false' failed at \
                   src/frontends/common/src/frontend.cpp:47:\nLoading input model\nUnsupported value_info \
                   type: probs\n\n";
        let one = |m: &str| infer_core::error::first_line(&clean(m));
        assert_eq!(one(raw), "Loading input model: Unsupported value_info type: probs");
        assert_eq!(
            one(&format!("general error: {raw}")),
            "general error: Loading input model: Unsupported value_info type: probs"
        );
        assert_eq!(one("plain message\nsecond"), "plain message");
    }
}
