"""Learnability: a tiny model learns a deterministic next-item rule through the real pipeline.

A synthetic catalog of items whose Term IDs share terms, and users whose sequences follow one
rule (the next item is the successor of the last one). A tiny random model is fine-tuned by the
pipeline (packed examples, the trainer with the lean levers, the fast decoder, the trie, the
grounder, the metrics) for at most 60 s and must reach Recall@1 >= 0.9 on the test users. Any
misalignment between training labels, prompts, the trie and grounding keeps it near chance
(1 / NUM_ITEMS), so the test fails on such a bug. The control: a model trained on shuffled
sequences (no rule) stays near chance, so the bar cannot be met without learning the rule.
"""

from __future__ import annotations

import json
import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NUM_ITEMS = 24
NUM_USERS = 240
LENGTH = 6  # 4 training items (3 targets), a validation and a test target
COLOURS = ["red", "blue", "green", "black"]
KINDS = ["shoe", "shirt", "coat", "hat", "dress", "bag"]


def _term_id(j: int) -> list[str]:
    """Items share their colour and kind with others; the third term tells them apart."""
    return [COLOURS[j % 4], KINDS[(j // 4) % 6], f"n{j}"]


def _write_dataset(folder, *, shuffled: bool = False):
    rng = random.Random(0)
    lines = []
    for u in range(NUM_USERS):
        start = rng.randrange(NUM_ITEMS)
        seq = [(start + step) % NUM_ITEMS for step in range(LENGTH)]
        if shuffled:
            seq = rng.sample(range(NUM_ITEMS), LENGTH)
        lines.append(f"u{u} " + " ".join(f"i{j}" for j in seq))
    folder.mkdir()
    (folder / "sequential_data.txt").write_text("\n".join(lines) + "\n")
    term_ids = {f"i{j}": _term_id(j) for j in range(NUM_ITEMS)}
    (folder / "item_id2tid.json").write_text(json.dumps(term_ids))
    return term_ids


def _model_dir(folder, term_ids):
    from _tiny_lm import chat_tokenizer, model_for

    tokenizer = chat_tokenizer([", ".join(t) for t in term_ids.values()] * 4, vocab_size=400)
    model_dir = folder / "model"
    model_for(tokenizer, hidden=64, layers=3).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def _run(tmp_path, *, shuffled: bool, loss: str):
    from grlm.pipeline import Pipeline, config_from_dict

    term_ids = _write_dataset(tmp_path / "data", shuffled=shuffled)
    config = config_from_dict(
        {
            "name": "learnability",
            "output_dir": str(tmp_path / "run"),
            "model": {"name": str(_model_dir(tmp_path, term_ids)), "keep_layers": 2},
            "dataset": {"source": str(tmp_path / "data"), "max_history": 5},
            "terms": {"source": "file", "path": str(tmp_path / "data" / "item_id2tid.json")},
            "sft": {
                "objective": "packed",
                "prompt": "short",
                "tasks": {"seq": 1.0},
                "include_titles": False,
                "max_length": 256,
                "valid_users": 16,
            },
            "train": {
                "epochs": 30,
                "batch_size": 16,
                "learning_rate": 3e-3,
                "warmup_ratio": 0.02,
                "loss": loss,
                "time_budget_s": 60,
                "log_every": 50,
                "threads": 1,
            },
            "recommend": {
                "splits": ["test"],
                "num_beams": 4,
                "k": 5,
                "batch_size": 16,
                "decoding": ["constrained"],
            },
            "baselines": ["popularity"],
        }
    )
    report = Pipeline(config, log=lambda line: None).run()
    saved = json.loads((tmp_path / "run" / "train" / "model" / "grlm_model.json").read_text())
    assert saved["loss"] == loss and saved["prompt"] == "short" and saved["keep_layers"] == 2
    return report["model"]["test"]["constrained"]


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["trie", "catalog"])
def test_a_tiny_model_learns_the_next_item_rule(tmp_path, loss):
    result = _run(tmp_path, shuffled=False, loss=loss)
    assert result["num_examples"] == NUM_USERS
    assert result["recall@1"] >= 0.9, result


@pytest.mark.slow
def test_without_a_rule_it_stays_near_chance(tmp_path):
    result = _run(tmp_path, shuffled=True, loss="trie")
    assert result["recall@1"] <= 0.25, result
