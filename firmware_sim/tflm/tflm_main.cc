// TFLite Micro + CMSIS-NN measuring firmware: the comparison row of the side-by-side bench
// (ecg_edge/sim/tflm.py). It follows firmware_sim/src/main.c so the two counts mean the same:
// the .tflite is placed at __model_start by QEMU's loader (not linked in), the job block
// (job.h) at the board's I/O window, each window is copied into the input tensor outside the
// count, and exactly one Invoke() runs between the plugin's markers. Kernels are registered
// with their int8-only variants (no int16/float paths linked), the smallest fair TFLM image.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tensorflow/lite/micro/kernels/add.h"
#include "tensorflow/lite/micro/kernels/conv.h"
#include "tensorflow/lite/micro/kernels/fully_connected.h"
#include "tensorflow/lite/micro/kernels/pad.h"
#include "tensorflow/lite/micro/kernels/pooling.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" {
#include "job.h"
#include "markers.h"
#include "semihost.h"
extern uint8_t __model_start[], __model_end[], __arena_start[], __arena_end[], __io_start[];
extern uint32_t __stack_bottom[], __stack_top[];
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
}

// No heap: TFLM's virtual destructors reference operator delete, but nothing is deleted.
void operator delete(void*) noexcept {}
void operator delete(void*, std::size_t) noexcept {}
extern "C" void __cxa_pure_virtual() { semi_exit(201u); }
extern "C" int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void* __dso_handle = nullptr;

namespace {

constexpr uint32_t kPaint = 0xC5A5A5C5u;
semi_line line;

__attribute__((noinline)) void paint_stack() {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (volatile uint32_t* p = __stack_bottom; reinterpret_cast<uintptr_t>(p) < sp - 64u; ++p) *p = kPaint;
}

uint32_t stack_used() {
  const uint32_t* p = __stack_bottom;
  while (p < __stack_top && *p == kPaint) ++p;
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) - reinterpret_cast<uintptr_t>(p));
}

int fail(const char* what, uint32_t code) {
  line_reset(&line);
  line_str(&line, "ECGSIM error ");
  line_str(&line, what);
  line_end(&line);
  return static_cast<int>(code);
}

// The ops ecg_edge/mobile/tflite_export.py emits for the ResNet1D.
tflite::MicroMutableOpResolver<7> resolver;

}  // namespace

extern "C" int main(void) {
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)();
  const auto* job = reinterpret_cast<const ecg_job_header*>(__io_start);
  const uint8_t* windows = __io_start + sizeof(ecg_job_header);
  if (job->magic != ECG_JOB_MAGIC || job->version != ECG_JOB_VERSION) return fail("job header", ECG_SIM_E_JOB);
  if (job->model_size > static_cast<uint32_t>(__model_end - __model_start))
    return fail("model larger than the linked model region", ECG_SIM_E_MODEL_RESERVE);

  const tflite::Model* model = tflite::GetModel(__model_start);
  if (model->version() != TFLITE_SCHEMA_VERSION) return fail("tflite schema version", 80u);
  if (resolver.AddReshape() != kTfLiteOk || resolver.AddPad(tflite::Register_PAD_INT8()) != kTfLiteOk ||
      resolver.AddConv2D(tflite::Register_CONV_2D_INT8()) != kTfLiteOk ||
      resolver.AddMaxPool2D(tflite::Register_MAX_POOL_2D_INT8()) != kTfLiteOk ||
      resolver.AddAdd(tflite::Register_ADD_INT8()) != kTfLiteOk || resolver.AddMean() != kTfLiteOk ||
      resolver.AddFullyConnected(tflite::Register_FULLY_CONNECTED_INT8()) != kTfLiteOk)
    return fail("op resolver", 81u);
  static tflite::MicroInterpreter interpreter(model, resolver, __arena_start,
                                              static_cast<size_t>(__arena_end - __arena_start));
  if (interpreter.AllocateTensors() != kTfLiteOk) return fail("AllocateTensors (arena too small)", 82u);
  TfLiteTensor* in = interpreter.input(0);
  TfLiteTensor* out = interpreter.output(0);
  if (in->type != kTfLiteInt8 || out->type != kTfLiteInt8 || out->bytes > 256u)
    return fail("model I/O is not int8", 83u);
  if (job->window_bytes != in->bytes) return fail("window size differs from the input tensor", 67u);
  line_reset(&line);
  line_str(&line, "ECGSIM model status=0 arena=");
  line_u32(&line, static_cast<uint32_t>(interpreter.arena_used_bytes()));
  line_str(&line, " classes=");
  line_u32(&line, static_cast<uint32_t>(out->bytes));
  line_end(&line);

  paint_stack();
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  int rc = 0;
  for (uint32_t w = 0; w < job->n_windows; ++w) {
    std::memcpy(in->data.int8, windows + static_cast<size_t>(w) * job->window_bytes, job->window_bytes);
    ecg_sim_mark_start();
    const TfLiteStatus st = interpreter.Invoke();
    ecg_sim_mark_end();
    line_reset(&line);
    line_str(&line, "ECGSIM window=");
    line_u32(&line, w);
    line_str(&line, " status=");
    line_u32(&line, static_cast<uint32_t>(st));
    line_str(&line, " logits=");
    for (size_t c = 0; st == kTfLiteOk && c < out->bytes; ++c) line_hex8(&line, static_cast<uint8_t>(out->data.int8[c]));
    line_end(&line);
    if (st != kTfLiteOk) rc = 84;
  }
  const uint32_t peak = stack_used();
  line_reset(&line);
  line_str(&line, "ECGSIM stack_peak=");
  line_u32(&line, peak);
  line_str(&line, " stack_invoke=");
  line_u32(&line, peak - static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) - sp));
  line_str(&line, " stack_size=");
  line_u32(&line, static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) - reinterpret_cast<uintptr_t>(__stack_bottom)));
  line_end(&line);
  if (__stack_bottom[0] != kPaint) return fail("stack overflow", ECG_SIM_E_STACK);
  return rc;
}
