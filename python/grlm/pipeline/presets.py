"""The configuration of ``grlm demo`` (kept identical to ``configs/demo.yaml`` by a test)."""

from __future__ import annotations

DEMO = {
    "name": "demo",
    "output_dir": "runs/demo",
    "seed": 0,
    "model": {"name": "smollm2", "keep_layers": 4},
    "dataset": {"source": "ml-100k", "max_users": None, "max_history": 10},
    "terms": {"source": "metadata", "num_terms": 5},
    "sft": {
        "objective": "packed",
        "prompt": "short",
        "lines": "plain",
        "tasks": {"seq": 1.0},
        "include_titles": False,
        "max_windows_per_user": 3,
        "max_length": 512,
        "valid_users": 64,
    },
    "train": {
        "epochs": 3,
        "batch_size": 8,
        "lora": False,
        "learning_rate": 2e-3,
        "warmup_ratio": 0.02,
        "loss": "trie",
        "time_budget_s": 440,
        "log_every": 10,
        "save_every": 0,
        "threads": 2,
    },
    "recommend": {
        "splits": ["test"],
        "num_beams": 10,
        "k": 20,
        "batch_size": 16,
        "decoder": "fast",
        "decoding": ["constrained"],
        "max_eval_users": None,
    },
    "baselines": ["popularity"],
}
