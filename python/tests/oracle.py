"""An independent statement of docs/spec.md sections 3-5 in NumPy (float64), the tests' oracle.

It follows the spec's wording, not the C++ code: scores, selection scores r = s + bias,
votes, each policy's coreset rule, group-limited Stage 2, weights; ties: larger value
first, then the lower id. Also the tolerances of docs/spec.md section 7.
"""
import numpy as np


def close(a, b):
    """|a - b| <= 1e-5 * max(|a|, |b|) + 1e-6, elementwise (docs/spec.md section 7)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) <= 1e-5 * np.maximum(np.abs(a), np.abs(b)) + 1e-6


def near_tie(a, b):
    """|a - b| <= 1e-6 * max(|a|, |b|) + 1e-9 (docs/spec.md section 7)."""
    if a == b:
        return True
    if np.isinf(a) or np.isinf(b):
        return False
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1e-9


def ranked(values, ids=None):
    """ids ordered by value descending, ties: lower id first."""
    values = np.asarray(values, np.float64)
    ids = np.arange(len(values)) if ids is None else np.asarray(ids)
    return ids[np.lexsort((ids, -values))]


def scores(x, score):
    """s per row of x [N, M] (float64)."""
    if score == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-x))


def votes(r, policy, top_k, k_local):
    """V over the block's valid rows r [n, M]."""
    M = r.shape[1]
    V = np.zeros(M)
    k = k_local if policy == "union" else top_k
    for row in r:
        for i in ranked(row)[:k]:
            V[i] += 1.0 if policy == "union" else max(row[i], 0.0)
    return V


def coreset(r, policy, top_k, k_local=None, core=None, beta=None, top_p=0.6, min_experts=None, capacity=None):
    """Stage 1 (docs/spec.md section 4): the block's coreset mask [M] and its votes."""
    M = r.shape[1]
    if policy == "vanilla":
        return np.ones(M, bool), np.zeros(M)
    if policy == "blockmax":  # every expert's maximum r over the block (-inf without rows)
        V = r.max(axis=0) if len(r) else np.full(M, -np.inf)
        c = capacity if capacity is not None else max(1, int(np.floor(beta * M + 1e-9)))
        mask = np.zeros(M, bool)
        mask[ranked(V)[:c]] = True
        return mask, V
    V = votes(r, policy, top_k, k_local)
    order = ranked(V)
    mask = np.zeros(M, bool)
    if policy == "union":
        mask[V > 0] = True
    elif policy == "vote":
        c = core if core is not None else max(1, int(np.floor(beta * M + 1e-9)))
        mask[order[:c]] = True
    else:  # blockdist
        m = min(16, M) if min_experts is None else min_experts
        total = V.sum()
        P = V / total if total > 0 else np.zeros(M)
        cum = 0.0
        for i in order:
            if P[i] <= 0:
                break
            mask[i] = True
            cum += P[i]
            if cum > top_p:
                break
        if mask.sum() < m:
            mask[:] = False
            mask[order[:m]] = True
    return mask, V


def eligible(r_row, mask, groups, group_score="top2"):
    """E_n: the coreset, within the token's topk_group best groups (docs/spec.md section 3)."""
    M = len(r_row)
    if not groups:
        return np.flatnonzero(mask)
    G, tg = groups
    per = M // G
    keys = []
    for g in range(G):
        ids = [i for i in range(g * per, (g + 1) * per) if mask[i]]
        best = sorted(r_row[ids], reverse=True)[:2 if group_score == "top2" else 1]
        # tier: eligible experts counted up to 2; score: the two largest r (tier 2), the one r
        # (tier 1), nothing (tier 0), so an empty group never displaces one holding an expert
        keys.append((len(best), best[0] + best[1] if len(best) == 2 else (best[0] if best else 0.0)))
    # (tier, score) descending, then the lower group id
    chosen = sorted(range(G), key=lambda g: (-keys[g][0], -keys[g][1], g))[:tg]
    return np.array([i for g in sorted(chosen) for i in range(g * per, (g + 1) * per) if mask[i]], dtype=np.int64)


def stage2(s_row, r_row, mask, top_k, groups, normalize, scaling, group_score="top2"):
    ids = np.full(top_k, -1, np.int64)
    w = np.zeros(top_k)
    E = eligible(r_row, mask, groups, group_score)
    chosen = ranked(r_row[E], E)[:top_k] if len(E) else np.array([], np.int64)
    ids[:len(chosen)] = chosen
    w[:len(chosen)] = s_row[chosen]
    if normalize:
        total = w.sum()
        w = w / total if total > 0 else np.zeros(top_k)
    return ids, w * scaling


def route(x, *, top_k, policy="vanilla", score="softmax", bias=None, groups=None, normalize=False, scaling=1.0,
          tokens=None, coreset_in=None, group_score="top2", **params):
    """x [B, N, M] (numpy, any float) -> ids [B, N, K], weights [B, N, K], coreset [B, M]."""
    x = np.asarray(x, np.float64)
    B, N, M = x.shape
    ids = np.full((B, N, top_k), -1, np.int64)
    w = np.zeros((B, N, top_k))
    cs = np.zeros((B, M), bool)
    b_ = np.zeros(M) if bias is None else np.asarray(bias, np.float64)
    for b in range(B):
        n_valid = N if tokens is None else int(tokens[b])
        s = scores(x[b, :n_valid], score)
        r = s + b_
        if coreset_in is not None:
            mask = np.asarray(coreset_in[b], bool)
        else:
            mask, _ = coreset(r, policy, top_k, **params)
        cs[b] = mask
        for n in range(n_valid):
            ids[b, n], w[b, n] = stage2(s[n], r[n], mask, top_k, groups, normalize, scaling, group_score)
    return ids, w, cs


def dispatch(ids, valid, M):
    """The dispatch layout of docs/spec.md section 5 for ids [B, N, K] (Python lists per block)."""
    out = []
    for b in range(ids.shape[0]):
        pairs = [(int(ids[b, n, j]), n, j) for n in range(valid[b]) for j in range(ids.shape[2]) if ids[b, n, j] >= 0]
        pairs.sort()
        used = sorted({e for e, _, _ in pairs})
        counts = [sum(1 for e, _, _ in pairs if e == u) for u in used]
        out.append(dict(used=used, counts=counts, token=[n for _, n, _ in pairs], slot=[j for _, _, j in pairs]))
    return out


def vote_bounds(r, policy, top_k, k_local=None, **_):
    """Per expert, the least and the most votes any conforming backend may count: a
    token's top-K boundary at a near-tie may fall either way (docs/spec.md section 7)."""
    M = r.shape[1]
    if policy == "blockmax":  # every expert's maximum r: no boundary to move
        V = r.max(axis=0) if len(r) else np.full(M, -np.inf)
        return V, V.copy()
    lo, hi = np.zeros(M), np.zeros(M)
    k = k_local if policy == "union" else top_k
    for row in r:
        order = ranked(row)
        vote = np.ones(M) if policy == "union" else np.maximum(row, 0.0)
        if k < M and near_tie(row[order[k - 1]], row[order[k]]):
            band = [i for i in range(M) if near_tie(row[i], row[order[k - 1]]) or near_tie(row[i], row[order[k]])]
            sure = [i for i in order[:k] if i not in band]
            lo[sure] += vote[sure]
            hi[sure] += vote[sure]
            hi[band] += vote[band]
        else:
            lo[order[:k]] += vote[order[:k]]
            hi[order[:k]] += vote[order[:k]]
    return lo, hi
