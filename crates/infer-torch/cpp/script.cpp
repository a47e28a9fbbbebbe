// infer's bridge to a TorchScript module (torch::jit::Module), for what tch does not expose:
// a method's schema (`forward`, or another such as `encode`: argument names, types and
// defaults, the return type), which embedding tables each argument indexes (read from the
// inlined graph), and the method run on several tensors, with the constants given for its
// arguments that are not tensors, returning every tensor of the result. Compiled by build.rs
// with the `runtime` feature; used by src/shim/script.rs.
//
// Tensors cross as `at::Tensor*`, the representation of tch's `Tensor` (torch-sys's `C_tensor`:
// `typedef torch::Tensor *tensor` in its torch_api.h, torch::Tensor being at::Tensor): inputs are
// borrowed, outputs are allocated with `new` and owned by tch from then on (`Tensor::from_ptr`,
// freed by torch-sys's `at_free`). Every function catches every C++ exception: a failure comes back as a message
// allocated with malloc (free it with infer_torch_string_free), never as an exception crossing
// into Rust.

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/function_schema.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/serialization/import.h>

#include "common.h"

namespace {

using infer_shim::copy_string;
using infer_shim::fail;
using infer_shim::json_string;
using torch::jit::Node;
using torch::jit::Value;

// One argument of the method run, in schema order: the next input tensor, or a constant (a
// value given by --arg, or the schema's default, also for an input left out).
struct Slot {
  bool tensor = false;
  std::optional<c10::IValue> constant;
  std::string name;
};

struct Script {
  torch::jit::Module module;
  std::string method = "forward";
  std::vector<Slot> layout;
  bool bound = false;
};

// Ops whose first input reaches their output with its values unchanged (a new shape, a new
// integer type, a part of it): an argument followed through them still indexes the table.
bool passes_values(const Node* node) {
  static const std::set<std::string> kinds{
      "aten::to",      "aten::type_as", "aten::view",    "aten::view_as",   "aten::reshape", "aten::reshape_as",
      "aten::flatten", "aten::unsqueeze", "aten::squeeze", "aten::contiguous", "aten::clone",   "aten::detach",
      "aten::long",    "aten::int",     "aten::slice",   "aten::select",    "aten::expand",  "aten::expand_as",
      "aten::permute", "aten::transpose", "aten::t"};
  return node->inputs().size() > 0 && kinds.count(node->kind().toQualString()) > 0;
}

// The attribute path (`encoder.word_embeddings.weight`) of a value read from `self` through a
// chain of prim::GetAttr, or nothing.
std::optional<std::vector<std::string>> attribute_path(const Value* v, const Value* self) {
  std::vector<std::string> path;
  while (v != self) {
    const Node* node = v->node();
    if (node->kind() != c10::prim::GetAttr) {
      return std::nullopt;
    }
    path.insert(path.begin(), node->s(c10::attr::name));
    v = node->input(0);
  }
  return path;
}

// The table behind an embedding's weight: its name, rows, and whether it is a parameter.
struct Table {
  std::string name;
  int64_t rows = 0;
  bool parameter = false;
};

std::optional<Table> table_of(const torch::jit::Module& module, const Value* weight, const Value* self) {
  if (weight->node()->kind() == c10::prim::Constant) {
    auto value = torch::jit::toIValue(weight);
    if (value && value->isTensor() && value->toTensor().dim() >= 1) {
      return Table{"a constant", value->toTensor().size(0), false};
    }
    return std::nullopt;
  }
  auto path = attribute_path(weight, self);
  if (!path || path->empty()) {
    return std::nullopt;
  }
  c10::ivalue::Object* object = module._ivalue().get();
  c10::intrusive_ptr<c10::ivalue::Object> holder = module._ivalue();
  for (size_t i = 0; i + 1 < path->size(); ++i) {
    auto slot = object->type()->findAttributeSlot((*path)[i]);
    if (!slot) {
      return std::nullopt;
    }
    c10::IValue next = object->getSlot(*slot);
    if (!next.isObject()) {
      return std::nullopt;
    }
    holder = next.toObject();
    object = holder.get();
  }
  auto slot = object->type()->findAttributeSlot(path->back());
  if (!slot) {
    return std::nullopt;
  }
  c10::IValue value = object->getSlot(*slot);
  if (!value.isTensor() || value.toTensor().dim() < 1) {
    return std::nullopt;
  }
  std::string name;
  for (const auto& part : *path) {
    name += (name.empty() ? "" : ".") + part;
  }
  return Table{name, value.toTensor().size(0), object->type()->is_parameter(*slot)};
}

// Every node of `block` and of the blocks nested in it.
void visit(torch::jit::Block* block, const std::function<void(Node*)>& f) {
  for (Node* node : block->nodes()) {
    f(node);
    for (torch::jit::Block* inner : node->blocks()) {
      visit(inner, f);
    }
  }
}

// The leaf types of a return type: a tuple's elements, recursively; anything else is a leaf.
void return_leaves(const c10::TypePtr& type, std::vector<std::string>& out) {
  if (auto tuple = type->cast<c10::TupleType>()) {
    for (const auto& element : tuple->elements()) {
      return_leaves(element, out);
    }
    return;
  }
  out.push_back(type->annotation_str());
}

std::string describe(const torch::jit::Module& module, const std::string& name) {
  std::string out = "{\"methods\":[";
  bool first = true;
  for (const auto& method : module.get_methods()) {
    out += first ? "" : ",";
    first = false;
    json_string(out, method.name());
  }
  out += "]";
  int64_t count = 0;
  int64_t bytes = 0;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    count += p.numel();
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  out += ",\"parameters\":{\"count\":" + std::to_string(count) + ",\"bytes\":" + std::to_string(bytes) + "}";
  auto forward = module.find_method(name);
  if (!forward) {
    return out + ",\"method\":null}";
  }
  const c10::FunctionSchema& schema = forward->function().getSchema();
  out += ",\"method\":{\"arguments\":[";
  // Argument 0 is `self`.
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    const c10::Argument& arg = schema.arguments()[i];
    const c10::TypePtr& type = arg.type();
    const char* kind = "other";
    if (type->kind() == c10::TypeKind::TensorType) {
      kind = "tensor";
    } else if (auto optional = type->cast<c10::OptionalType>();
               optional && optional->getElementType()->kind() == c10::TypeKind::TensorType) {
      kind = "optional_tensor";
    }
    out += i > 1 ? ",{" : "{";
    out += "\"name\":";
    json_string(out, arg.name());
    out += ",\"type\":";
    json_string(out, type->annotation_str());
    out += std::string(",\"kind\":\"") + kind + "\"";
    out += std::string(",\"has_default\":") + (arg.default_value() ? "true" : "false");
    if (arg.default_value()) {
      std::ostringstream printed;
      if (arg.default_value()->isString()) {
        printed << '"' << arg.default_value()->toStringRef() << '"';
      } else {
        printed << *arg.default_value();
      }
      out += ",\"default\":";
      json_string(out, printed.str());
    }
    out += "}";
  }
  out += "],\"returns\":";
  const auto& returns = schema.returns();
  c10::TypePtr returned = returns.size() == 1 ? returns[0].type() : c10::TypePtr(c10::NoneType::get());
  json_string(out, returned->annotation_str());
  out += ",\"return_leaves\":[";
  std::vector<std::string> leaves;
  return_leaves(returned, leaves);
  for (size_t i = 0; i < leaves.size(); ++i) {
    out += i > 0 ? "," : "";
    json_string(out, leaves[i]);
  }
  out += "],\"embeddings\":[";
  // The graph with every submodule call inlined, so that a table's GetAttr chain starts at self.
  std::shared_ptr<torch::jit::Graph> graph = forward->graph()->copy();
  torch::jit::Inline(*graph);
  const Value* self = graph->inputs().at(0);
  bool first_embedding = true;
  visit(graph->block(), [&](Node* node) {
    if (node->kind() != c10::aten::embedding || node->inputs().size() < 2) {
      return;
    }
    const Value* indices = node->input(1);
    std::vector<std::string> through;
    while (indices->node()->kind() != c10::prim::Param && passes_values(indices->node())) {
      through.emplace_back(indices->node()->kind().toQualString());
      indices = indices->node()->input(0);
    }
    if (indices->node()->kind() != c10::prim::Param || indices->offset() == 0) {
      return;
    }
    auto table = table_of(module, node->input(0), self);
    if (!table) {
      return;
    }
    out += first_embedding ? "{" : ",{";
    first_embedding = false;
    out += "\"argument\":";
    json_string(out, schema.arguments().at(indices->offset()).name());
    out += ",\"table\":";
    json_string(out, table->name);
    out += ",\"rows\":" + std::to_string(table->rows);
    out += std::string(",\"parameter\":") + (table->parameter ? "true" : "false");
    out += ",\"through\":[";
    for (size_t i = 0; i < through.size(); ++i) {
      out += i > 0 ? "," : "";
      json_string(out, through[i]);
    }
    out += "]}";
  });
  out += "]}}";
  return out;
}

// Appends every tensor of a result (a tensor, or tuples, lists and string-keyed dicts of them) to
// `out`, and its name to `names`: the dict key it sits under (`key`, or `key.N` inside a tuple or
// list there), else "" (named by position). A None (an `Optional[Tensor]` left empty, as
// MultiheadAttention's weights with need_weights=False) gives no tensor.
void flatten(const c10::IValue& value, const std::string& name, std::vector<at::Tensor>& out, std::vector<std::string>& names) {
  auto element = [&name](size_t i) { return name.empty() ? name : name + "." + std::to_string(i); };
  if (value.isTensor()) {
    out.push_back(value.toTensor());
    names.push_back(name);
  } else if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i) {
      flatten(elements[i], element(i), out, names);
    }
  } else if (value.isList()) {
    const auto list = value.toListRef();
    for (size_t i = 0; i < list.size(); ++i) {
      flatten(list[i], element(i), out, names);
    }
  } else if (value.isNone()) {
    return;
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      const c10::IValue& key = entry.key();
      std::string key_name = key.isString() ? key.toStringRef() : (key.isInt() ? std::to_string(key.toInt()) : "");
      flatten(entry.value(), name.empty() ? key_name : name + "." + key_name, out, names);
    }
  } else {
    throw std::runtime_error(
        "the method returned a " + value.type()->annotation_str() +
        ", which is not a tensor: infer reads tensors, and tuples, lists and dicts of them");
  }
}

// Reads one value of `type` from the encoding of src/args.rs (`Value::encode`): `n` (None),
// `i<int> `, `f<float> `, `b0`/`b1`, `s<bytes>:<utf-8>`, `l<count>:` or `t<count>:` then the
// items; advances `p`.
c10::IValue read_value(const char*& p, const c10::TypePtr& type) {
  auto count = [&p]() {
    char* end = nullptr;
    long long n = std::strtoll(p + 1, &end, 10);
    if (end == nullptr || *end != ':' || n < 0) {
      throw std::runtime_error("internal: a malformed value from infer");
    }
    p = end + 1;
    return static_cast<size_t>(n);
  };
  c10::TypePtr inner = type;
  if (auto optional = type->cast<c10::OptionalType>()) {
    if (*p == 'n') {
      ++p;
      return c10::IValue();
    }
    inner = optional->getElementType();
  }
  char* end = nullptr;
  switch (*p) {
    case 'i': {
      int64_t v = std::strtoll(p + 1, &end, 10);
      p = end + 1;
      return c10::IValue(v);
    }
    case 'f': {
      double v = std::strtod(p + 1, &end);
      p = end + 1;
      return c10::IValue(v);
    }
    case 'b': {
      bool v = p[1] == '1';
      p += 2;
      return c10::IValue(v);
    }
    case 's': {
      size_t n = count();
      std::string v(p, n);
      p += n;
      return c10::IValue(v);
    }
    case 'l': {
      auto list_type = inner->cast<c10::ListType>();
      if (!list_type) {
        throw std::runtime_error("internal: a list for a " + inner->annotation_str());
      }
      size_t n = count();
      c10::impl::GenericList list(list_type->getElementType());
      for (size_t i = 0; i < n; ++i) {
        list.push_back(read_value(p, list_type->getElementType()));
      }
      return c10::IValue(list);
    }
    case 't': {
      auto tuple_type = inner->cast<c10::TupleType>();
      size_t n = count();
      if (!tuple_type || tuple_type->elements().size() != n) {
        throw std::runtime_error("internal: a tuple for a " + inner->annotation_str());
      }
      std::vector<c10::IValue> items;
      for (size_t i = 0; i < n; ++i) {
        items.push_back(read_value(p, tuple_type->elements()[i]));
      }
      return c10::ivalue::Tuple::create(std::move(items));
    }
    default:
      throw std::runtime_error("internal: a malformed value from infer");
  }
}

} // namespace

extern "C" {

// Loads a TorchScript archive onto the CPU (device < 0) or CUDA device `device`, in eval mode.
// Returns a handle for the other functions (free it with infer_torch_script_free), or null with
// *err set.
void* infer_torch_script_load(const char* path, int device, char** err) {
  try {
    c10::Device where = device < 0 ? c10::Device(c10::kCPU) : c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device));
    auto script = std::make_unique<Script>(Script{torch::jit::load(path, where)});
    script->module.eval();
    return script.release();
  } catch (const std::exception& e) {
    fail(err, infer_shim::without_backtrace(e.what()));
  } catch (...) {
    fail(err, "unknown C++ exception from libtorch");
  }
  return nullptr;
}

// Frees a handle from infer_torch_script_load.
void infer_torch_script_free(void* script) {
  delete static_cast<Script*>(script);
}

// Describes the module in *json: {"methods": [names], "parameters": {"count", "bytes"},
// "forward": null | {"arguments": [{"name", "type", "kind": "tensor" |
// "optional_tensor" | "other", "has_default"}] (without self), "returns": type, "return_leaves":
// [a tuple's element types, flattened], "embeddings": [{"argument", "table", "rows", "parameter",
// "through": [ops between the argument and the lookup]}]}}. Returns 0, or 1 with *err set.
int infer_torch_script_describe(void* script, const char* method, char** json, char** err) {
  try {
    *json = copy_string(describe(static_cast<Script*>(script)->module, method));
    return 0;
  }
  INFER_CATCH(err)
}

// Chooses the method the script runs (`forward`, `encode`, ...) and lays out its arguments in
// schema order: a tensor argument takes the next input (its default when the input is left
// out), an argument named in `names` takes the value encoded in the matching `values` (see
// read_value), any other its default. An argument with neither is left empty: running then
// fails naming it (infer checks first). Returns 0, or 1 with *err set.
int infer_torch_script_bind(
    void* script, const char* method, const char* const* names, const char* const* values, int n, char** err) {
  try {
    Script* s = static_cast<Script*>(script);
    auto found = s->module.find_method(method);
    if (!found) {
      return fail(err, std::string("the module has no method `") + method + "`");
    }
    const c10::FunctionSchema& schema = found->function().getSchema();
    std::vector<Slot> layout;
    for (size_t i = 1; i < schema.arguments().size(); ++i) {
      const c10::Argument& arg = schema.arguments()[i];
      const c10::TypePtr& type = arg.type();
      Slot slot;
      slot.name = arg.name();
      bool optional_tensor = false;
      if (auto optional = type->cast<c10::OptionalType>()) {
        optional_tensor = optional->getElementType()->kind() == c10::TypeKind::TensorType;
      }
      slot.tensor = type->kind() == c10::TypeKind::TensorType || optional_tensor;
      slot.constant = arg.default_value();
      for (int j = 0; j < n && !slot.tensor; ++j) {
        if (arg.name() == names[j]) {
          const char* p = values[j];
          slot.constant = read_value(p, type);
        }
      }
      layout.push_back(std::move(slot));
    }
    s->method = method;
    s->layout = std::move(layout);
    s->bound = true;
    return 0;
  }
  INFER_CATCH(err)
}

// Runs the bound method (forward until infer_torch_script_bind chose another) on `n` tensors
// (`at::Tensor*`, borrowed), with its constants, without gradients; on success stores a
// malloc'ed array of `*n_outputs` new `at::Tensor*` in *outputs (the tensors of the result, in
// order; free the array with infer_torch_pointers_free once the tensors are taken), their names
// in *names (a JSON array of strings, "" where the result gives none; free it as an error
// string; null when the result names none) and returns 0; else 1 with *err set.
int infer_torch_script_forward(
    void* script,
    const void* const* inputs,
    int n,
    void*** outputs,
    int* n_outputs,
    char** names,
    char** err) {
  try {
    Script* s = static_cast<Script*>(script);
    std::vector<c10::IValue> args;
    if (!s->bound) {
      for (int i = 0; i < n; ++i) {
        args.emplace_back(*static_cast<const at::Tensor*>(inputs[i]));
      }
    } else {
      args.reserve(s->layout.size());
      int next = 0;
      for (const Slot& slot : s->layout) {
        if (slot.tensor && next < n) {
          args.emplace_back(*static_cast<const at::Tensor*>(inputs[next++]));
        } else if (slot.constant) {
          args.push_back(*slot.constant);
        } else {
          throw std::runtime_error("argument `" + slot.name + "` has no value");
        }
      }
      if (next < n) {
        throw std::runtime_error("too many inputs: " + std::to_string(n) + ", the method takes " + std::to_string(next));
      }
    }
    c10::NoGradGuard no_grad;
    c10::IValue result = s->module.get_method(s->method)(std::move(args));
    std::vector<at::Tensor> tensors;
    std::vector<std::string> tensor_names;
    flatten(result, "", tensors, tensor_names);
    // Names only where the result gives some (a dict): a tensor or a tuple costs no JSON per run.
    bool named = false;
    for (const auto& n : tensor_names) {
      named = named || !n.empty();
    }
    std::string json;
    if (named) {
      json = "[";
      for (size_t i = 0; i < tensor_names.size(); ++i) {
        json += i == 0 ? "" : ",";
        json_string(json, tensor_names[i]);
      }
      json += "]";
    }
    void** array = static_cast<void**>(std::malloc(sizeof(void*) * (tensors.empty() ? 1 : tensors.size())));
    if (array == nullptr) {
      return fail(err, "out of memory");
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      array[i] = new at::Tensor(std::move(tensors[i]));
    }
    *outputs = array;
    *n_outputs = static_cast<int>(tensors.size());
    *names = named ? copy_string(json) : nullptr;
    return 0;
  }
  INFER_CATCH(err)
}

// Frees an array returned by infer_torch_script_forward (not the tensors it pointed to).
void infer_torch_pointers_free(void** pointers) {
  std::free(pointers);
}

} // extern "C"
