//! The TorchScript arguments that are not tensors, and the values `--arg NAME=VALUE` gives them
//! (always compiled, no libtorch): a type from the schema's annotation ([`ArgType::parse`]), the
//! text checked against it ([`ArgType::value`]), and the value handed to the C++ shim
//! ([`Value::encode`]), which builds the `IValue` passed on every call.

use std::fmt;

/// A TorchScript type that infer can give a value of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgType {
    Int,
    Float,
    Bool,
    Str,
    List(Box<ArgType>),
    Tuple(Vec<ArgType>),
    Optional(Box<ArgType>),
}

/// A value of an [`ArgType`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
    List(Vec<Value>),
    Tuple(Vec<Value>),
}

/// What `--arg` can give, for messages.
pub(crate) const GIVEN: &str = "ints, floats, bools, strings, and lists, tuples and optionals of them";

/// The top-level items of a bracketed list's inside, split at commas outside brackets and quotes.
fn split_items(inner: &str) -> Option<Vec<&str>> {
    let (mut depth, mut quote, mut escaped, mut start) = (0i32, None::<char>, false, 0);
    let mut items = Vec::new();
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    if depth != 0 || quote.is_some() {
        return None;
    }
    let last = inner[start..].trim();
    // `[]` is empty; `[1, 2,]` has a trailing comma.
    if !(last.is_empty() && (items.is_empty() || inner.trim_end().ends_with(','))) {
        items.push(last);
    }
    Some(items)
}

/// `text` without its quotes and escapes when it is quoted (`"a b"`, `'a'`); `None` otherwise.
fn unquote(text: &str) -> Option<String> {
    let q = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = text.strip_prefix(q)?.strip_suffix(q)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c if c == q => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

impl ArgType {
    /// The type TorchScript's annotation names (`int`, `List[float]`, `Tuple[int, str]`,
    /// `Optional[bool]`); `None` for a type infer gives no value of (`Tensor`, `Dict[…]`, a class).
    pub(crate) fn parse(annotation: &str) -> Option<ArgType> {
        let a = annotation.trim();
        let generic = |name: &str| a.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']');
        Some(match a {
            "int" => ArgType::Int,
            "float" => ArgType::Float,
            "bool" => ArgType::Bool,
            "str" => ArgType::Str,
            _ => {
                if let Some(inner) = generic("List") {
                    ArgType::List(Box::new(ArgType::parse(inner)?))
                } else if let Some(inner) = generic("Optional") {
                    ArgType::Optional(Box::new(ArgType::parse(inner)?))
                } else if let Some(inner) = generic("Tuple") {
                    let items = split_items(inner)?;
                    ArgType::Tuple(items.into_iter().map(ArgType::parse).collect::<Option<_>>()?)
                } else {
                    return None;
                }
            }
        })
    }

    /// The value of `text` as this type: `16000`, `0.5`, `true`, `"text"` (or text without
    /// quotes for a `str`), `[1, 2]`, `(1, 0.5)`, `None` for an `Optional`.
    ///
    /// # Errors
    /// What is wrong, naming the part that is (``[1, x]`: `x` is not an int``).
    pub(crate) fn value(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        let not = |what: &str| Err(format!("`{text}` is not {what}"));
        match self {
            ArgType::Int => text.parse().map(Value::Int).or_else(|_| not("an int")),
            ArgType::Float => text
                .parse::<f64>()
                .ok()
                .filter(|_| !text.is_empty())
                .map(Value::Float)
                .map_or_else(|| not("a float"), Ok),
            ArgType::Bool => match text {
                "true" | "True" | "1" => Ok(Value::Bool(true)),
                "false" | "False" | "0" => Ok(Value::Bool(false)),
                _ => not("a bool (true or false)"),
            },
            ArgType::Str => Ok(Value::Str(unquote(text).unwrap_or_else(|| text.to_string()))),
            ArgType::Optional(inner) => match text {
                "None" | "none" | "null" => Ok(Value::None),
                _ => inner.value(text),
            },
            ArgType::List(inner) => {
                let Some(items) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(split_items) else {
                    return not("a list in brackets ([1, 2])");
                };
                items.into_iter().map(|item| inner.value(item)).collect::<Result<_, _>>().map(Value::List)
            }
            ArgType::Tuple(types) => {
                let inside = text.strip_prefix('(').and_then(|t| t.strip_suffix(')'));
                let inside = inside.or_else(|| text.strip_prefix('[').and_then(|t| t.strip_suffix(']')));
                let Some(items) = inside.and_then(split_items) else {
                    return not("a tuple in parentheses ((1, 2))");
                };
                if items.len() != types.len() {
                    return Err(format!("`{text}` has {} items, the tuple {}", items.len(), types.len()));
                }
                types.iter().zip(items).map(|(t, item)| t.value(item)).collect::<Result<_, _>>().map(Value::Tuple)
            }
        }
    }
}

impl Value {
    /// The value as the C++ shim reads it, guided by the argument's type: `n` (None), `i<int> `,
    /// `f<float> `, `b0`/`b1`, `s<bytes>:<utf-8>`, `l<count>:` or `t<count>:` then the items.
    pub(crate) fn encode(&self, out: &mut String) {
        match self {
            Value::None => out.push('n'),
            Value::Int(v) => out.push_str(&format!("i{v} ")),
            // `{:?}` round-trips every f64 (and writes `inf`, `NaN`, which strtod reads).
            Value::Float(v) => out.push_str(&format!("f{v:?} ")),
            Value::Bool(v) => out.push_str(if *v { "b1" } else { "b0" }),
            Value::Str(s) => out.push_str(&format!("s{}:{s}", s.len())),
            Value::List(items) | Value::Tuple(items) => {
                out.push_str(&format!("{}{}:", if matches!(self, Value::List(_)) { 'l' } else { 't' }, items.len()));
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

impl fmt::Display for Value {
    /// Python's notation, as TorchScript prints a default: `16000`, `0.5`, `True`, `'text'`,
    /// `[1, 2]`, `(1, 0.5)`, `None`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[Value]| items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Bool(v) => f.write_str(if *v { "True" } else { "False" }),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::None => f.write_str("None"),
            Value::List(items) => write!(f, "[{}]", join(items)),
            Value::Tuple(items) if items.len() == 1 => write!(f, "({},)", join(items)),
            Value::Tuple(items) => write!(f, "({})", join(items)),
        }
    }
}

/// `a`/`an` before a type name, for messages: "an int", "a float", "an Optional[str]".
pub(crate) fn article(ty: &str) -> &'static str {
    if ty.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) { "an" } else { "a" }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn value(ty: &str, text: &str) -> Result<Value, String> {
        ArgType::parse(ty).unwrap().value(text)
    }

    #[test]
    fn annotations_parse_and_others_are_refused() {
        assert_eq!(ArgType::parse("int"), Some(ArgType::Int));
        assert_eq!(
            ArgType::parse("List[Optional[float]]"),
            Some(ArgType::List(Box::new(ArgType::Optional(Box::new(ArgType::Float)))))
        );
        assert_eq!(ArgType::parse("Tuple[int, str]"), Some(ArgType::Tuple(vec![ArgType::Int, ArgType::Str])));
        for other in ["Tensor", "Dict[str, int]", "List[Tensor]", "__torch__.Config", "Device", "Tuple[int, Tensor]"] {
            assert_eq!(ArgType::parse(other), None, "{other}");
        }
    }

    #[test]
    fn values_are_checked_against_their_type() {
        assert_eq!(value("int", "16000").unwrap(), Value::Int(16000));
        assert_eq!(value("float", "0.5").unwrap(), Value::Float(0.5));
        assert_eq!(value("float", "2").unwrap(), Value::Float(2.0));
        assert_eq!(value("bool", "True").unwrap(), Value::Bool(true));
        assert_eq!(value("str", "\"a, b\"").unwrap(), Value::Str("a, b".into()));
        assert_eq!(value("str", "plain text").unwrap(), Value::Str("plain text".into()));
        assert_eq!(value("List[int]", "[1, 2]").unwrap(), Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(value("List[int]", "[]").unwrap(), Value::List(vec![]));
        assert_eq!(
            value("List[str]", r#"["a", 'b,c', "d\"e"]"#).unwrap(),
            Value::List(vec![Value::Str("a".into()), Value::Str("b,c".into()), Value::Str("d\"e".into())])
        );
        assert_eq!(
            value("Tuple[int, float]", "(1, 2.5)").unwrap(),
            Value::Tuple(vec![Value::Int(1), Value::Float(2.5)])
        );
        assert_eq!(value("Optional[int]", "None").unwrap(), Value::None);
        assert_eq!(value("List[List[int]]", "[[1], [2, 3]]").unwrap().to_string(), "[[1], [2, 3]]");
        assert_eq!(value("int", "abc").unwrap_err(), "`abc` is not an int");
        assert_eq!(value("List[int]", "[1, x]").unwrap_err(), "`x` is not an int");
        assert_eq!(value("List[int]", "1, 2").unwrap_err(), "`1, 2` is not a list in brackets ([1, 2])");
        assert_eq!(value("Tuple[int, int]", "(1, 2, 3)").unwrap_err(), "`(1, 2, 3)` has 3 items, the tuple 2");
        assert!(value("bool", "yes").is_err() && value("float", "").is_err() && value("List[int]", "[1, [2]").is_err());
    }

    #[test]
    fn values_encode_for_the_shim_and_print_as_python_does() {
        let v = value("Tuple[List[float], str, Optional[bool], bool]", "([1, -0.5], \"héllo\", None, false)").unwrap();
        let mut out = String::new();
        v.encode(&mut out);
        assert_eq!(out, "t4:l2:f1.0 f-0.5 s6:héllonb0");
        assert_eq!(v.to_string(), "([1.0, -0.5], \"héllo\", None, False)");
        assert_eq!(Value::Tuple(vec![Value::Int(1)]).to_string(), "(1,)");
        assert_eq!((article("int"), article("float"), article("Optional[str]")), ("an", "a", "an"));
    }
}
