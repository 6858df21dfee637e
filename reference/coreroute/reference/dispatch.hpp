#pragma once
// The dispatch layout (docs/spec.md section 5) of a routing, for the expert layer.
#include <algorithm>
#include <vector>

#include <coreroute/routing.hpp>

namespace coreroute::reference {

inline DispatchLayout dispatch_of(const Routing& R) {
  const int M = R.experts, K = R.top_k;
  const int64_t N = R.tokens;
  DispatchLayout d;
  d.resize(R.blocks, N, M, K);
  std::vector<int32_t> count(static_cast<size_t>(M)), slot_of(static_cast<size_t>(M));
  for (int64_t b = 0; b < R.blocks; ++b) {
    std::fill(count.begin(), count.end(), 0);
    for (int64_t n = 0; n < R.valid_tokens[size_t(b)]; ++n)
      for (int j = 0; j < K; ++j)
        if (R.id(b, n, j) >= 0) ++count[size_t(R.id(b, n, j))];
    int32_t used = 0, offset = 0;
    for (int i = 0; i < M; ++i) {
      if (count[size_t(i)] == 0) continue;
      d.used_experts[size_t(b * M + used)] = i;
      d.counts[size_t(b * M + used)] = count[size_t(i)];
      d.offsets[size_t(b * (M + 1) + used)] = offset;
      slot_of[size_t(i)] = offset;  // next free assignment of expert i
      offset += count[size_t(i)];
      ++used;
    }
    d.num_used[size_t(b)] = used;
    for (int u = used; u <= M; ++u) d.offsets[size_t(b * (M + 1) + u)] = offset;
    // Token-major walk fills each expert's run in token, then slot order.
    for (int64_t n = 0; n < R.valid_tokens[size_t(b)]; ++n)
      for (int j = 0; j < K; ++j) {
        const int32_t e = R.id(b, n, j);
        if (e < 0) continue;
        const size_t at = size_t(b * N * K + slot_of[size_t(e)]++);
        d.token[at] = int32_t(n);
        d.slot[at] = j;
      }
  }
  return d;
}

}  // namespace coreroute::reference
