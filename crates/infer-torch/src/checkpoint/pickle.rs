//! A minimal, non-executing pickle interpreter for the `data.pkl` of a `torch.save` archive.
//!
//! It understands the opcodes protocol 2–5 pickles use for containers and scalars, and only the
//! globals on [`ALLOWED_GLOBALS`]: `collections.OrderedDict`, the tensor and parameter rebuild
//! functions of `torch._utils`, and the typed storage classes. Any other global (`os.system`,
//! `builtins.eval`, a model class, a numpy scalar, ...) and every opcode that instantiates
//! arbitrary classes (`INST`, `OBJ`, `NEWOBJ`, `EXT*`) is refused with an error naming it. Nothing
//! is ever imported or called: "calling" an allowed global builds a plain value here.
//!
//! Tensors are not read while interpreting: a [`TensorRef`] records storage key, dtype, offset,
//! size and stride, and only the tensors of the chosen state dict are materialized afterwards.

use std::{collections::HashMap, rc::Rc};

use infer_core::DType;

/// The globals a checkpoint may name (module, name).
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
];

/// An allowed global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` and `_rebuild_parameter_with_state`.
    RebuildParameter,
    /// A typed storage class such as `torch.FloatStorage`.
    Storage(DType),
}

fn global(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => Global::RebuildParameter,
        ("torch", "FloatStorage") => Global::Storage(DType::F32),
        ("torch", "DoubleStorage") => Global::Storage(DType::F64),
        ("torch", "HalfStorage") => Global::Storage(DType::F16),
        ("torch", "BFloat16Storage") => Global::Storage(DType::BF16),
        ("torch", "LongStorage") => Global::Storage(DType::I64),
        ("torch", "IntStorage") => Global::Storage(DType::I32),
        ("torch", "CharStorage") => Global::Storage(DType::I8),
        ("torch", "ByteStorage") => Global::Storage(DType::U8),
        ("torch", "BoolStorage") => Global::Storage(DType::Bool),
        _ => return None,
    })
}

/// A storage named by a persistent id: `archive/data/<key>`, `numel` elements of `dtype`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Element type.
    pub dtype: DType,
    /// Entry name under `data/`.
    pub key: Rc<str>,
    /// Number of elements.
    pub numel: u64,
}

/// A tensor view of a storage, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// The storage.
    pub storage: StorageRef,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// Shape.
    pub size: Vec<u64>,
    /// Strides, in elements.
    pub stride: Vec<u64>,
}

/// A value on the pickle machine's stack. Containers are cheap to clone (shared or arena ids), so
/// a pickle cannot blow memory up by fetching one large value many times.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text or byte string.
    Str(Rc<str>),
    /// A byte string.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<[Value]>),
    /// A list: index into [`Machine::lists`].
    List(usize),
    /// A dict (plain or ordered): index into [`Machine::dicts`].
    Dict(usize),
    /// An allowed global (only useful as the callable of `REDUCE`).
    Global(Global),
    /// A storage from a persistent id.
    Storage(StorageRef),
    /// A tensor.
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// A short description for error messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// The unpickled object graph: the top-level value and the containers it refers to.
#[derive(Debug, Default)]
pub struct Machine {
    /// Lists by id.
    pub lists: Vec<Vec<Value>>,
    /// Dicts by id, items in insertion order (duplicates possible; the last one wins).
    pub dicts: Vec<Vec<(Value, Value)>>,
}

enum Item {
    Mark,
    Value(Value),
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("truncated pickle: {n} byte(s) needed at offset {}, {} left", self.pos, self.bytes.len() - self.pos)
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_u32(&mut self) -> Result<usize, String> {
        usize::try_from(u32::from_le_bytes(self.le()?)).map_err(|e| e.to_string())
    }

    fn len_u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| "length does not fit in memory".to_string())
    }

    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.bytes[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or("truncated pickle: unterminated GLOBAL line")?;
        let line = self.take(n + 1)?;
        std::str::from_utf8(&line[..n]).map_err(|_| "GLOBAL name is not UTF-8".to_string())
    }
}

fn utf8(bytes: &[u8]) -> Result<Value, String> {
    std::str::from_utf8(bytes).map(|s| Value::Str(s.into())).map_err(|_| "string is not valid UTF-8".to_string())
}

/// The error for a global that is not allowlisted.
fn forbidden(module: &str, name: &str) -> String {
    format!(
        "refusing forbidden global `{module}.{name}`: a checkpoint may only hold tensors, storages and dicts \
         (allowed globals: {}); nothing from the file was executed",
        ALLOWED_GLOBALS.join(", ")
    )
}

impl Machine {
    /// Interprets `pickle`, returning the top-level value. Never imports or calls anything.
    ///
    /// # Errors
    /// A message naming the offending opcode or global, or the truncation.
    pub fn run(&mut self, pickle: &[u8]) -> Result<Value, String> {
        let mut r = Reader { bytes: pickle, pos: 0 };
        let mut stack: Vec<Item> = Vec::new();
        let mut memo: HashMap<u64, Value> = HashMap::new();
        loop {
            let at = r.pos;
            let op = r.u8().map_err(|_| "truncated pickle: no STOP opcode".to_string())?;
            let value = match op {
                0x80 => {
                    // PROTO
                    let v = r.u8()?;
                    if v > 5 {
                        return Err(format!("unsupported pickle protocol {v}"));
                    }
                    continue;
                }
                0x95 => {
                    // FRAME: a length hint only.
                    r.take(8)?;
                    continue;
                }
                b'.' => {
                    // STOP
                    return match stack.pop() {
                        Some(Item::Value(v)) => Ok(v),
                        _ => Err("malformed pickle: STOP with an empty stack".into()),
                    };
                }
                b'(' => {
                    stack.push(Item::Mark);
                    continue;
                }
                b'0' => {
                    pop(&mut stack)?;
                    continue;
                }
                b'1' => {
                    pop_mark(&mut stack)?;
                    continue;
                }
                b'2' => {
                    let v = pop(&mut stack)?;
                    stack.push(Item::Value(v.clone()));
                    v
                }
                b'N' => Value::None,
                0x88 => Value::Bool(true),
                0x89 => Value::Bool(false),
                b'J' => Value::Int(i64::from(i32::from_le_bytes(r.le()?))),
                b'K' => Value::Int(i64::from(r.u8()?)),
                b'M' => Value::Int(i64::from(u16::from_le_bytes(r.le()?))),
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(r.u8()?);
                    let b = r.take(n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes does not fit in 64 bits"));
                    }
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                    buf[..n].copy_from_slice(b);
                    Value::Int(i64::from_le_bytes(buf))
                }
                b'G' => Value::Float(f64::from_be_bytes(r.le()?)),
                b'X' => {
                    let n = r.len_u32()?;
                    utf8(r.take(n)?)?
                }
                0x8c => {
                    let n = usize::from(r.u8()?);
                    utf8(r.take(n)?)?
                }
                0x8d => {
                    let n = r.len_u64()?;
                    utf8(r.take(n)?)?
                }
                b'U' => {
                    let n = usize::from(r.u8()?);
                    Value::Str(r.take(n)?.iter().map(|&b| char::from(b)).collect::<String>().into())
                }
                b'T' => {
                    let n = r.len_u32()?;
                    Value::Str(r.take(n)?.iter().map(|&b| char::from(b)).collect::<String>().into())
                }
                b'C' => {
                    let n = usize::from(r.u8()?);
                    Value::Bytes(r.take(n)?.into())
                }
                b'B' => {
                    let n = r.len_u32()?;
                    Value::Bytes(r.take(n)?.into())
                }
                0x8e => {
                    let n = r.len_u64()?;
                    Value::Bytes(r.take(n)?.into())
                }
                b')' => Value::Tuple(Rc::from(Vec::new())),
                b't' => Value::Tuple(pop_mark(&mut stack)?.into()),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(pop(&mut stack)?);
                    }
                    items.reverse();
                    Value::Tuple(items.into())
                }
                b']' => {
                    self.lists.push(Vec::new());
                    Value::List(self.lists.len() - 1)
                }
                b'l' => {
                    let items = pop_mark(&mut stack)?;
                    self.lists.push(items);
                    Value::List(self.lists.len() - 1)
                }
                b'a' => {
                    let v = pop(&mut stack)?;
                    let id = self.list_on_top(&stack)?;
                    self.lists[id].push(v);
                    continue;
                }
                b'e' => {
                    let items = pop_mark(&mut stack)?;
                    let id = self.list_on_top(&stack)?;
                    self.lists[id].extend(items);
                    continue;
                }
                b'}' => {
                    self.dicts.push(Vec::new());
                    Value::Dict(self.dicts.len() - 1)
                }
                b'd' => {
                    let items = pop_mark(&mut stack)?;
                    let pairs = pairs(items)?;
                    self.dicts.push(pairs);
                    Value::Dict(self.dicts.len() - 1)
                }
                b's' => {
                    let v = pop(&mut stack)?;
                    let k = pop(&mut stack)?;
                    let id = self.dict_on_top(&stack)?;
                    self.dicts[id].push((k, v));
                    continue;
                }
                b'u' => {
                    let items = pop_mark(&mut stack)?;
                    let pairs = pairs(items)?;
                    let id = self.dict_on_top(&stack)?;
                    self.dicts[id].extend(pairs);
                    continue;
                }
                b'q' => {
                    memo.insert(u64::from(r.u8()?), top(&stack)?.clone());
                    continue;
                }
                b'r' => {
                    memo.insert(u64::from(u32::from_le_bytes(r.le()?)), top(&stack)?.clone());
                    continue;
                }
                0x94 => {
                    let id = memo.len() as u64;
                    memo.insert(id, top(&stack)?.clone());
                    continue;
                }
                b'h' => {
                    let id = u64::from(r.u8()?);
                    memo.get(&id).cloned().ok_or_else(|| format!("malformed pickle: memo entry {id} is not set"))?
                }
                b'j' => {
                    let id = u64::from(u32::from_le_bytes(r.le()?));
                    memo.get(&id).cloned().ok_or_else(|| format!("malformed pickle: memo entry {id} is not set"))?
                }
                b'c' => {
                    let module = r.line()?;
                    let name = r.line()?;
                    Value::Global(global(module, name).ok_or_else(|| forbidden(module, name))?)
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = pop(&mut stack)?;
                    let module = pop(&mut stack)?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return Err("malformed pickle: STACK_GLOBAL needs two strings".into());
                    };
                    Value::Global(global(module, name).ok_or_else(|| forbidden(module, name))?)
                }
                b'R' => {
                    let args = pop(&mut stack)?;
                    let callable = pop(&mut stack)?;
                    self.reduce(&callable, &args)?
                }
                b'b' => {
                    // BUILD: sets attributes (OrderedDict._metadata, Parameter state); ignored.
                    let _state = pop(&mut stack)?;
                    match top(&stack)? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => return Err(format!("refusing BUILD on a {}: only dicts and tensors", other.kind())),
                    }
                    continue;
                }
                b'Q' => {
                    let pid = pop(&mut stack)?;
                    Value::Storage(persistent_storage(&pid)?)
                }
                b'i' | b'o' | 0x81 | 0x92 => {
                    return Err(format!(
                        "refusing opcode {:?} at offset {at}: it instantiates arbitrary classes; nothing from the file \
                         was executed",
                        char::from(op)
                    ));
                }
                0x82..=0x84 => return Err(format!("refusing extension-registry opcode 0x{op:02x} at offset {at}")),
                b'P' => return Err(format!("refusing text persistent id (PERSID) at offset {at}")),
                _ => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{op:02x} at offset {at} (not used by torch.save for state dicts)"
                    ));
                }
            };
            stack.push(Item::Value(value));
        }
    }

    fn list_on_top(&self, stack: &[Item]) -> Result<usize, String> {
        match top(stack)? {
            Value::List(id) => Ok(*id),
            other => Err(format!("malformed pickle: APPEND to a {}", other.kind())),
        }
    }

    fn dict_on_top(&self, stack: &[Item]) -> Result<usize, String> {
        match top(stack)? {
            Value::Dict(id) => Ok(*id),
            other => Err(format!("malformed pickle: SETITEM on a {}", other.kind())),
        }
    }

    /// "Calls" an allowed global: builds the value it would return, without running anything.
    fn reduce(&mut self, callable: &Value, args: &Value) -> Result<Value, String> {
        let Value::Tuple(args) = args else {
            return Err(format!("malformed pickle: REDUCE arguments are a {}, expected a tuple", args.kind()));
        };
        let Value::Global(g) = callable else {
            return Err(format!("refusing REDUCE on a {}: only allowlisted globals can be called", callable.kind()));
        };
        match g {
            Global::OrderedDict => {
                if !args.is_empty() {
                    return Err("OrderedDict(...) with arguments is not supported".into());
                }
                self.dicts.push(Vec::new());
                Ok(Value::Dict(self.dicts.len() - 1))
            }
            Global::RebuildParameter => match args.first() {
                Some(Value::Tensor(t)) => Ok(Value::Tensor(t.clone())),
                other => {
                    Err(format!("_rebuild_parameter expects a tensor, got {}", other.map_or("nothing", Value::kind)))
                }
            },
            Global::RebuildTensor => {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                let (Some(Value::Storage(storage)), Some(offset), Some(size), Some(stride)) =
                    (args.first(), args.get(1), args.get(2), args.get(3))
                else {
                    return Err("_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)".into());
                };
                let offset = non_negative(offset, "storage offset")?;
                let size = int_tuple(size, "size")?;
                let stride = int_tuple(stride, "stride")?;
                if size.len() != stride.len() {
                    return Err(format!("tensor size {size:?} and stride {stride:?} differ in rank"));
                }
                Ok(Value::Tensor(Rc::new(TensorRef { storage: storage.clone(), offset, size, stride })))
            }
            Global::Storage(_) => Err("refusing to call a storage class".into()),
        }
    }
}

fn top(stack: &[Item]) -> Result<&Value, String> {
    match stack.last() {
        Some(Item::Value(v)) => Ok(v),
        _ => Err("malformed pickle: empty stack or mark on top".into()),
    }
}

fn pop(stack: &mut Vec<Item>) -> Result<Value, String> {
    match stack.pop() {
        Some(Item::Value(v)) => Ok(v),
        _ => Err("malformed pickle: empty stack or mark on top".into()),
    }
}

fn pop_mark(stack: &mut Vec<Item>) -> Result<Vec<Value>, String> {
    let mark = stack
        .iter()
        .rposition(|i| matches!(i, Item::Mark))
        .ok_or_else(|| "malformed pickle: no MARK on the stack".to_string())?;
    let items = stack
        .drain(mark..)
        .skip(1)
        .map(|i| match i {
            Item::Value(v) => v,
            Item::Mark => Value::None, // unreachable: the mark found is the last one
        })
        .collect();
    Ok(items)
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("malformed pickle: odd number of dict items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn non_negative(v: &Value, what: &str) -> Result<u64, String> {
    match v {
        Value::Int(i) => u64::try_from(*i).map_err(|_| format!("negative {what} {i}")),
        other => Err(format!("{what} is a {}, expected an int", other.kind())),
    }
}

fn int_tuple(v: &Value, what: &str) -> Result<Vec<u64>, String> {
    match v {
        Value::Tuple(items) => items.iter().map(|i| non_negative(i, what)).collect(),
        other => Err(format!("tensor {what} is a {}, expected a tuple of ints", other.kind())),
    }
}

/// Resolves `('storage', <StorageClass>, key, location, numel)`.
fn persistent_storage(pid: &Value) -> Result<StorageRef, String> {
    let Value::Tuple(items) = pid else {
        return Err(format!("persistent id is a {}, expected a tuple", pid.kind()));
    };
    match &items[..] {
        [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Str(_location), numel]
            if &**tag == "storage" =>
        {
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("storage key `{key}` is not a plain name"));
            }
            Ok(StorageRef { dtype: *dtype, key: key.clone(), numel: non_negative(numel, "storage size")? })
        }
        _ => Err("unsupported persistent id: expected ('storage', torch.<Type>Storage, key, location, numel)".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(bytes: &[u8]) -> Result<(Machine, Value), String> {
        let mut m = Machine::default();
        let v = m.run(bytes)?;
        Ok((m, v))
    }

    #[test]
    fn scalars_and_containers() {
        // {'a': [1, -2, 3.5], 'b': (None, True)} written by pickle protocol 2.
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03N\x88\x86q\x04u.";
        let (m, v) = run(bytes).unwrap();
        let Value::Dict(id) = v else { panic!("{v:?}") };
        let items = &m.dicts[id];
        assert_eq!(items.len(), 2);
        let Value::List(l) = items[0].1 else { panic!() };
        assert!(matches!(m.lists[l][..], [Value::Int(1), Value::Int(-2), Value::Float(f)] if (f - 3.5).abs() < 1e-12));
        assert!(matches!(&items[1].1, Value::Tuple(t) if matches!(t[..], [Value::None, Value::Bool(true)])));
    }

    #[test]
    fn forbidden_globals_and_opcodes_are_refused() {
        let err = run(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.").unwrap_err();
        assert!(err.contains("forbidden global `os.system`"), "{err}");
        let err = run(b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.").unwrap_err();
        assert!(err.contains("`builtins.eval`"), "{err}");
        let err = run(b"(cos\nsystem\nX\x01\x00\x00\x00xo.").unwrap_err();
        assert!(err.contains("forbidden global"), "{err}");
        let err = run(b"(X\x01\x00\x00\x00xios\nsystem\n.").unwrap_err();
        assert!(err.contains("instantiates arbitrary classes"), "{err}");
        // Calling something that is not a global is refused, as is calling a storage class.
        let err = run(b"X\x01\x00\x00\x00x)R.").unwrap_err();
        assert!(err.contains("refusing REDUCE on a str"), "{err}");
        let err = run(b"ctorch\nFloatStorage\n)R.").unwrap_err();
        assert!(err.contains("storage class"), "{err}");
    }

    #[test]
    fn truncated_and_malformed_pickles_are_errors() {
        for bad in
            [&b""[..], b"\x80", b"X\x10\x00\x00\x00ab", b"}", b"s.", b"t.", b"h\x05.", b"\x8a\x09123456789.", b"cos\n"]
        {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }
}
