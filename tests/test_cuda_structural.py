"""The CUDA structural scorer against the CPU core, and host-side tests of the shared scoring
functions of item_score.h (the arithmetic the kernel runs) against plain Python.

Tests marked ``gpu`` skip without a visible GPU; the host-side ones run in every build (the
shared functions are bound in every build), the others where the kernel is compiled in."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from grlm import _core
from grlm.errors import CudaError, InvalidInputError
from grlm.ground import Grounder
from grlm.ground.backend import resolve_device

PAD = 0xFFFFFFFE
UNKNOWN = 0xFFFFFFFF

needs_kernel = pytest.mark.skipif(not _core.cuda_compiled, reason="built without the CUDA kernel")

# Words with many substring relations (bag mode's 0.8 credits) besides the numbered vocabulary.
RELATED = [
    "hair",
    "hair-mask",
    "mask",
    "air",
    "water bottle",
    "water",
    "bottle",
    "se",
    "serum",
    "rum",
    "a",
    "ab",
    "abc",
]


def python_positional(item, query, weights) -> float:
    score = 0.0
    for j in range(len(item)):  # increasing j, as the C++ code
        if query[j] < PAD and item[j] == query[j]:
            score += weights[j]
    return score


def python_bag_units(item, table) -> int:
    # Once per occurrence, as the official code's term -> Term IDs lists.
    return sum(int(table[t]) for t in item if t < PAD)


# ---------------------------------------------------------------- shared functions, host side


def test_positional_item_score_matches_python():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        length = int(rng.integers(1, 17))
        item = rng.integers(0, 4, length).astype(np.uint32)
        item[rng.random(length) < 0.2] = PAD
        query = rng.integers(0, 4, length).astype(np.uint32)
        query[rng.random(length) < 0.15] = UNKNOWN
        query[rng.random(length) < 0.15] = PAD
        weights = [float(w) for w in rng.uniform(0.01, 3.0, length)]
        got = _core.item_score_positional(item, query, weights)
        assert got == python_positional(item.tolist(), query.tolist(), weights)


def test_padding_matches_nothing_even_against_padding():
    item = np.array([1, PAD, PAD], dtype=np.uint32)
    query = np.array([1, PAD, UNKNOWN], dtype=np.uint32)
    assert _core.item_score_positional(item, query, [1.0, 2.0, 4.0]) == 1.0


def test_bag_item_units_matches_python():
    rng = np.random.default_rng(2)
    for _ in range(2000):
        length = int(rng.integers(1, 17))
        vocab = int(rng.integers(1, 8))
        item = rng.integers(0, vocab, length).astype(np.uint32)  # repeats: credited each time
        item[rng.random(length) < 0.2] = PAD
        table = rng.integers(0, 5 * 720720, vocab).astype(np.int32)
        table[rng.random(vocab) < 0.5] = 0
        assert _core.item_score_bag_units(item, table) == python_bag_units(item, table)


def test_ranks_before_is_score_desc_then_tie_rank_asc():
    assert _core.ranks_before(2.0, 9, 1.0, 0)
    assert not _core.ranks_before(1.0, 0, 2.0, 9)
    assert _core.ranks_before(1.0, 3, 1.0, 4)
    assert not _core.ranks_before(1.0, 4, 1.0, 4)
    rng = random.Random(3)
    pairs = [(rng.choice([0.5, 1.0, 1.5]), r) for r in rng.sample(range(100), 40)]
    ordered = sorted(
        pairs,
        key=functools.cmp_to_key(
            lambda a, b: (
                -1 if _core.ranks_before(*a, *b) else (1 if _core.ranks_before(*b, *a) else 0)
            )
        ),
    )
    assert ordered == sorted(pairs, key=lambda p: (-p[0], p[1]))


def random_catalog(seed: int, n: int, length: int, vocab_size: int):
    """Term IDs over a small vocabulary (many shared terms), some shorter than L, some duplicated
    (collisions), priors with ties."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)] + RELATED
    term_ids = {}
    for i in range(n):
        if i > 0 and rng.random() < 0.05:
            term_ids[f"item{i}"] = list(term_ids[f"item{rng.randrange(i)}"])  # collision
            continue
        size = length if rng.random() < 0.8 else rng.randint(1, length)
        term_ids[f"item{i}"] = [rng.choice(vocab) for _ in range(size)]
    priors = {item: float(rng.choice([0, 0, 1, 2])) for item in term_ids if rng.random() < 0.5}
    return term_ids, priors, vocab


def random_queries(seed: int, term_ids, vocab, count: int, length: int):
    """Catalog Term IDs, perturbed ones, shorter ones, and unknown terms (some of them substrings
    or superstrings of vocabulary terms)."""
    rng = random.Random(seed)
    items = list(term_ids.values())
    unknown = ["zzz", "hair-maskk", "erum", "w", "unknown term"]
    queries = []
    for _ in range(count):
        query = list(rng.choice(items))
        for j in range(len(query)):
            r = rng.random()
            if r < 0.3:
                query[j] = rng.choice(vocab)
            elif r < 0.4:
                query[j] = rng.choice(unknown)
        if rng.random() < 0.2:
            query = query[: rng.randint(1, len(query))]
        queries.append(query)
    return queries


def expected_arrays(result_tuple, k: int):
    """CPU results (hits, offsets, items, scores) as the CUDA layout (items -1, scores 0 padded)."""
    _, offsets, items, scores = result_tuple
    q = len(offsets) - 1
    out_items = np.full((q, k), -1, dtype=np.int32)
    out_scores = np.zeros((q, k), dtype=np.float64)
    counts = np.diff(offsets).astype(np.int32)
    for i in range(q):
        c = counts[i]
        out_items[i, :c] = items[offsets[i] : offsets[i + 1]]
        out_scores[i, :c] = scores[offsets[i] : offsets[i + 1]]
    return out_items, out_scores, counts


@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_shared_functions_reproduce_the_cpu_core(mode):
    """Brute force with the shared functions + RanksBefore order == the CPU core's inverted-index
    top-k, so the kernel (which runs exactly these functions) has the CPU core as its oracle."""
    term_ids, priors, vocab = random_catalog(4, 300, 4, 12)
    grounder = Grounder(term_ids, mode=mode, term_id_length=4, priors=priors)
    core = grounder._index()
    queries = random_queries(5, term_ids, vocab, 40, 4)
    ids, (offsets, credit_terms, credit_units) = grounder.prepare(queries)
    matrix = grounder.term_matrix()
    tie_rank = grounder.tie_rank()
    weights = grounder.weights
    k = 25
    expected = expected_arrays(core.structural_top_k(queries, k), k)
    for q in range(len(queries)):
        if mode == "bag":
            table = np.zeros(len(grounder.vocab), dtype=np.int32)
            for c in range(offsets[q], offsets[q + 1]):
                table[credit_terms[c]] += credit_units[c]
            scores = [
                _core.item_score_bag_units(row, table) / _core.bag_units_per_point for row in matrix
            ]
        else:
            scores = [_core.item_score_positional(row, ids[q], weights) for row in matrix]
        ranked = sorted(
            (i for i in range(len(matrix)) if scores[i] > 0),
            key=lambda i: (-scores[i], tie_rank[i]),
        )[:k]
        count = expected[2][q]
        assert ranked == expected[0][q, :count].tolist()
        assert [scores[i] for i in ranked] == expected[1][q, :count].tolist()


# ---------------------------------------------------------------- device selection without a GPU


def test_auto_device_falls_back_to_cpu_without_error():
    term_ids = {"a": ["x", "y"], "b": ["x", "z"]}
    grounder = Grounder(term_ids, device="auto")
    expected = "cuda" if _core.cuda_compiled and _core.cuda_device_count() > 0 else "cpu"
    assert grounder.device == expected == resolve_device("auto")
    assert grounder.ground(["x", "q"], k=2).item_ids == ("a", "b")


def test_cpu_grounder_holds_no_gpu_scorer_and_the_core_takes_none_as_the_cpu_scorer():
    grounder = Grounder({"a": ["x", "y"], "b": ["x", "z"], "c": ["x", "z"]})
    assert grounder.snapshot()._backend is None
    native = grounder.snapshot()._native
    queries = [["x", "y"], ["x", "z"], ["x", "q"], ["w"]]
    for query in queries:
        assert native.ground_one(query, 2, None) == native.ground_one(query, 2)
    for got, want in zip(
        native.ground_batch(queries, 2, 1, None), native.ground_batch(queries, 2, 1)
    ):
        assert np.array_equal(got, want)
    with pytest.raises(TypeError):
        native.ground_one(["x"], 2, "gpu")  # a backend is a scorer object, not a name
    assert not native.scores_base(None)


def test_max_top_k_and_default_weights_come_from_the_core():
    assert _core.MAX_TOP_K == 1024
    assert _core.default_position_weights(3) == [1.0, 0.5, 1.0 / 3]
    assert Grounder({"a": ["x", "y", "z"]}).weights == _core.default_position_weights(3)
    with pytest.raises(InvalidInputError, match="term_id_length"):
        _core.default_position_weights(0)


class _RecordingNative:
    """Stands in for _core.CudaStructuralScorer without a GPU: records what top_k receives."""

    def __init__(self, mode: str, length: int):
        self.mode, self.term_id_length, self.calls = mode, length, []

    def top_k(self, ids, k, *credits):
        self.calls.append((ids, k, credits))
        q = ids.shape[0]
        return (np.full((q, k), -1, np.int32), np.zeros((q, k)), np.zeros(q, np.int32))


@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_scorer_input_kinds_without_a_gpu(mode):
    """top_k takes Term IDs as str (encoded by Grounder.prepare) or an integer array of ids
    (numpy, a torch CPU tensor, any DLPack producer); the host path passes them on unchanged."""
    torch = pytest.importorskip("torch")
    from grlm.ground.cuda import CudaStructuralScorer

    grounder = Grounder({"a": ["x", "y"], "b": ["x", "z"], "c": ["hair-mask", "z"]}, mode=mode)
    scorer = object.__new__(CudaStructuralScorer)
    native = _RecordingNative(mode, grounder.term_id_length)
    scorer._init(native, grounder)
    queries = [["x", "q"], ["mask", "z"]]
    ids, credits = grounder.prepare(queries)
    assert ids.dtype == np.uint32 and ids.shape == (2, 2) and ids[0, 1] == UNKNOWN
    scorer.top_k(queries, k=3)
    for encoded in (ids, ids.astype(np.int64), torch.from_numpy(ids.astype(np.int64))):
        scorer.top_k(encoded, k=3, credits=credits if mode == "bag" else None)
    for got_ids, k, got_credits in native.calls:
        assert np.array_equal(got_ids, ids) and got_ids.dtype == np.uint32 and k == 3
        if mode == "bag":
            assert all(np.array_equal(a, b) for a, b in zip(got_credits, credits))
        else:
            assert got_credits == (None, None, None)
    with pytest.raises(InvalidInputError, match="k must be in 1..1024"):
        scorer.top_k(queries, k=_core.MAX_TOP_K + 1)
    with pytest.raises(InvalidInputError, match="shape"):
        scorer.top_k(np.zeros((2, 3), dtype=np.uint32), k=3)
    with pytest.raises(TypeError):
        scorer.top_k([np.zeros(2, dtype=np.uint32)], k=3)  # id rows go in one array


def test_unknown_device_is_an_input_error():
    with pytest.raises(InvalidInputError, match="tpu"):
        resolve_device("tpu")
    with pytest.raises(InvalidInputError):
        Grounder({"a": ["x"]}, device="tpu")


@pytest.mark.skipif(
    _core.cuda_compiled and _core.cuda_device_count() > 0, reason="a GPU is visible"
)
def test_cuda_without_gpu_raises_cuda_error():
    with pytest.raises(CudaError):
        Grounder({"a": ["x"]}, device="cuda")
    with pytest.raises(CudaError):
        resolve_device("cuda")
    from grlm.ground.cuda import CudaStructuralScorer

    with pytest.raises(CudaError):
        CudaStructuralScorer(Grounder({"a": ["x"]}))
    if _core.cuda_compiled:
        with pytest.raises(CudaError, match="no CUDA device"):
            _core.CudaStructuralScorer(Grounder({"a": ["x"]}).snapshot()._native, -1)


@needs_kernel
def test_kernel_is_reported_compiled():
    from grlm.ground.backend import cuda_compiled

    assert cuda_compiled() is True


# ---------------------------------------------------------------- GPU against the CPU core


@functools.cache
def gpu_case(n: int, length: int, mode: str):
    from grlm.ground.cuda import CudaStructuralScorer

    term_ids, priors, vocab = random_catalog(n * 31 + length, n, length, max(4, n // 40))
    grounder = Grounder(term_ids, mode=mode, term_id_length=length, priors=priors)
    return grounder, CudaStructuralScorer(grounder), term_ids, vocab


CATALOGS = [(1, 1), (257, 3), (5003, 5), (20011, 5), (70001, 8)]


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
@pytest.mark.parametrize("n,length", CATALOGS)
@pytest.mark.parametrize("num_queries", [1, 1000])
@pytest.mark.parametrize("k", [1, 10, 1024])
def test_gpu_matches_cpu_core(mode, n, length, num_queries, k):
    grounder, scorer, term_ids, vocab = gpu_case(n, length, mode)
    queries = random_queries(n + num_queries + k, term_ids, vocab, num_queries, length)
    expected = expected_arrays(grounder._index().structural_top_k(queries, k), k)
    got = scorer.top_k(queries, k=k)
    assert np.array_equal(got.counts, expected[2])
    assert np.array_equal(got.items, expected[0])
    assert np.array_equal(got.scores, expected[1])  # bit-identical


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
@pytest.mark.parametrize("k", [1, 1024])
def test_gpu_device_path_writes_every_output_element(mode, k):
    """Outputs poisoned before the run: every element must be written (items -1 and scores 0.0
    past the end of each query's results)."""
    import torch

    grounder, scorer, term_ids, vocab = gpu_case(5003, 5, mode)
    queries = random_queries(11, term_ids, vocab, 300, 5)
    expected = expected_arrays(grounder._index().structural_top_k(queries, k), k)
    ids, (offsets, terms, units) = scorer.prepare(queries)
    dev = torch.device("cuda", scorer.device)
    ids_t = torch.from_numpy(ids.view(np.int32)).to(dev)
    credits = [
        torch.from_numpy(np.asarray(a)).to(dev) for a in (offsets, terms.view(np.int32), units)
    ]
    for poison in (123456, -5):
        items = torch.full((len(queries), k), poison, dtype=torch.int32, device=dev)
        scores = torch.full((len(queries), k), float("nan"), dtype=torch.float64, device=dev)
        counts = torch.full((len(queries),), poison, dtype=torch.int32, device=dev)
        stream = torch.cuda.current_stream(dev)
        scorer._native.top_k_device(
            len(queries),
            k,
            ids_t.data_ptr(),
            items.data_ptr(),
            scores.data_ptr(),
            counts.data_ptr(),
            stream.cuda_stream,
            *[c.data_ptr() for c in credits],
        )
        stream.synchronize()
        assert np.array_equal(counts.cpu().numpy(), expected[2])
        assert np.array_equal(items.cpu().numpy(), expected[0])
        assert np.array_equal(scores.cpu().numpy(), expected[1])


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_gpu_torch_and_numpy_inputs(mode):
    import torch

    grounder, scorer, term_ids, vocab = gpu_case(20011, 5, mode)
    queries = random_queries(12, term_ids, vocab, 64, 5)
    k = 50
    expected = expected_arrays(grounder._index().structural_top_k(queries, k), k)
    ids, credits = scorer.prepare(queries)
    got_np = scorer.top_k(ids, k=k, credits=credits if mode == "bag" else None)
    assert np.array_equal(got_np.items, expected[0]) and np.array_equal(got_np.scores, expected[1])
    got_t = scorer.top_k(
        torch.from_numpy(ids.astype(np.int64)).cuda(),
        k=k,
        credits=credits if mode == "bag" else None,
    )
    assert got_t.items.is_cuda
    assert np.array_equal(got_t.items.cpu().numpy(), expected[0])
    assert np.array_equal(got_t.scores.cpu().numpy(), expected[1])
    assert np.array_equal(got_t.counts.cpu().numpy(), expected[2])


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_gpu_grounder_matches_cpu_grounder(mode):
    grounder_cpu, _, term_ids, vocab = gpu_case(5003, 5, mode)
    grounder_gpu = Grounder(term_ids, mode=mode, term_id_length=5, priors=None, device="cuda")
    grounder_cpu = Grounder(term_ids, mode=mode, term_id_length=5, priors=None)
    assert grounder_gpu.device == "cuda"
    queries = random_queries(13, term_ids, vocab, 500, 5) + [
        list(t) for t in list(term_ids.values())[:50]
    ]
    for k in (1, 20):
        got = grounder_gpu.ground_batch(queries, k=k)
        want = grounder_cpu.ground_batch(queries, k=k)
        assert np.array_equal(got.hits, want.hits)
        assert np.array_equal(got.offsets, want.offsets)
        assert np.array_equal(got.items, want.items)
        assert np.array_equal(got.scores, want.scores)
    assert grounder_gpu.ground(queries[0], k=5) == grounder_cpu.ground(queries[0], k=5)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 255, 256, 257, 300_007])
@pytest.mark.parametrize("num_queries,k", [(1, 1), (1, 1024), (1000, 1), (1000, 1024), (37, 100)])
def test_gpu_raw_matrix_matches_numpy_reference(n, num_queries, k):
    """from_arrays on random matrices (many equal scores, so ties decide) vs a numpy brute force."""
    from grlm.ground.cuda import CudaStructuralScorer

    rng = np.random.default_rng(n + num_queries + k)
    length, vocab = 5, 7
    terms = rng.integers(0, vocab, (n, length)).astype(np.uint32)
    terms[rng.random((n, length)) < 0.1] = PAD
    tie_rank = rng.permutation(n).astype(np.uint32)
    weights = [1.0, 0.5, 0.25, 0.125, 0.3]
    scorer = CudaStructuralScorer.from_arrays(
        terms, tie_rank=tie_rank, vocab_size=vocab, weights=weights
    )
    queries = rng.integers(0, vocab + 2, (num_queries, length)).astype(np.uint32)
    queries[rng.random(queries.shape) < 0.1] = UNKNOWN
    got = scorer.top_k(queries, k=k)
    for q in sorted({0, num_queries - 1, *range(0, num_queries, max(1, num_queries // 40))}):
        score = np.zeros(n)
        for j in range(length):
            if queries[q, j] < PAD:
                score = score + np.where(terms[:, j] == queries[q, j], weights[j], 0.0)
        order = np.lexsort((tie_rank, -score))
        order = order[score[order] > 0][:k]
        c = len(order)
        assert got.counts[q] == c
        assert np.array_equal(got.items[q, :c], order)
        assert np.array_equal(got.scores[q, :c], score[order])
        assert (got.items[q, c:] == -1).all() and (got.scores[q, c:] == 0).all()


@pytest.mark.gpu
def test_gpu_bad_input_errors():
    _, scorer, _, _ = gpu_case(257, 3, "positional")
    with pytest.raises(InvalidInputError, match="k must be"):
        scorer.top_k([["w1"]], k=0)
    with pytest.raises(InvalidInputError, match="k must be"):
        scorer.top_k([["w1"]], k=_core.MAX_TOP_K + 1)
    with pytest.raises(InvalidInputError, match="shape"):
        scorer.top_k(np.zeros((2, 4), dtype=np.uint32), k=3)
    with pytest.raises(InvalidInputError):
        scorer.top_k([[]], k=3)  # empty Term ID
    top = scorer.top_k(np.zeros((0, 3), dtype=np.uint32), k=3)
    assert top.items.shape == (0, 3) and top.counts.shape == (0,)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_gpu_grounder_serves_k_above_max_top_k_on_the_cpu_scorer(mode):
    """The documented rule: k above MAX_TOP_K runs on the CPU scorer, with the same results."""
    _, _, term_ids, vocab = gpu_case(5003, 5, mode)
    grounder_gpu = Grounder(term_ids, mode=mode, term_id_length=5, device="cuda")
    grounder_cpu = Grounder(term_ids, mode=mode, term_id_length=5)
    queries = random_queries(14, term_ids, vocab, 20, 5)
    for k in (_core.MAX_TOP_K, _core.MAX_TOP_K + 1, 3000):
        got = grounder_gpu.ground_batch(queries, k=k)
        want = grounder_cpu.ground_batch(queries, k=k)
        assert np.array_equal(got.offsets, want.offsets)
        assert np.array_equal(got.items, want.items)
        assert np.array_equal(got.scores, want.scores)
        assert grounder_gpu.ground(queries[0], k=k) == grounder_cpu.ground(queries[0], k=k)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_gpu_scorer_is_a_backend_of_the_core_grounder(mode):
    _, _, term_ids, vocab = gpu_case(20011, 5, mode)
    gpu = Grounder(term_ids, mode=mode, term_id_length=5, device="cuda")
    scorer = gpu.snapshot()._backend
    assert gpu.snapshot()._native.scores_base(scorer)
    queries = random_queries(15, term_ids, vocab, 300, 5)
    want = gpu._index().structural_top_k(queries, 50)
    got = gpu._index().structural_top_k(queries, 50, 0, scorer)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)
    other = Grounder(dict(list(term_ids.items())[:100]), mode=mode, term_id_length=5)
    assert not other.snapshot()._native.scores_base(scorer)
    with pytest.raises(InvalidInputError, match="not over this catalog"):
        other.snapshot()._native.ground_batch([["w1"]], 5, 1, scorer)


@pytest.mark.gpu
def test_gpu_grounder_scores_a_new_base_with_a_new_scorer():
    """A compaction gives the catalog a new base of the same size: its snapshots get a scorer of
    their own, and the old one is refused by the new base."""
    term_ids = {f"i{n}": [f"t{n % 7}", f"u{n % 5}"] for n in range(50)}
    gpu = Grounder(term_ids, device="cuda")
    old = gpu.snapshot()
    gpu.update_items({"i3": ["t1", "u1"]})
    assert gpu.snapshot()._backend is old._backend  # the base did not change
    gpu.compact()
    new = gpu.snapshot()
    assert new._backend is not old._backend and new._native.scores_base(new._backend)
    with pytest.raises(InvalidInputError, match="not over this catalog"):
        new._native.ground_batch([["t1", "u1"]], 5, 1, old._backend)
    term_ids["i3"] = ["t1", "u1"]
    want = Grounder(term_ids).ground_batch([["t1", "u1"], ["t1"]], k=5)
    assert list(gpu.ground_batch([["t1", "u1"], ["t1"]], k=5)) == list(want)
