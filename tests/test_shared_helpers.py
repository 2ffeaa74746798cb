"""The helpers several modules share: left padding, the gather of a trie node's live children,
CTG shards and generation statistics, each against a plain reference."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings
from hypothesis import strategies as st


def _reference_left_pad(rows, pad_id, multiple, max_len):
    rows = [list(r)[-max_len:] if max_len is not None else list(r) for r in rows]
    longest = max([len(r) for r in rows] + [1])
    width = -(-longest // multiple) * multiple
    ids = [[pad_id] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return ids, mask


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 50), max_size=9), max_size=5),
    pad_id=st.integers(0, 3),
    multiple=st.integers(1, 4),
    max_len=st.one_of(st.none(), st.integers(1, 6)),
)
def test_left_pad_matches_reference(rows, pad_id, multiple, max_len):
    from grlm.decoding.runners import position_ids
    from grlm.lm import left_pad

    ids, mask = left_pad(rows, pad_id, multiple=multiple, max_len=max_len)
    want_ids, want_mask = _reference_left_pad(rows, pad_id, multiple, max_len)
    assert ids.dtype == mask.dtype == torch.long
    assert ids.shape == (len(rows), len(want_ids[0]) if want_ids else ids.shape[1])
    assert ids.tolist() == want_ids and mask.tolist() == want_mask
    for row, positions in zip(want_mask, position_ids(mask).tolist()):
        real = [p for p, m in zip(positions, row) if m]
        assert real == list(range(len(real)))
        assert all(p == 0 for p, m in zip(positions, row) if not m)


def test_child_edges_are_the_live_children_of_each_node():
    from _decoding_models import random_catalog
    from _tiny_lm import word_tokenizer
    from grlm.decoding import TokenTrie
    from grlm.decoding.constrained_step import child_edges

    trie = TokenTrie.from_items(random_catalog(40, seed=2), word_tokenizer())
    arrays = trie.arrays("cpu")
    nodes = torch.arange(arrays.row_ptr.numel() - 1)
    active = torch.rand(len(nodes), generator=torch.Generator().manual_seed(0)) > 0.3
    rows, edge, token, live = child_edges(arrays, nodes, active)
    gathered = {int(r): sorted(token[i][live[i]].tolist()) for i, r in enumerate(rows)}
    for node in nodes.tolist():
        want = sorted(trie.allowed_tokens(node)) if active[node] else []
        assert gathered.get(node, []) == want, node
        if node in gathered:
            i = rows.tolist().index(node)
            assert (arrays.child_token[edge[i][live[i]]].long() == token[i][live[i]]).all()
    none = child_edges(arrays, nodes, torch.zeros(len(nodes), dtype=torch.bool))
    assert none[0].numel() == 0


def test_one_process_is_shard_zero_of_one(tmp_path, monkeypatch):
    from grlm.terms.shard import Shard

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    shard = Shard.from_environment()
    assert (shard.rank, shard.world, shard.device, shard.is_main) == (0, 1, None, True)
    assert shard.log_path(tmp_path / "log.jsonl") == str(tmp_path / "log.jsonl")
    assert shard.items([1, 2, 3]) == [1, 2, 3]
    assert shard.gather_timings({"generated": 3, "seconds": 1.0}) == {
        "generated": 3,
        "seconds": 1.0,
    }
    second = Shard(rank=1, world=3)
    assert second.items(list(range(7))) == [1, 4]
    assert second.log_path("x.jsonl") == "x.jsonl.rank1" and not second.is_main


def test_generation_stats_counts_statuses():
    from grlm.terms.pipeline import generation_stats

    stats = generation_stats(
        ["ok", "ok", "retried", "repaired", "completed", "failed"], {"generated": 4, "seconds": 2.0}
    )
    assert stats["catalog_items"] == 6 and stats["legal_first_try"] == 2
    assert stats["legal_first_try_rate"] == pytest.approx(2 / 6)
    assert stats["legal_after_retries_rate"] == pytest.approx(3 / 6)
    assert (stats["repaired"], stats["completed_from_neighbours"], stats["failed"]) == (1, 1, 1)
    assert stats["items_per_second"] == pytest.approx(2.0)
    assert "items_per_second" not in generation_stats(["ok"], {"generated": 0, "seconds": 0.0})
