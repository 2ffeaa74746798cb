"""Integrative Instruction Fine-tuning: SFT example builders, tokenization and the trainer.

torch, transformers and accelerate are imported only by :func:`grlm.train.trainer.train` and
the encoding helpers that build tensors.
"""

from grlm.train.config import TrainConfig, TrainResult
from grlm.train.encode import (
    EncodedExample,
    encode_example,
    encode_examples,
    length_grouped_batches,
)
from grlm.train.examples import (
    SYSTEM_PROMPT,
    TASKS,
    SFTExample,
    collab_examples,
    gti_examples,
    history_prompt,
    mix,
    read_similar_items,
    seq_examples,
    task_counts,
)
from grlm.train.sft import SFTData, build_sft
from grlm.train.trainer import train

__all__ = [
    "SYSTEM_PROMPT",
    "TASKS",
    "EncodedExample",
    "SFTData",
    "SFTExample",
    "TrainConfig",
    "TrainResult",
    "build_sft",
    "collab_examples",
    "encode_example",
    "encode_examples",
    "gti_examples",
    "history_prompt",
    "length_grouped_batches",
    "mix",
    "read_similar_items",
    "seq_examples",
    "task_counts",
    "train",
]
