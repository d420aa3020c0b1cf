// Optimizer updates in native code, for the training worker (src/engine/runtime/ort-worker.js).
//
// The same arithmetic as the WebAssembly kernel (src/engine/runtime/kernels.wat), op for op in
// float32 and in the same order, applied to the same memory (the worker's kernel memory, passed as
// its ArrayBuffer), so either kernel gives the same bits. This one is faster because it splits the
// elements across threads and uses the CPU's widest vectors (the WebAssembly kernel has one thread
// and 128-bit vectors, and Adam's two divisions and square root per element bound its speed).
//
// Bits equal the graph's only without contraction into fused multiply-adds and without fast-math:
// binding.gyp compiles with -ffp-contract=off; -fno-math-errno only lets sqrt vectorize.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

struct AdamArgs {
  float b1, omb1, b2, omb2, bc2Sqrt, eps, stepSize, decay, l2;
};

// One contiguous range of one parameter. GCC compiles a clone per instruction set and picks one
// at load time (ifunc), so the build is portable across x86-64 CPUs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void adamRange(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, size_t n,
               const AdamArgs a) {
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i] + p[i] * a.l2;
    const float pi = p[i] * a.decay;
    const float mi = m[i] * a.b1 + gi * a.omb1;
    const float vi = v[i] * a.b2 + (gi * gi) * a.omb2;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (mi / (std::sqrt(vi) / a.bc2Sqrt + a.eps)) * a.stepSize;
  }
}

struct Item {
  float *p, *g, *m, *v;
  size_t n;
};

// Elements [from, to) of the concatenation of all items.
void adamSpan(const std::vector<Item>& items, size_t from, size_t to, const AdamArgs& a) {
  size_t start = 0;
  for (const Item& it : items) {
    const size_t end = start + it.n;
    const size_t lo = std::max(from, start), hi = std::min(to, end);
    if (lo < hi) {
      const size_t o = lo - start;
      adamRange(it.p + o, it.g + o, it.m + o, it.v + o, hi - lo, a);
    }
    start = end;
    if (start >= to) break;
  }
}

napi_value fail(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

// adam(memory: ArrayBuffer, items: Uint32Array [p, g, m, v byte offsets, n elements] × k,
//      args: Float32Array [b1, 1−b1, b2, 1−b2, bc2Sqrt, eps, stepSize, decay, l2], threads: number)
napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 4)
    return fail(env, "adam(memory, items, args, threads): expected 4 arguments");

  void* base = nullptr;
  size_t bytes = 0;
  if (napi_get_arraybuffer_info(env, argv[0], &base, &bytes) != napi_ok)
    return fail(env, "adam: memory must be an ArrayBuffer");

  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint32_array || length % 5 != 0)
    return fail(env, "adam: items must be a Uint32Array of [p, g, m, v, n] groups");
  const uint32_t* raw = static_cast<const uint32_t*>(data);

  float* args = nullptr;
  size_t nargs = 0;
  if (napi_get_typedarray_info(env, argv[2], &type, &nargs, reinterpret_cast<void**>(&args), &ab, &offset) !=
          napi_ok ||
      type != napi_float32_array || nargs != 9)
    return fail(env, "adam: args must be a Float32Array of 9 numbers");
  const AdamArgs a{args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8]};

  int32_t threads = 1;
  napi_get_value_int32(env, argv[3], &threads);

  std::vector<Item> items;
  size_t total = 0;
  char* mem = static_cast<char*>(base);
  for (size_t i = 0; i < length; i += 5) {
    const size_t n = raw[i + 4];
    for (int k = 0; k < 4; k++) {
      if (raw[i + k] % 4 != 0 || uint64_t(raw[i + k]) + uint64_t(n) * 4 > bytes)
        return fail(env, "adam: a tensor lies outside the kernel memory");
    }
    items.push_back(Item{reinterpret_cast<float*>(mem + raw[i]), reinterpret_cast<float*>(mem + raw[i + 1]),
                         reinterpret_cast<float*>(mem + raw[i + 2]), reinterpret_cast<float*>(mem + raw[i + 3]), n});
    total += n;
  }

  // A thread per ~256K elements at most: starting one costs tens of microseconds.
  const size_t useful = std::max<size_t>(1, total / (256 * 1024));
  const size_t t = std::max<size_t>(1, std::min<size_t>(threads > 0 ? size_t(threads) : 1, useful));
  // Equal spans of the concatenated elements (rounded to whole vectors).
  const size_t chunk = ((total + t - 1) / t + 15) & ~size_t(15);
  std::vector<std::thread> pool;
  for (size_t k = 1; k < t; k++) {
    const size_t from = std::min(total, k * chunk), to = std::min(total, (k + 1) * chunk);
    if (from < to) pool.emplace_back(adamSpan, std::cref(items), from, to, std::cref(a));
  }
  adamSpan(items, 0, std::min(total, chunk), a);
  for (std::thread& th : pool) th.join();
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "adam", NAPI_AUTO_LENGTH, Adam, nullptr, &fn);
  napi_set_named_property(env, exports, "adam", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
