"""Popularity and SASRec baselines on tiny synthetic data."""

from __future__ import annotations

import random

import numpy as np
import pytest
from grlm.baselines import ItemIndex, PopularityRecommender, evaluate_examples, run_baseline
from grlm.data import Dataset, Item, leave_one_out
from grlm.errors import InvalidInputError


def _cycle_dataset(num_items=20, users=150, length=8, seed=0) -> Dataset:
    """The next item is always (current + 1) mod num_items: a model that learns the transition
    gets Recall@1 = 1, popularity gets about 1/num_items."""
    rng = random.Random(seed)
    seqs = {}
    for u in range(users):
        start = rng.randrange(num_items)
        seqs[f"u{u}"] = [str((start + i) % num_items) for i in range(length)]
    items = {str(i): Item(str(i)) for i in range(num_items)}
    return Dataset("cycle", items, seqs)


def test_item_index_is_sorted_and_checked():
    index = ItemIndex(["10", "9", "100", "9"])
    assert index.ids == ["9", "10", "100"]
    assert index.index("100") == 2
    with pytest.raises(InvalidInputError, match="unknown item id"):
        index.index("7")
    assert ItemIndex(["b", "a"]).ids == ["a", "b"]


def test_popularity_hand_computed():
    items = {i: Item(i) for i in "abcd"}
    ds = Dataset(
        "p",
        items,
        {"u1": ["a", "a", "b", "c", "d"], "u2": ["a", "b", "c", "b"], "u3": ["c", "c", "a", "d"]},
    )
    split = leave_one_out(ds)
    # train: u1 a a b, u2 a b, u3 c c -> a:3, b:2, c:2, d:0
    index = ItemIndex.from_dataset(ds)
    pop = PopularityRecommender(index).fit(split)
    assert pop.counts.tolist() == [3, 2, 2, 0]
    assert pop.top_items(2) == ["a", "b"]
    # test targets: u1 d (rank 4), u2 b (tied with c -> pessimistic rank 3), u3 d (rank 4)
    m = evaluate_examples(pop.score, split.test, index, ks=(3,))
    assert m["recall@3"] == pytest.approx(1 / 3)
    assert m["mrr"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 4) / 3)


@pytest.mark.slow
def test_sasrec_learns_a_deterministic_transition():
    pytest.importorskip("torch")
    from grlm.baselines.sasrec import SASRecConfig

    ds = _cycle_dataset()
    split = leave_one_out(ds)
    config = SASRecConfig(
        hidden=32,
        num_blocks=1,
        max_len=10,
        dropout=0.1,
        lr=5e-3,
        batch_size=32,
        max_epochs=15,
        patience=15,
        device="cpu",
        seed=0,
    )
    report = run_baseline("sasrec", ds, split, ks=(1, 5), config=config, progress=False)
    popularity = run_baseline("popularity", ds, split, ks=(1, 5), progress=False)
    assert report["test"]["recall@1"] > 0.9
    assert popularity["test"]["recall@1"] < 0.2
    assert report["best_epoch"] >= 1 and report["train_seconds"] > 0
    assert report["valid_curve"][0]["loss"] > report["valid_curve"][-1]["loss"]


def test_sasrec_padding_does_not_change_scores():
    torch = pytest.importorskip("torch")
    from grlm.baselines.sasrec import SASRec, SASRecConfig
    from grlm.lm import left_pad

    torch.manual_seed(0)
    model = SASRec(30, SASRecConfig(hidden=16, max_len=12, device="cpu")).eval()
    short = [[3, 4, 5]]
    alone = model.score_histories(short)
    with_longer = model.score_histories(short + [list(range(12))])[:1]
    torch.testing.assert_close(alone, with_longer, rtol=1e-5, atol=1e-5)
    # Causality: the state at position t does not depend on later items.
    a = model(left_pad([[1, 2, 3, 4]], 0, max_len=12)[0])
    b = model(left_pad([[1, 2, 3, 9]], 0, max_len=12)[0])
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3], b[:, 3])


def test_sasrec_config_errors():
    pytest.importorskip("torch")
    from grlm.baselines.sasrec import SASRecConfig

    with pytest.raises(InvalidInputError):
        SASRecConfig(hidden=10, num_heads=3).validate()
    with pytest.raises(InvalidInputError):
        SASRecConfig(dropout=1.0).validate()
    with pytest.raises(InvalidInputError, match="unknown baseline"):
        run_baseline("bpr", _cycle_dataset(), leave_one_out(_cycle_dataset()))


def test_cli_writes_metrics(tmp_path, capsys):
    from grlm.cli.baseline import main as baseline_main
    from grlm.data import save_dataset

    save_dataset(_cycle_dataset(), tmp_path / "cycle")
    out = tmp_path / "pop.json"
    assert (
        baseline_main(
            [
                "popularity",
                "--dataset",
                str(tmp_path / "cycle"),
                "--out",
                str(out),
                "--ks",
                "1",
                "5",
            ]
        )
        == 0
    )
    import json

    report = json.loads(out.read_text())
    assert report["model"] == "popularity" and "recall@5" in report["test"]
    assert report["exclude_history"] is False
    assert "recall@5" in capsys.readouterr().out
    assert np.isfinite(report["test"]["mrr"])


def test_training_windows_cover_every_transition():
    pytest.importorskip("torch")
    from grlm.baselines.sasrec import training_pairs
    from grlm.data import Split

    index = ItemIndex([str(i) for i in range(20)])
    split = Split(
        "leave_one_out", {"u": [str(i) for i in range(12)], "v": ["3"], "w": ["1", "2"]}, [], [], 20
    )
    windows = training_pairs(split, index, max_len=4)
    assert windows == [[8, 9, 10, 11, 12], [4, 5, 6, 7, 8], [1, 2, 3, 4], [2, 3]]
    transitions = [(w[i], w[i + 1]) for w in windows[:3] for i in range(len(w) - 1)]
    assert sorted(transitions) == [(i, i + 1) for i in range(1, 12)]  # user u: each once


def test_popularity_report_with_both_history_settings():
    ds = _cycle_dataset(users=30)
    report = run_baseline(
        "popularity", ds, leave_one_out(ds), ks=(5,), progress=False, also_other_setting=True
    )
    assert report["test"]["exclude_history"] is False
    assert report["test_exclude_history"]["exclude_history"] is True
