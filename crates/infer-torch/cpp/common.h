// Helpers shared by infer's C++ shims (profiler.cpp, script.cpp): strings handed to Rust, and the
// catch-all that turns every C++ exception into a message. Included by each .cpp once.

#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include <c10/util/Exception.h>

namespace infer_shim {

// A malloc'ed, NUL-terminated copy of `s` (free it with infer_torch_string_free).
inline char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
  }
  return out;
}

// Stores `what` in *err; returns 1 (failure).
inline int fail(char** err, const std::string& what) {
  if (err != nullptr) {
    *err = copy_string(what);
  }
  return 1;
}

// Appends `s` to `out` as a JSON string literal.
inline void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// The message of a libtorch exception without its C++ backtrace: c10::Error's what() appends
// "Exception raised from … frame #0 …", cut here by text rather than by catching c10::Error, so
// that no object of this shim names a c10 type. The `infer` executable has this shim in its
// link (one package, one set of dependencies) but never calls it; naming no c10 type, the shim
// then leaves no reference to libc10 behind, and `infer` maps no libtorch library (its torch
// backend runs in `infer-torch-worker`; see infer-cli/src/worker.rs).
inline std::string without_backtrace(const char* what) {
  std::string s(what);
  auto at = s.find("Exception raised from ");
  if (at != std::string::npos) {
    s.erase(at);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
      s.pop_back();
    }
  }
  return s;
}

} // namespace infer_shim

// The handlers of a function's outer `try`: the message (without libtorch's C++ backtrace) goes
// to *err and the function returns 1.
#define INFER_CATCH(err)                                                 \
  catch (const std::exception& e) {                                      \
    return infer_shim::fail(err, infer_shim::without_backtrace(e.what())); \
  }                                                                      \
  catch (...) {                                                          \
    return infer_shim::fail(err, "unknown C++ exception from libtorch"); \
  }
