#pragma once
// Shared-memory layout of the routing kernel, computed identically on host (to size
// the launch) and device (to carve the buffer). Every piece is 16-byte aligned.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>  // double2

#include <coreroute/cuda/detail/tuning.cuh>
#include <coreroute/macros.hpp>

namespace coreroute::cuda::detail {

/// A block's control words, in shared memory.
struct BlockControl {
  int size;      ///< the coreset's size
  int invalid;   ///< invalid tokens (in a cluster: counted in CTA 0's)
  int voted;     ///< experts with votes (totals != none)
  int positive;  ///< experts with totals > none
};

/// Byte offsets of the kernel's shared arrays (SharedStorage's), 16-byte aligned.
struct RouteLayout {
  size_t bias = 0, votes = 0, totals = 0, rank = 0, list = 0, sorted = 0, before = 0, mask = 0, rows = 0;
  size_t stats = 0, tally_ids = 0, tally_votes = 0, counts = 0, used = 0, offsets = 0, bits = 0, scratch = 0;
  size_t control = 0, bytes = 0;
  int rows_per_warp = 0;  ///< per-warp rows of M doubles (0, 1 for groups, 2 for Row<0>)
  int vote_rows = 0;      ///< Stage 1's vote rows (vote_rows(); 0 without Stage 1)
  int words = 0;          ///< 32-bit words of one expert's token bitmask (dispatch)
  int stat_tokens = 0;    ///< tokens whose Stage 1 row stats are kept for Stage 2 (0 or N)
  int tally_tokens = 0;   ///< tokens of the tally of a Stage 1 spread over a cluster (0 or N)
};

CR_HD inline size_t align16(size_t x) { return (x + 15) & ~size_t(15); }

/// A warp's row holds 32 * ceil(M / 32) doubles: lanes also write their padding items.
CR_HD inline int padded_row(int M) { return (M + 31) / 32 * 32; }

/// Stage 1's vote rows: token n votes into row n % R, rows are summed in order, so the
/// vote totals depend on M and N only, never on the warps of a launch (a different
/// summation order could flip a near-tie in the coreset, and the warps depend on the
/// batch size, the dispatch output and the device). At most 16 rows and 64 KiB.
CR_HD inline int vote_rows(int M, int64_t N) {
  int64_t rows = (64 * 1024) / (int64_t(M) * 8);
  if (rows > 16) rows = 16;
  if (rows > N) rows = N;
  return rows < 1 ? 1 : int(rows);
}

/// `votes`: Stage 1 runs (vote rows); `general`: Row<0> (rows in shared
/// memory); `groups`: group scoring reads the row from shared memory; `spread`: the
/// launch has clusters, whose Stage 1 may spread over them (a tally of N <= kTallyTokens).
CR_HD inline RouteLayout route_layout(int M, int64_t N, int warps, bool has_bias, bool votes, bool general, bool groups,
                                      bool dispatch, bool spread = false) {
  RouteLayout L;
  L.rows_per_warp = general ? 2 : groups ? 1 : 0;
  L.words = dispatch ? int((N + 31) / 32) : 0;
  const size_t m = size_t(M);
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at = align16(at + bytes);
    return here;
  };
  L.bias = take(has_bias ? size_t(padded_row(M)) * 4 : 0);  // zero padded: the fast path reads it unchecked
  L.vote_rows = votes ? vote_rows(M, N) : 0;
  const size_t vote_bytes = size_t(L.vote_rows) * m * 8;  // scores, votes and their sums are doubles
  const size_t row_bytes = size_t(warps) * size_t(L.rows_per_warp) * size_t(padded_row(M)) * 8;
  // Register rows use the warps' rows in Stage 2 only, when the vote rows are dead
  // (read once into `totals`): the two share their memory. Row<0> needs both at once.
  L.votes = take(general ? vote_bytes : vote_bytes > row_bytes ? vote_bytes : row_bytes);
  L.rows = general ? take(row_bytes) : L.votes;
  L.totals = take(m * 8);
  L.rank = take(m * 4);
  L.list = take(votes ? m * 4 : 0);
  L.sorted = take(m * 8);
  L.before = take(m * 8);
  L.mask = take(m);
  L.stat_tokens = votes && !general && M > 32 * kCoreItems && N <= kStatTokens ? int(N) : 0;
  L.stats = take(size_t(L.stat_tokens) * 16);
  L.tally_tokens = votes && !general && spread && N <= kTallyTokens ? int(N) : 0;
  L.tally_ids = take(size_t(L.tally_tokens) * 32 * 4);
  L.tally_votes = take(size_t(L.tally_tokens) * 32 * 8);
  L.counts = take(dispatch ? m * 4 : 0);
  L.used = take(dispatch ? m * 4 : 0);
  L.offsets = take(dispatch ? m * 4 : 0);
  L.bits = take(dispatch ? m * size_t(L.words) * 4 : 0);
  L.scratch = take(32 * 8);
  L.control = take(sizeof(BlockControl));
  L.bytes = at;
  return L;
}

/// The routing kernel's shared memory as typed arrays (as CUB's TempStorage, with sizes
/// known only at run time): one place turns the layout's offsets into pointers.
struct SharedStorage {
  float* bias;          ///< padded_row(M) floats, zero padded; null without bias
  double* votes;        ///< Stage 1: vote_rows rows of M
  double* rows;         ///< per-warp rows (rows_per_warp * padded_row(M) doubles per warp)
  double* totals;       ///< M: the votes aggregated over the rows
  int* rank;            ///< M: each expert's place in the coreset ranking
  int* list;            ///< M: experts with votes (Stage 1), then the coreset's experts (Stage 2)
  double* sorted;       ///< M: totals in rank order
  double* before;       ///< M: their exclusive prefix sums
  uint8_t* mask;        ///< M: the coreset
  double2* stats;       ///< stat_tokens: Stage 1's row (max, sum) per token
  int* tally_ids;       ///< tally_tokens x 32: a spread Stage 1's votes, expert ids (fast_votes)
  double* tally_votes;  ///< tally_tokens x 32: their votes
  int* counts;          ///< dispatch: M
  int* used;            ///< dispatch: M
  int* offsets;         ///< dispatch: M
  uint32_t* bits;       ///< dispatch: M rows of `words` token bits
  void* scratch;        ///< 32 words of 8 bytes for block scans
  BlockControl* control;
};

CR_HD inline SharedStorage shared_storage(unsigned char* smem, const RouteLayout& L, bool has_bias) {
  auto at = [smem](size_t offset) { return static_cast<void*>(smem + offset); };
  return {has_bias ? static_cast<float*>(at(L.bias)) : nullptr,
          static_cast<double*>(at(L.votes)),
          static_cast<double*>(at(L.rows)),
          static_cast<double*>(at(L.totals)),
          static_cast<int*>(at(L.rank)),
          static_cast<int*>(at(L.list)),
          static_cast<double*>(at(L.sorted)),
          static_cast<double*>(at(L.before)),
          static_cast<uint8_t*>(at(L.mask)),
          static_cast<double2*>(at(L.stats)),
          static_cast<int*>(at(L.tally_ids)),
          static_cast<double*>(at(L.tally_votes)),
          static_cast<int*>(at(L.counts)),
          static_cast<int*>(at(L.used)),
          static_cast<int*>(at(L.offsets)),
          static_cast<uint32_t*>(at(L.bits)),
          at(L.scratch),
          static_cast<BlockControl*>(at(L.control))};
}

}  // namespace coreroute::cuda::detail
