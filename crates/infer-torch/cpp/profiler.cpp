// infer's bridge to libtorch's Kineto profiler (torch/csrc/autograd/profiler_kineto.h), which
// tch does not expose. Compiled by build.rs with the `runtime` feature; used by src/shim/profiler.rs.
//
// Every function catches every C++ exception: a failure comes back as a message allocated with
// malloc (free it with infer_torch_string_free), never as an exception crossing into Rust.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include "common.h"

namespace {

namespace prof = torch::autograd::profiler;
using infer_shim::copy_string;
using infer_shim::fail;
using infer_shim::json_string;

// One user scope: the name must outlive the RecordFunction that points at it, so it is declared
// first (members are destroyed in reverse order: the RecordFunction ends before the name goes).
struct Scope {
  std::string name;
  at::RecordFunction record{at::RecordScope::USER_SCOPE};

  explicit Scope(const char* n) : name(n) {
    if (record.isActive()) {
      record.before(std::string_view(name), c10::ArrayRef<const c10::IValue>{});
    }
  }
};

} // namespace

extern "C" {

// Starts the Kineto profiler (CPU activities; `with_modules`: record the TorchScript module
// hierarchy of each op) on the calling thread. Returns 0, or 1 with *err set.
int infer_torch_profiler_start(int with_modules, char** err) {
  try {
    if (prof::profilerEnabled()) {
      return fail(err, "a libtorch profiler is already running on this thread");
    }
    prof::ProfilerConfig config(
        prof::ProfilerState::KINETO,
        /*report_input_shapes=*/false,
        /*profile_memory=*/false,
        /*with_stack=*/false,
        /*with_flops=*/false,
        /*with_modules=*/with_modules != 0);
    const std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
    prof::prepareProfiler(config, activities);
    prof::enableProfiler(config, activities);
    return 0;
  }
  INFER_CATCH(err)
}

// Opens a user scope named `name` (recorded only while a profiler runs on this thread). Returns
// a handle for infer_torch_scope_end, or null with *err set.
void* infer_torch_scope_begin(const char* name, char** err) {
  try {
    return new Scope(name);
  } catch (const std::exception& e) {
    fail(err, infer_shim::without_backtrace(e.what()));
  } catch (...) {
    fail(err, "unknown C++ exception from libtorch");
  }
  return nullptr;
}

// Closes a scope opened by infer_torch_scope_begin on the same thread.
void infer_torch_scope_end(void* scope) {
  try {
    delete static_cast<Scope*>(scope);
  } catch (...) {
    // ~RecordFunction runs the profiler's end callback; nothing can be done about a failure.
  }
}

// Stops the profiler started on this thread and returns its events in *events as a JSON array of
// {"name", "scope", "tid", "start_ns", "end_ns", "modules"} objects; with a non-null
// `trace_path`, also saves libtorch's own Chrome trace there. Returns 0; 1 with *err set when
// there are no events; 2 with *events and *err set when the events are there but the trace
// could not be saved.
int infer_torch_profiler_stop(const char* trace_path, char** events, char** err) {
  try {
    if (!prof::profilerEnabled()) {
      return fail(err, "no libtorch profiler is running on this thread");
    }
    std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
    if (!result) {
      return fail(err, "libtorch's profiler returned no result");
    }
    std::string out = "[";
    bool first = true;
    for (const auto& e : result->events()) {
      if (!first) {
        out += ",\n";
      }
      first = false;
      out += "{\"name\":";
      json_string(out, e.name());
      out += ",\"scope\":" + std::to_string(static_cast<unsigned>(e.scope()));
      out += ",\"tid\":" + std::to_string(e.startThreadId());
      out += ",\"start_ns\":" + std::to_string(e.startNs());
      out += ",\"end_ns\":" + std::to_string(e.endNs());
      out += ",\"modules\":[";
      if (e.hasModuleHierarchy()) {
        bool first_module = true;
        for (const auto& m : e.moduleHierarchy()) {
          if (!first_module) {
            out += ",";
          }
          first_module = false;
          json_string(out, m);
        }
      }
      out += "]}";
    }
    out += "]";
    *events = copy_string(out);
    if (trace_path != nullptr) {
      try {
        result->save(trace_path);
      } catch (const std::exception& e) {
        fail(err, infer_shim::without_backtrace(e.what()));
        return 2;
      }
    }
    return 0;
  }
  INFER_CATCH(err)
}

// Frees a string returned by this file's functions.
void infer_torch_string_free(char* s) {
  std::free(s);
}

} // extern "C"
