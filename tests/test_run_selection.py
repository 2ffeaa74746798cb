"""The named decisions of a run (formerly closures of Pipeline): which users a run keeps,
which it evaluates, which train the model, the SFT data, the grounding priors."""

from __future__ import annotations

import random

import pytest
from grlm.data.sampling import (
    cut_to_users,
    sample_dataset_users,
    sample_ids,
    sample_split_users,
)
from grlm.data.schema import Dataset, Item
from grlm.data.splits import leave_one_out
from grlm.recommend.priors import popularity_priors
from grlm.train.sft import keep_recent, sample_examples, sample_train_users


def _dataset(users=12):
    items = {f"i{j}": Item(f"i{j}", title=f"Item {j}") for j in range(10)}
    sequences = {f"u{u:02d}": [f"i{(u + j) % 10}" for j in range(3 + u % 4)] for u in range(users)}
    return Dataset("toy", items, sequences)


def test_sample_ids_is_seeded_sorted_and_bounded():
    ids = [f"u{i}" for i in range(20)]
    picked = sample_ids(reversed(ids), 5, seed=3)
    assert picked == sorted(picked) and len(picked) == 5 and set(picked) <= set(ids)
    assert picked == sorted(random.Random(3).sample(sorted(ids), 5))  # the documented draw
    assert sample_ids(ids, 5, seed=3) == picked
    assert sample_ids(ids, 5, seed=4) != picked
    for everything in (None, 0, 20, 99):
        assert sample_ids(ids, everything, seed=3) == sorted(ids)


def test_dataset_users_and_evaluated_users():
    dataset = _dataset()
    assert sample_dataset_users(dataset, None, 0) is dataset
    small = sample_dataset_users(dataset, 5, 0)
    assert sorted(small.sequences) == sample_ids(dataset.sequences, 5, 0)
    assert small.items is dataset.items
    assert all(small.sequences[u] == dataset.sequences[u] for u in small.sequences)
    split = leave_one_out(dataset, max_history=20)
    evaluated = sample_split_users(split, 4, seed=1)
    users = sample_ids((case.user_id for case in split.test), 4, 1)
    assert [c.user_id for c in evaluated.test] == [
        c.user_id for c in split.test if c.user_id in users
    ]
    assert {c.user_id for c in evaluated.valid} == set(users)
    assert evaluated.train is split.train  # training data is the same for every cut
    everyone = sample_split_users(split, None, seed=1)
    assert everyone.test == split.test and everyone.valid == split.valid
    assert cut_to_users(split, []).test == []


def test_training_users_recent_examples_and_example_samples():
    split = leave_one_out(_dataset(), max_history=20)
    assert sample_train_users(split, None, 0) is split
    fewer = sample_train_users(split, 3, 2)
    assert sorted(fewer.train) == sample_ids(split.train, 3, 2)
    assert fewer.valid == split.valid and fewer.test == split.test

    class Ex:
        def __init__(self, user, n):
            self.user_id, self.n = user, n

    examples = [Ex("b", 0), Ex("a", 0), Ex("b", 1), Ex("a", 1), Ex("b", 2)]
    assert [(e.user_id, e.n) for e in keep_recent(examples, 2)] == [
        ("a", 0),
        ("a", 1),
        ("b", 1),
        ("b", 2),
    ]
    assert keep_recent(examples, None) == examples
    assert sample_examples(examples, None, 0) == examples
    assert sample_examples(examples, 9, 0) == examples
    assert sample_examples(examples, 2, 5) == random.Random(5).sample(examples, 2)


def test_popularity_priors_count_training_occurrences():
    priors = popularity_priors({"u": ["a", "b", "a"], "v": ["a"], "w": []})
    assert priors == {"a": 3.0, "b": 1.0}


@pytest.mark.parametrize("objective", ["prefix", "packed"])
def test_build_sft_matches_its_parts(objective):
    pytest.importorskip("transformers")
    from grlm.pipeline.config import SFTSection
    from grlm.train.examples import mix
    from grlm.train.sft import build_sft, build_sft_tasks, valid_examples

    dataset = _dataset()
    split = leave_one_out(dataset, max_history=20)
    term_ids = {i: ("t", i) for i in dataset.items}
    config = SFTSection(
        objective=objective,
        valid_users=3,
        max_train_users=6,
        max_targets_per_user=2,
        max_windows_per_user=1,
    )
    data = build_sft(dataset.items, split, term_ids, config, seed=7, max_history=20)
    tasks = build_sft_tasks(dataset.items, split, term_ids, config, seed=7, max_history=20)
    assert data.train == mix(tasks, config.tasks, seed=7)
    assert {e.user_id for e in tasks["seq"]} <= set(sample_ids(split.train, 6, 9))
    per_user = {}
    for e in tasks["seq"]:
        per_user[e.user_id] = per_user.get(e.user_id, 0) + 1
    assert max(per_user.values()) <= 2
    every_valid = valid_examples(dataset.items, split, term_ids, config, max_history=20)
    assert len(data.valid) == 3 and all(e in every_valid for e in data.valid)
    assert data.summary["built"] == {t: len(v) for t, v in tasks.items()}
    assert data.summary["valid"] == 3 and data.summary["objective"] == objective


def test_grounding_device_follows_the_model_only_for_auto():
    from grlm.pipeline.stages import grounding_device

    assert grounding_device("auto", "cuda") == "auto"
    assert grounding_device("auto", "cpu") == "cpu"
    assert grounding_device("cpu", "cuda") == "cpu"
    assert grounding_device("cuda", "cpu") == "cuda"


def test_throttled_progress_logs_at_most_every_interval_and_at_the_end():
    from grlm.pipeline.stages import throttled_progress

    lines = []
    progress = throttled_progress(lines.append, "[x]", every_s=3600)
    for done in range(1, 6):
        progress(done, 5)
    assert lines == ["[x]: 5/5 users"]
    lines.clear()
    progress = throttled_progress(lines.append, "[x]", every_s=0.0)
    progress(1, 5)
    progress(2, 5)
    assert lines == ["[x]: 1/5 users", "[x]: 2/5 users"]
