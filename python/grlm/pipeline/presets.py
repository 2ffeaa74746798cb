"""The configuration of ``grlm demo`` (kept identical to ``configs/demo.yaml`` by a test)."""

from __future__ import annotations

DEMO = {
    "name": "demo",
    "output_dir": "runs/demo",
    "seed": 0,
    "model": "smollm2",
    "dataset": {"source": "ml-100k", "max_users": 150, "max_history": 5},
    "terms": {"source": "metadata", "num_terms": 5},
    "sft": {
        "objective": "packed",
        "tasks": {"seq": 1.0, "gti": 0.05},
        "include_titles": False,
        "max_windows_per_user": 1,
        "max_length": 256,
        "valid_users": 32,
    },
    "train": {
        "epochs": 1,
        "batch_size": 8,
        "grad_accum": 1,
        "lora": True,
        "lora_r": 16,
        "learning_rate": 5e-4,
        "warmup_ratio": 0.05,
        "log_every": 5,
        "save_every": 25,
        "threads": 2,
    },
    "recommend": {
        "splits": ["test"],
        "num_beams": 10,
        "k": 20,
        "batch_size": 10,
        "decoder": "fast",
        "decoding": ["free"],
        "max_eval_users": None,
    },
    "baselines": ["popularity"],
}
