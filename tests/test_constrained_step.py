"""The constrained top-k step: torch path against a brute-force Python loop, Triton kernel against
the torch path (on the CPU through TRITON_INTERPRET=1, on a GPU when there is one)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from grlm.decoding import TokenTrie
from grlm.decoding.constrained_step import constrained_topk
from hypothesis import given, settings
from hypothesis import strategies as st

EOS = 1
VOCAB = 12


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    from _decoding_models import one_thread

    with one_thread():
        yield


def brute_force(logits, node, score, trie, k, normalization):
    out = []
    for r in range(logits.shape[0]):
        allowed = trie.allowed_tokens(int(node[r])) if math.isfinite(score[r]) else []
        row = logits[r].double()
        if normalization == "full":
            lp = torch.log_softmax(row, -1)
        else:
            lp = row - torch.logsumexp(row[allowed], 0) if allowed else row
        cands = sorted(((float(lp[t] + score[r]), t) for t in allowed), key=lambda c: (-c[0], c[1]))
        out.append(cands[:k])
    return out


def random_trie(data):
    seqs = data.draw(
        st.dictionaries(
            st.integers(0, 40),
            st.lists(st.integers(2, VOCAB - 1), max_size=3).map(lambda s: s + [EOS]),
            min_size=1,
            max_size=30,
        )
    )
    trie = TokenTrie.from_sequences(seqs, EOS)
    for key in data.draw(st.lists(st.sampled_from(sorted(seqs)), max_size=5)):
        trie.remove(key)
    return trie


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(1, 6), st.sampled_from(["full", "allowed"]))
def test_torch_path_matches_brute_force(data, k, normalization):
    trie = random_trie(data)
    if trie.num_items == 0:
        return
    rows = data.draw(st.integers(1, 6))
    logits = torch.randn(rows, VOCAB) * 3
    node = torch.tensor([data.draw(st.integers(0, trie.num_nodes - 1)) for _ in range(rows)])
    score = torch.randn(rows)
    score[0] = float("-inf") if data.draw(st.booleans()) else score[0]
    values, edges = constrained_topk(
        logits, node, score, trie.arrays("cpu"), k, normalization=normalization, backend="torch"
    )
    arrays = trie.arrays("cpu")
    expected = brute_force(logits, node, score, trie, k, normalization)
    for r in range(rows):
        got = [
            (float(values[r, j]), int(arrays.child_token[edges[r, j]]))
            for j in range(k)
            if edges[r, j] >= 0
        ]
        assert [t for _, t in got] == [t for _, t in expected[r]]
        for (gv, _), (ev, _) in zip(got, expected[r]):
            assert gv == pytest.approx(ev, abs=1e-4)
        assert all(values[r, j] == float("-inf") for j in range(len(got), k))


KERNEL_CHECK = r"""
import torch
from grlm.decoding import TokenTrie
from grlm.decoding.constrained_step import constrained_topk
torch.manual_seed(0)
EOS, V = 1, 300
g = torch.Generator().manual_seed(1)
seqs = {i: torch.randint(2, 12, (int(torch.randint(0, 3, (1,), generator=g)),), generator=g).tolist()
        + [EOS] for i in range(40)}
seqs.update({100 + i: [2 + (7 * i) % (V - 2), EOS] for i in range(90)})  # a wide root (> 64 edges)
trie = TokenTrie.from_sequences(seqs, EOS)
for i in range(0, 40, 7):
    trie.remove(i)
arrays = trie.arrays("cpu")
rows = 9
logits = torch.randn(rows, V) * 2
logits[1] = logits[1].round()  # exact ties, -0.0 and +0.0 included
logits[2, :] = -logits[2, :].abs().round()
node = torch.randint(0, trie.num_nodes, (rows,)).int()
node[:3] = 0
score = torch.randn(rows)
score[4] = float("-inf")
for normalization in ("full", "allowed"):
    for k in (3, 40):
        a = constrained_topk(logits, node, score, arrays, k, normalization=normalization, backend="torch")
        b = constrained_topk(logits, node, score, arrays, k, normalization=normalization, backend="triton")
        assert torch.equal(a[1], b[1]), (normalization, k)
        finite = torch.isfinite(a[0])
        assert torch.equal(finite, torch.isfinite(b[0]))
        torch.testing.assert_close(a[0][finite], b[0][finite], rtol=1e-6, atol=1e-5)
print("kernel ok")

# The decoder on the kernel equals the decoder on the torch path.
import sys
sys.path.insert(0, TESTS)
torch.set_num_threads(1)
from _decoding_models import random_catalog
from _tiny_lm import tiny_model, word_tokenizer
from grlm.decoding.beam_search import BeamSearchDecoder
tok = word_tokenizer()
model = tiny_model(len(tok), kind="qwen3", init_range=0.5)
trie = TokenTrie.from_items(random_catalog(30), tok)
prompts = [tok("user bought a red shoe . next :")["input_ids"], tok("the hat")["input_ids"]]
for normalization in ("full", "allowed"):
    a = BeamSearchDecoder(model, trie, num_beams=4, backend="torch",
                          normalization=normalization).search(prompts)
    b = BeamSearchDecoder(model, trie, num_beams=4, backend="triton",
                          normalization=normalization).search(prompts)
    for x, y in zip(a, b):
        assert [h.tokens for h in x] == [h.tokens for h in y], normalization
        assert all(abs(h.score - g.score) < 1e-4 for h, g in zip(x, y))
print("decoder ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_triton_kernel_and_decoder_in_interpreter_match_torch():
    # The child sees the same grlm as this process (installed, or the source tree in development).
    env = dict(
        os.environ,
        TRITON_INTERPRET="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
    )
    tests = str(Path(__file__).resolve().parent)
    run = subprocess.run(
        [sys.executable, "-c", f"TESTS = {tests!r}\n" + KERNEL_CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "kernel ok" in run.stdout and "decoder ok" in run.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("normalization", ["full", "allowed"])
def test_triton_kernel_on_gpu_matches_torch(normalization):
    torch.manual_seed(0)
    EOS_, V = 1, 50000
    g = torch.Generator().manual_seed(0)
    seqs = {i: torch.randint(2, V, (5,), generator=g).tolist() + [EOS_] for i in range(5000)}
    trie = TokenTrie.from_sequences(seqs, EOS_)
    for i in range(0, 5000, 13):
        trie.remove(i)
    arrays = trie.arrays("cuda")
    rows = 64
    logits = (torch.randn(rows, V) * 3).to(torch.bfloat16).cuda()
    node = torch.randint(0, trie.num_nodes, (rows,)).int().cuda()
    node[:8] = 0
    score = torch.randn(rows).cuda()
    for k in (1, 40):
        a = constrained_topk(
            logits, node, score, arrays, k, normalization=normalization, backend="torch"
        )
        b = constrained_topk(
            logits, node, score, arrays, k, normalization=normalization, backend="triton"
        )
        assert torch.equal(a[1], b[1])
        finite = torch.isfinite(a[0])
        assert torch.equal(finite, torch.isfinite(b[0]))
        torch.testing.assert_close(a[0][finite], b[0][finite], rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
@pytest.mark.skipif(torch.cuda.is_available(), reason="the gpu tests compile it for real")
@pytest.mark.parametrize("full", [True, False])
def test_triton_kernel_compiles_for_hopper_without_a_gpu(full):
    """Ahead-of-time compile for sm_90 with the ptxas shipped in the triton wheel: catches typing
    errors the interpreter lets through."""
    import triton
    from grlm.kernels._constrained_step_kernel import constrained_topk_kernel
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {
        "logits_ptr": "*bf16",
        "stride_row": "i32",
        "vocab": "i32",
        "node_ptr": "*i64",
        "score_ptr": "*fp32",
        "row_ptr_ptr": "*i32",
        "child_token_ptr": "*i32",
        "child_node_ptr": "*i32",
        "live_ptr": "*i32",
        "out_value_ptr": "*fp32",
        "out_edge_ptr": "*i64",
        "k": "i32",
        "FULL": "constexpr",
        "BLOCK_V": "constexpr",
        "BLOCK_E": "constexpr",
    }
    source = ASTSource(
        fn=constrained_topk_kernel,
        signature=signature,
        constexprs={"FULL": full, "BLOCK_V": 1024, "BLOCK_E": 64},
    )
    try:
        kernel = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
    except FileNotFoundError as error:  # a triton build without its bundled ptxas
        pytest.skip(f"no ptxas: {error}")
    except TypeError as error:  # another triton version's ahead-of-time API
        pytest.skip(f"triton.compile API differs: {error}")
    assert kernel.asm["cubin"]
