"""Exact k-NN search engines agree with scikit-learn's brute force."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from lussi.models.search import BoundIndex, exact_kneighbors


def _sklearn(train, queries, k):
    distances, indices = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(train).kneighbors(queries)
    return distances, indices


def _integer_data(seed=0, n_train=600, n_queries=80, n_features=100):
    rng = np.random.default_rng(seed)
    # Sparse-ish uint8 rows like MNIST pixels, with duplicated training rows to force exact ties.
    train = (rng.random((n_train, n_features)) < 0.3) * rng.integers(0, 256, (n_train, n_features))
    train = train.astype(np.uint8)
    if n_train >= 350:
        train[300:350] = train[:50]
    queries = np.concatenate([train[:20], rng.integers(0, 256, (n_queries - 20, n_features))]).astype(np.uint8)
    return train, queries


def _distinct_mask(train, queries, k):
    """(n, k) mask of neighbour ranks whose distance ties with no other training row.

    Computed from k + 1 reference neighbours so a tie across the k-th place counts too.
    """
    d, _ = _sklearn(train, queries, min(k + 1, len(train)))
    padded = np.pad(d, ((0, 0), (1, 1)), constant_values=np.nan)
    distinct = (padded[:, 1:-1] != padded[:, :-2]) & (padded[:, 1:-1] != padded[:, 2:])
    return distinct[:, :k]


@pytest.mark.parametrize("k", [1, 7])
def test_bound_engine_matches_sklearn_on_integer_data_with_ties(k):
    train, queries = _integer_data()
    distances, indices = exact_kneighbors(train, queries, k, engine="bound")
    ref_d, ref_i = _sklearn(train, queries, k)
    assert distances.dtype == np.float32 and indices.dtype == np.int64
    assert distances.shape == indices.shape == (len(queries), k)
    # Integer data: both sides are exact before the final float32 rounding.
    np.testing.assert_array_equal(distances, ref_d.astype(np.float32))
    distinct = _distinct_mask(train, queries, ref_d.shape[1])
    np.testing.assert_array_equal(indices[distinct], ref_i[distinct])
    # Duplicated rows tie; the smaller index comes first.
    assert indices[0, 0] == 0 and distances[0, 0] == 0
    if k > 1:
        assert list(indices[0, :2]) == [0, 300]


@pytest.mark.parametrize("k", [1, 5])
def test_bound_engine_matches_sklearn_on_float_data(k):
    rng = np.random.default_rng(1)
    # Correlated features so the PCA bound prunes, as on images.
    train = rng.normal(size=(800, 12)) @ rng.normal(size=(12, 60)) + 0.1 * rng.normal(size=(800, 60))
    queries = rng.normal(size=(50, 12)) @ rng.normal(size=(12, 60))
    train, queries = train.astype(np.float32), queries.astype(np.float32)
    distances, indices = exact_kneighbors(train, queries, k)
    ref_d, ref_i = _sklearn(train, queries, k)
    np.testing.assert_allclose(distances, ref_d, rtol=1e-5)
    np.testing.assert_array_equal(indices, ref_i)
    # A 6-coordinate bound plus the residual norm: a real filter, same answer.
    index = BoundIndex(train, n_components=6, n_candidates=k + 2)
    squared, indices = index.search_squared(queries, k)
    np.testing.assert_allclose(np.sqrt(squared), ref_d, rtol=1e-5)
    np.testing.assert_array_equal(indices, ref_i)
    assert index.stats["queries"] == len(queries)


def _standardised_pixels(seed=4, n_train=900, n_queries=60):
    """Sparse pixels divided by their spread, as StandardScaler leaves them: rare pixels get huge values."""
    train, queries = _integer_data(seed=seed, n_train=n_train, n_queries=n_queries, n_features=120)
    train[:, :40] = np.where(np.random.default_rng(seed).random((n_train, 40)) < 0.02, train[:, :40], 0)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return ((train - mean) / std).astype(np.float32), ((queries - mean) / std).astype(np.float32)


def test_residual_groups_keep_the_bound_a_lower_bound_and_the_answer_exact():
    train, queries = _standardised_pixels()
    ref_d, ref_i = _sklearn(train, queries, 3)
    plain = BoundIndex(train, n_components=20, n_candidates=4)
    grouped = BoundIndex(train, n_components=20, n_candidates=4, residual_groups=16)
    for index in (plain, grouped):
        squared, indices = index.search_squared(queries, 3)
        np.testing.assert_allclose(np.sqrt(squared), ref_d, rtol=1e-5)
        np.testing.assert_array_equal(indices, ref_i)
    # Every pair's bound is at most its distance, and the groups' bound is the tighter one.
    bounds = {}
    for name, index in (("plain", plain), ("grouped", grouped)):
        b_train, b_queries = index._bound_coordinates(train[:200]), index._bound_coordinates(queries)
        bounds[name] = ((b_queries[:, None, :] - b_train[None]) ** 2).sum(-1)
    exact = ((queries[:, None, :].astype(np.float64) - train[None, :200]) ** 2).sum(-1)
    assert (bounds["grouped"] <= exact * (1 + 1e-5) + 1e-6).all()
    assert (bounds["grouped"] >= bounds["plain"] * (1 - 1e-5) - 1e-6).all()
    assert bounds["grouped"].mean() > bounds["plain"].mean()


def test_a_share_of_variance_picks_the_number_of_leading_coordinates():
    train, _ = _standardised_pixels()
    centred = train[:len(train)].astype(np.float64) - train.mean(axis=0)
    values = np.linalg.eigvalsh(centred.T @ centred)[::-1]
    explained = np.cumsum(values) / values.sum()
    index = BoundIndex(train, n_components=0.9, residual_groups=4)
    assert index.n_components == int(np.searchsorted(explained, 0.9) + 1)
    assert index._bound_coordinates(train[:3]).shape == (3, index.n_components + 4)
    with pytest.raises(ValueError, match="residual_groups must be a positive integer"):
        BoundIndex(train, residual_groups=0)


def test_bound_index_exact_when_bound_is_loose():
    # Few candidates and a 1-component bound force retries with more candidates on most queries.
    train, queries = _integer_data(seed=2)
    index = BoundIndex(train, n_components=1, n_candidates=3)
    squared, indices = index.search_squared(queries, 3)
    ref_d, ref_i = _sklearn(train, queries, 3)
    np.testing.assert_array_equal(np.sqrt(squared), ref_d)
    distinct = _distinct_mask(train, queries, ref_d.shape[1])
    np.testing.assert_array_equal(indices[distinct], ref_i[distinct])
    # Both ways past the first 3 candidates were taken: deeper re-ranking, and a second, deeper faiss pass.
    assert index.stats["extended"] > 0 and index.stats["retries"] > 0
    assert all(len(set(row)) == 3 for row in indices.tolist())  # a row re-ranked twice is not counted twice


def test_reranking_in_many_blocks_on_threads_gives_the_same_answer(monkeypatch):
    import lussi.models.search as search

    train, queries = _standardised_pixels(n_queries=200)
    ref_d, ref_i = _sklearn(train, queries, 3)
    monkeypatch.setattr(search, "_REFINE_BLOCK", 1)  # 64 candidate rows per block: dozens of blocks per step
    calls = []
    real_map = search._map_blocks
    monkeypatch.setattr(search, "_map_blocks", lambda function, blocks: calls.append(len(blocks)) or real_map(function, blocks))
    index = BoundIndex(train, n_components=20, n_candidates=4, residual_groups=8)
    squared, indices = index.search_squared(queries, 3)
    assert max(calls) > 1
    np.testing.assert_allclose(np.sqrt(squared), ref_d, rtol=1e-5)
    np.testing.assert_array_equal(indices, ref_i)


@pytest.mark.parametrize("engine", ["faiss", "sklearn", "auto"])
def test_other_engines_agree(engine):
    train, queries = _integer_data(seed=3)
    distances, indices = exact_kneighbors(train, queries, 4, engine=engine, chunk_size=16)
    ref_d, ref_i = _sklearn(train, queries, 4)
    np.testing.assert_allclose(distances, ref_d, rtol=1e-4, atol=1e-2)
    distinct = _distinct_mask(train, queries, ref_d.shape[1])
    np.testing.assert_array_equal(indices[distinct], ref_i[distinct])


def test_k_equal_to_n_train_returns_every_row():
    train, queries = _integer_data(n_train=40, n_queries=25)
    _, indices = exact_kneighbors(train, queries, 40)
    assert (np.sort(indices, axis=1) == np.arange(40)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": 601}, "exceeds the number of training rows"),
        ({"k": 1, "engine": "annoy"}, "engine must be one of"),
        ({"k": 1, "queries": np.zeros((3, 99))}, "train has 100 features but queries have 99"),
        ({"k": 1, "queries": np.zeros((3, 10, 10))}, "must be 2-D"),
    ],
)
def test_validation_errors(kwargs, message):
    train, queries = _integer_data()
    args = {"train": train, "queries": queries, **kwargs}
    with pytest.raises(ValueError, match=message):
        exact_kneighbors(args.pop("train"), args.pop("queries"), args.pop("k"), **args)


def _exact_reference(train, queries, k):
    """Brute force in float64 with ties to the smaller index: the answer the bound engine promises."""
    squared = ((queries[:, None, :].astype(np.float64) - train[None].astype(np.float64)) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(train)), squared.shape), squared), axis=-1)[:, :k]
    return np.take_along_axis(squared, order, axis=1), order


@pytest.mark.parametrize("n_components, n_candidates, k", [(5, 3, 3), (40, 4, 3), (80, 1, 1), (80, 2, 1)])
def test_each_reranking_step_stops_only_when_the_next_bound_clears_the_kth_distance(n_components, n_candidates, k):
    # Bounds of middling tightness: many queries go through several steps and some through a second pass,
    # so a certificate read one candidate too far ahead, or a step that skips candidates, changes answers.
    train, queries = _standardised_pixels(seed=0, n_queries=300)
    ref_sq, ref_i = _exact_reference(train, queries, k)
    index = BoundIndex(train, n_components=n_components, n_candidates=n_candidates, residual_groups=4)
    squared, indices = index.search_squared(queries, k)
    np.testing.assert_array_equal(indices, ref_i)
    np.testing.assert_allclose(squared, ref_sq, rtol=1e-9)
    assert index.stats["extended"] > 0


@pytest.mark.parametrize("settings", [{}, {"n_components": 6}, {"n_components": 0.9, "residual_groups": 4}])
def test_the_index_is_built_on_first_search_and_its_size_is_known_before(settings):
    train, queries = _standardised_pixels()
    index = BoundIndex(train, **settings)
    size_before = index.nbytes
    assert index._faiss is None
    index.search_squared(queries[:2], 1)
    built = index._faiss.ntotal * index._faiss.d * 4 + (0 if index.basis is None else index.basis.nbytes)
    assert index._faiss.ntotal == len(train) and size_before == index.nbytes == built
