"""Exact Euclidean k-nearest-neighbour search.

Three engines answer the same question (the ``k`` training rows nearest to each
query, Euclidean distance, ties broken towards the smaller training index):

``"bound"`` (the default behind ``"auto"``)
    Rotate the data by PCA (an orthogonal map, so distances are unchanged),
    keep the first ``d`` coordinates plus the norm of the remaining ones, and
    search that ``d + 1``-dimensional space with faiss. Its squared distance,
    ``|q_d - x_d|^2 + (|q_r| - |x_r|)^2``, is a lower bound of the full squared
    distance (reverse triangle inequality on the residual). One faiss pass
    returns the 256 best candidates by bound, and the first ``m`` are
    re-ranked with exact full distances; when the bound of the next candidate
    (minus a rounding margin) still exceeds the ``k``-th exact distance no
    other training row can enter the top ``k``; otherwise the query's next
    ``4 m``, ``16 m``, ... candidates are re-ranked, and a query that all 256
    leave unsure is searched again with a 4x deeper pool (at worst, all rows).
    The answer is therefore exact, at about ``d / D`` of the brute-force GEMM
    cost plus ``m`` exact distances per query.
``"faiss"``
    ``faiss.IndexFlatL2``: brute force in float32 (distances rounded at the
    float32 level, which can reorder near-ties).
``"sklearn"``
    ``sklearn.neighbors.NearestNeighbors(algorithm="brute")``.

Exact distances of the ``"bound"`` engine are computed as sums of squared
differences, exactly for integer data (uint8 pixels) and in float64 for float
data, so they match scikit-learn's brute force up to its own rounding.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import progress

__all__ = ["ENGINES", "BoundIndex", "exact_kneighbors"]

ENGINES = ("auto", "bound", "faiss", "sklearn")

# Queries re-ranked per block: a block gathers (block, m, D) candidate pixels,
# 256 x 64 x 784 int32 is 51 MB.
_REFINE_BLOCK = 256
# Candidates one faiss pass returns per query (re-ranked step by step as needed).
_POOL = 256
# Queries handed to faiss per call; its own blocking bounds the distance tiles.
_DEFAULT_CHUNK = 4096
# Rows used to estimate the rotation: any orthogonal basis keeps the search
# exact, a good one only makes it faster, so a sample suffices.
_ROTATION_SAMPLE = 10000


# Below this many queries faiss runs on one thread: waking an OpenMP team costs more than a
# single query's scan (measured 19 ms vs 112 ms for one query on a busy 2-core machine).
_SMALL_BATCH = 32


@contextlib.contextmanager
def _faiss_threads(n_threads: int | None):
    """Temporarily set faiss's (process-wide) OpenMP thread count; None leaves it alone."""
    import faiss

    if n_threads is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _check_pair(train: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    train = np.asarray(train)
    queries = np.asarray(queries)
    if train.ndim != 2 or queries.ndim != 2:
        raise ValueError(
            f"train and queries must be 2-D (n, n_features), got shapes {train.shape} and {queries.shape}; "
            "flatten images with images.reshape(len(images), -1)"
        )
    if train.shape[1] != queries.shape[1]:
        raise ValueError(f"train has {train.shape[1]} features but queries have {queries.shape[1]}")
    if len(train) == 0 or len(queries) == 0:
        raise ValueError(f"train and queries must be non-empty, got {len(train)} and {len(queries)} rows")
    for name, array in (("train", train), ("queries", queries)):
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(train):
        raise ValueError(f"k={k} exceeds the number of training rows ({len(train)}); use k <= {len(train)}")
    return train, queries


def _is_small_int(array: np.ndarray) -> bool:
    """True for integer data whose squared differences are exact in int32 sums of 784-ish terms."""
    return array.dtype in (np.uint8, np.int8, np.uint16, np.int16) or array.dtype == bool


def _exact_sq_distances(train: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Squared distances from each query to its candidate training rows.

    Parameters
    ----------
    train : ndarray of shape (n_train, D)
    queries : ndarray of shape (n, D)
    candidates : ndarray of shape (n, m), int64
        Training row indices; ``-1`` marks "no candidate" and yields ``inf``.

    Returns
    -------
    ndarray of shape (n, m), float64
    """
    valid = candidates >= 0
    gathered = train[np.where(valid, candidates, 0)]
    if _is_small_int(train) and train.dtype.itemsize == 1 and _is_small_int(queries):
        # uint8 pixels: int32 holds 784 * 255**2 exactly, and integer sums are exact in any order.
        diff = gathered.astype(np.int32) - queries.astype(np.int32)[:, None, :]
        squared = np.einsum("ijk,ijk->ij", diff, diff).astype(np.float64)
    else:
        diff = gathered.astype(np.float64) - queries.astype(np.float64)[:, None, :]
        squared = np.einsum("ijk,ijk->ij", diff, diff)
    squared[~valid] = np.inf
    return squared


def _sort_rows(squared: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest per row, ordered by (distance, index) so ties go to the smaller index."""
    order = np.lexsort((indices, squared), axis=-1)[:, :k]
    return np.take_along_axis(squared, order, axis=1), np.take_along_axis(indices, order, axis=1)


class BoundIndex:
    """Exact Euclidean k-NN index: PCA lower-bound filter in faiss, exact re-ranking.

    Parameters
    ----------
    train : ndarray of shape (n_train, D)
        Integer (uint8 pixels: exact integer distances) or float features.
    n_components : int or float, optional
        Coordinates kept for the bound (``d``). A float in (0, 1) keeps the
        fewest leading coordinates explaining that share of the variance.
        Default: all of them when ``D <= 64``, else ``D / 6`` clipped to
        [64, 128].
    residual_groups : int, default 1
        The coordinates after the first ``d`` are split into this many
        consecutive groups, and the bound keeps one norm per group (each
        group's reverse triangle inequality holds on its own, so the sum is
        still a lower bound, and a tighter one when the variance is spread
        over many coordinates, as in standardised pixels).
    n_candidates : int, optional
        Candidates re-ranked per query in the first step (``m``); default
        ``k + 8`` when ``d = D``, else ``max(2 k, k + 13)``. One faiss pass
        returns the best 256 by bound; a query they do not settle is
        re-ranked on 4 m, 16 m, ... of them, and searched again with a 4x
        deeper pool only when all 256 do not suffice.
    random_state : int, default 0
        Seeds the sample the rotation is estimated on.

    Attributes
    ----------
    n_components : int
    nbytes : int
        Bytes held beyond the training array itself (the bound coordinates).
    """

    def __init__(self, train, *, n_components: int | float | None = None, n_candidates: int | None = None,
                 residual_groups: int = 1, random_state: int = 0):
        train = np.asarray(train)
        if train.ndim != 2 or len(train) == 0:
            raise ValueError(f"train must have shape (n_train, n_features) with n_train >= 1, got {train.shape}")
        n_features = train.shape[1]
        if n_components is None:
            # Few features: the bound is faiss's own distance and only rounding needs re-ranking.
            # Many (784 pixels): 128 coordinates leave ~1% of MNIST queries needing a retry at k=3.
            n_components = n_features if n_features <= 64 else int(np.clip(n_features // 6, 64, 128))
        share = None
        if isinstance(n_components, float) and 0 < n_components < 1:
            share, n_components = n_components, n_features  # settled once the spectrum is known
        if not 1 <= n_components <= n_features:
            raise ValueError(f"n_components must be in [1, {n_features}] or a share in (0, 1), got {n_components}")
        if not (isinstance(residual_groups, (int, np.integer)) and residual_groups >= 1):
            raise ValueError(f"residual_groups must be a positive integer, got {residual_groups!r}")
        self.train = train
        self.n_candidates = n_candidates
        rng = np.random.default_rng(random_state)
        sample = train if len(train) <= _ROTATION_SAMPLE else train[np.sort(rng.choice(len(train), _ROTATION_SAMPLE, replace=False))]
        self.mean = sample.mean(axis=0, dtype=np.float64)
        self.basis, self.n_components = self._rotation(sample, int(n_components), share, residual_groups > 1)
        n_rest = n_features - self.n_components
        # First trailing axis of each residual group (consecutive groups, sizes as np.array_split makes them).
        sizes = [len(group) for group in np.array_split(np.arange(n_rest), min(int(residual_groups), n_rest))] if n_rest else []
        self._group_starts = np.cumsum([0, *sizes[:-1]]).astype(np.intp) if sizes else np.zeros(0, np.intp)
        self._faiss = None  # built by build(), at the latest by the first search
        bound_bytes = len(train) * (self.n_components + len(self._group_starts)) * np.dtype(np.float32).itemsize
        self.nbytes = bound_bytes + (0 if self.basis is None else self.basis.nbytes)
        # Queries searched, re-ranked beyond the first step, and searched again with a 4x deeper pool (benchmarks).
        self.stats = {"queries": 0, "extended": 0, "retries": 0}

    def build(self) -> BoundIndex:
        """Project the training rows and index them in faiss (done once; the first search does it otherwise).

        A model loaded from the cache only to be described (its size, its settings) never pays for it:
        about 1 s for the seed KNN's 60,000 standardised rows.
        """
        if self._faiss is None:
            import faiss

            bound = self._bound_coordinates(self.train)
            # faiss computes |a|^2 + |b|^2 - 2ab in float32 and the rotation is float32 too: the margin
            # (1e-4 of the squared norms, far above float32 rounding) keeps the bound a bound.
            self._max_sq_norm = float(np.max(np.einsum("ij,ij->i", bound, bound)))
            index = faiss.IndexFlatL2(bound.shape[1])
            index.add(bound)
            self._faiss = index
        return self

    def _rotation(self, sample: np.ndarray, n_components: int, share: float | None, keep_trailing: bool):
        """(basis, d): the d leading principal axes (all of them when ``keep_trailing``), or None when d = D."""
        n_features = sample.shape[1]
        if n_components == n_features and share is None:
            return None, n_features  # all coordinates kept: the bound is the distance itself, no rotation needed
        # float32 is plenty here: the basis only has to be (numerically) orthogonal, not accurate.
        centred = (sample - self.mean).astype(np.float32)
        from threadpoolctl import threadpool_limits

        # A 784x784 eigh is ~0.15 s on one BLAS thread but seconds with two contending threads.
        with threadpool_limits(1):
            values, vectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
        values, vectors = np.maximum(values[::-1], 0.0), vectors[:, ::-1]
        if share is not None:
            explained = np.cumsum(values) / max(float(values.sum()), 1e-300)
            n_components = int(min(n_features, np.searchsorted(explained, share) + 1))
        kept = vectors if keep_trailing else vectors[:, :n_components]
        return np.ascontiguousarray(kept, dtype=np.float32), n_components

    def _bound_coordinates(self, rows: np.ndarray) -> np.ndarray:
        """(n, d + g) float32: first d rotated coordinates and the norms of g residual groups; (n, D) centred rows when d = D."""
        if self.basis is None:
            return (rows - self.mean).astype(np.float32)
        d, n_groups = self.n_components, len(self._group_starts)
        out = np.empty((len(rows), d + n_groups), dtype=np.float32)
        for start in range(0, len(rows), 8192):
            block = slice(start, start + 8192)
            if n_groups == 1:  # |x - mean|^2 below needs float64: it loses the head's share to cancellation
                centred = rows[block].astype(np.float64) - self.mean
                rotated = centred.astype(np.float32) @ self.basis
            else:
                rotated = (rows[block].astype(np.float32) - self.mean.astype(np.float32)) @ self.basis
            out[block, :d] = rotated[:, :d]
            if n_groups > 1:
                residual = rotated[:, d:].astype(np.float64)
                out[block, d:] = np.sqrt(np.add.reduceat(residual * residual, self._group_starts, axis=1))
            elif n_groups == 1:
                # The rotation is orthogonal: |residual|^2 = |x - mean|^2 - |head|^2, without the full D x D product.
                head = rotated[:, :d]
                rest = np.einsum("ij,ij->i", centred, centred) - np.einsum("ij,ij->i", head, head, dtype=np.float64)
                out[block, -1] = np.sqrt(np.maximum(rest, 0.0))
        return out

    def search_squared(self, queries, k: int, *, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest training rows, as squared distances.

        Parameters
        ----------
        queries : ndarray of shape (n, D)
        k : int
        chunk_size : int, optional
            Queries per faiss call (default 4096).

        Returns
        -------
        squared : ndarray of shape (n, k), float64
            Squared Euclidean distances, ascending.
        indices : ndarray of shape (n, k), int64
            Training row indices; ties go to the smaller index.
        """
        train, queries = _check_pair(self.train, queries, k)
        self.build()
        chunk_size = chunk_size or _DEFAULT_CHUNK
        if self.n_candidates is not None:
            m = self.n_candidates
        elif self.basis is None:
            m = k + 8
        else:
            # The first re-ranking step; queries whose bound does not settle them go on to 4m, 16m, ...
            m = max(2 * k, k + 13)
        m = min(len(train), m)
        m = max(m, k)
        squared = np.empty((len(queries), k), dtype=np.float64)
        indices = np.empty((len(queries), k), dtype=np.int64)
        starts = progress.bar(range(0, len(queries), chunk_size), desc="k-NN search", unit="chunk")
        with _faiss_threads(1 if len(queries) < _SMALL_BATCH else None):
            for start in starts:
                stop = min(start + chunk_size, len(queries))
                squared[start:stop], indices[start:stop] = self._search_chunk(queries[start:stop], k, m)
        return squared, indices

    def _search_chunk(self, queries: np.ndarray, k: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        bound_q = self._bound_coordinates(queries)
        self.stats["queries"] += len(queries)
        margin = 1e-4 * (np.einsum("ij,ij->i", bound_q, bound_q).astype(np.float64) + self._max_sq_norm) + 1e-12
        out_sq = np.full((len(queries), k), np.inf)
        out_idx = np.full((len(queries), k), -1, dtype=np.int64)
        rows = np.arange(len(queries))
        n_train = len(self.train)
        # One faiss pass returns a pool of candidates, ranked by bound: its cost is the GEMM, the same for 16
        # candidates as for 256 (measured on 449 coordinates), so the pool is deep and only the re-ranking,
        # which costs per candidate, grows step by step for the queries that need it. Without a rotation
        # the bound is the distance itself: m settle nearly every query, and few coordinates make the
        # pool's selection, not the GEMM, the cost.
        pool = min(n_train, m if self.basis is None else max(m, _POOL))
        while True:
            lower, candidates = self._faiss.search(bound_q[rows], pool)
            rows = self._rerank_in_steps(queries, rows, lower, candidates, k, m, margin, out_sq, out_idx)
            if not len(rows):  # a pool of every training row settles every query
                break
            self.stats["retries"] += len(rows)
            out_sq[rows], out_idx[rows] = np.inf, -1  # the deeper pass starts these rows over
            pool = min(n_train, 4 * pool)
        return out_sq, out_idx

    def _rerank_in_steps(self, queries, rows, lower, candidates, k, m, margin, out_sq, out_idx) -> np.ndarray:
        """Exact distances to the first m, then 4m, 16m, ... pool candidates; returns the rows still unsure.

        A row is settled once the bound of its first candidate not yet re-ranked (less the rounding margin)
        clears its k-th exact distance: every training row not re-ranked is at least that far. At the
        pool's end the last bound stands for the rows beyond it.
        """
        pool = candidates.shape[1]
        position = np.arange(len(rows))  # each row's place in this pass's (lower, candidates)
        done, stop = 0, min(m, pool)

        def rerank(block, at, done, stop):
            new = candidates[at, done:stop].astype(np.int64)
            exact = _exact_sq_distances(self.train, queries[block], new)
            out_sq[block], out_idx[block] = _sort_rows(np.concatenate([out_sq[block], exact], axis=1),
                                                       np.concatenate([out_idx[block], new], axis=1), k)

        while len(rows):
            # Gathered candidates per block stay near _REFINE_BLOCK x 64 rows whatever the step's width.
            block_size = max(1, _REFINE_BLOCK * 64 // (stop - done))
            blocks = [(rows[i:i + block_size], position[i:i + block_size], done, stop)
                      for i in range(0, len(rows), block_size)]
            _map_blocks(rerank, blocks)
            if stop >= len(self.train):
                return rows[:0]
            next_bound = lower[position, min(stop, pool - 1)].astype(np.float64)
            unsure = next_bound - margin[rows] <= out_sq[rows, -1]
            rows, position = rows[unsure], position[unsure]
            if stop == pool:
                return rows
            done, stop = stop, min(pool, 4 * stop)
            self.stats["extended"] += len(rows)
        return rows


def _map_blocks(function, blocks: list) -> None:
    """``function(*block)`` for every block, on as many threads as there are cores.

    The exact re-ranking is numpy gathers and element-wise passes over memory, one thread each, that
    release the GIL; the blocks write disjoint rows. (Measured on the seed KNN's 10,000 test queries:
    1.9 s of re-ranking on one thread.)
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..timing import available_cpus

    workers = min(len(blocks), available_cpus())
    if workers <= 1:
        for block in blocks:
            function(*block)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(function, *block) for block in blocks]:
            done.result()


def exact_kneighbors(train, queries, k: int, *, engine: str = "auto",
                     chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest training rows of each query (Euclidean).

    Parameters
    ----------
    train : ndarray of shape (n_train, D)
        Training rows (uint8 pixels or float features).
    queries : ndarray of shape (n, D)
    k : int
        Neighbours per query, ``1 <= k <= n_train``.
    engine : {"auto", "bound", "faiss", "sklearn"}, default "auto"
        ``"auto"`` is ``"bound"`` (see the module docstring).
    chunk_size : int, optional
        Queries processed per step (bounds memory).

    Returns
    -------
    distances : ndarray of shape (n, k), float32
        Euclidean distances (not squared), ascending per row.
    indices : ndarray of shape (n, k), int64
        Training row indices.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    train, queries = _check_pair(train, queries, k)
    if engine in ("auto", "bound"):
        squared, indices = BoundIndex(train).search_squared(queries, k, chunk_size=chunk_size)
        return np.sqrt(squared).astype(np.float32), indices
    if engine == "faiss":
        import faiss

        index = faiss.IndexFlatL2(train.shape[1])
        index.add(np.ascontiguousarray(train, dtype=np.float32))
        chunk_size = chunk_size or _DEFAULT_CHUNK
        distances = np.empty((len(queries), k), dtype=np.float32)
        indices = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), chunk_size):
            block = slice(start, start + chunk_size)
            distances[block], indices[block] = index.search(np.ascontiguousarray(queries[block], dtype=np.float32), k)
        return np.sqrt(np.maximum(distances, 0)), indices
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(train)
    distances, indices = neighbours.kneighbors(queries)
    return distances.astype(np.float32), indices.astype(np.int64)
