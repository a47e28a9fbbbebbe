// infer's bridge to libtorch's device timer and device allocator on CUDA, through c10's
// device-generic interfaces only: c10::Event (whose CUDA implementation, registered by
// libc10_cuda.so in the device-guard registry, creates, records and times cudaEvent_t's on the
// device's current stream) and c10::DeviceAllocator (libtorch's CUDA caching allocator, the
// figures of torch.cuda.memory_allocated / memory_reserved / max_memory_allocated). So this file
// needs neither CUDA's headers nor libcudart at build time: what it calls lives in libc10 (the
// registry, the allocator lookup), which the torch worker links anyway, and the CUDA work is done
// by the libc10_cuda.so of the libtorch found at run time.

#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Device.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <cstdint>
#include <memory>

#include "common.h"

using infer_shim::fail;

namespace {

// Two timing events of one CUDA device, recorded around each call.
struct Timer {
  explicit Timer(c10::DeviceIndex device)
      : device(device),
        start(c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT),
        end(c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT) {}
  c10::DeviceIndex device;
  c10::Event start;
  c10::Event end;
};

// The current stream of the timer's device: where libtorch enqueues the model's work.
c10::Stream current_stream(const Timer& t) {
  const auto* impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
  return impl->getStream(c10::Device(c10::DeviceType::CUDA, t.device));
}

} // namespace

extern "C" {

// A timer of CUDA device `device` (no CUDA call is made until it is started). Returns null with
// *err set on failure.
void* infer_torch_cuda_timer_new(int device, char** err) {
  try {
    return new Timer(static_cast<c10::DeviceIndex>(device));
  } catch (const std::exception& e) {
    fail(err, infer_shim::without_backtrace(e.what()));
  } catch (...) {
    fail(err, "unknown C++ exception from libtorch");
  }
  return nullptr;
}

void infer_torch_cuda_timer_free(void* timer) {
  delete static_cast<Timer*>(timer);
}

// Records the start (stop == 0) or the end (stop != 0) event on the device's current stream.
// Returns 0, or 1 with *err set.
int infer_torch_cuda_timer_record(void* timer, int stop, char** err) {
  try {
    auto* t = static_cast<Timer*>(timer);
    auto stream = current_stream(*t);
    (stop != 0 ? t->end : t->start).record(stream);
    return 0;
  }
  INFER_CATCH(err)
}

// Waits for the end event, then writes the time between the two events in milliseconds to *ms.
// Returns 0, or 1 with *err set (neither event recorded yet included).
int infer_torch_cuda_timer_elapsed(void* timer, double* ms, char** err) {
  try {
    auto* t = static_cast<Timer*>(timer);
    t->end.synchronize();
    *ms = t->start.elapsedTime(t->end);
    return 0;
  }
  INFER_CATCH(err)
}

// The CUDA caching allocator's figures of `device`: bytes allocated to tensors now, reserved
// from the device now, and the peak of allocated since the process started. *known is 0 (and
// the figures untouched) while the allocator has not been initialized (no CUDA tensor yet).
// Returns 0, or 1 with *err set.
int infer_torch_cuda_memory(int device, int* known, int64_t* allocated, int64_t* reserved, int64_t* peak,
                            char** err) {
  try {
    *known = 0;
    auto* allocator = c10::getDeviceAllocator(c10::DeviceType::CUDA);
    if (allocator == nullptr || !allocator->initialized()) {
      return 0;
    }
    const auto stats = allocator->getDeviceStats(static_cast<c10::DeviceIndex>(device));
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    *allocated = stats.allocated_bytes[all].current;
    *reserved = stats.reserved_bytes[all].current;
    *peak = stats.allocated_bytes[all].peak;
    *known = 1;
    return 0;
  }
  INFER_CATCH(err)
}

} // extern "C"
