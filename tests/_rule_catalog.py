"""A synthetic catalog whose users follow one deterministic rule (the next item is the successor
of the last one), a tiny model for it and a lean run configuration: the learnability test's and
the two-process test's fixture."""

from __future__ import annotations

import json
import random

NUM_ITEMS = 24
NUM_USERS = 240
LENGTH = 6  # 4 training items (3 targets), a validation and a test target
COLOURS = ["red", "blue", "green", "black"]
KINDS = ["shoe", "shirt", "coat", "hat", "dress", "bag"]


def term_id(j: int) -> list[str]:
    """Items share their colour and kind with others; the third term tells them apart."""
    return [COLOURS[j % 4], KINDS[(j // 4) % 6], f"n{j}"]


def write_dataset(folder, *, shuffled: bool = False) -> dict:
    """``sequential_data.txt`` and ``item_id2tid.json`` in ``folder``; ``shuffled`` users follow
    no rule (the control)."""
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
    term_ids = {f"i{j}": term_id(j) for j in range(NUM_ITEMS)}
    (folder / "item_id2tid.json").write_text(json.dumps(term_ids))
    return term_ids


def model_dir(folder, term_ids) -> str:
    """A random 3-layer Llama and its BPE tokenizer, saved in ``folder/model``."""
    from _tiny_lm import chat_tokenizer, model_for

    tokenizer = chat_tokenizer([", ".join(t) for t in term_ids.values()] * 4, vocab_size=400)
    path = folder / "model"
    model_for(tokenizer, hidden=64, layers=3).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def rule_config(
    tmp_path,
    *,
    shuffled: bool = False,
    loss: str = "trie",
    lines: str = "bracketed",
    decoding: tuple[str, ...] = ("constrained",),
    threads: int = 1,
) -> dict:
    """The lean run over the rule catalog in ``tmp_path`` (data, model and run folders)."""
    term_ids = write_dataset(tmp_path / "data", shuffled=shuffled)
    return {
        "name": "rule",
        "output_dir": str(tmp_path / "run"),
        "model": {"name": model_dir(tmp_path, term_ids), "keep_layers": 2},
        "dataset": {"source": str(tmp_path / "data"), "max_history": 5},
        "terms": {"source": "file", "path": str(tmp_path / "data" / "item_id2tid.json")},
        "sft": {
            "objective": "packed",
            "prompt": "short",
            "lines": lines,
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
            "threads": threads,
        },
        "recommend": {
            "splits": ["test"],
            "num_beams": 4,
            "k": 5,
            "batch_size": 16,
            "decoding": list(decoding),
        },
        "baselines": ["popularity"],
    }
