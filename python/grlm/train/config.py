"""The options of a fine-tuning run (:class:`TrainConfig`) and what it reports
(:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from grlm.errors import InvalidInputError
from grlm.lm import PRECISIONS
from grlm.train.losses import LOSSES


@dataclass
class TrainConfig:
    """Options of :func:`grlm.train.trainer.train`. ``learning_rate`` None picks 5e-5 for full
    fine-tuning and 3e-4 for LoRA; ``precision`` "auto" is bf16 on a GPU and on a CPU with bf16
    instructions (autocast, fp32 weights), fp32 on other CPUs."""

    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | list[str] = "all-linear"
    precision: str = "auto"  # auto | fp32 | bf16
    group_by_length: bool = True
    gradient_checkpointing: bool = False
    save_every: int = 0  # optimizer steps between checkpoints; 0: only at the end
    keep_checkpoints: int = 2
    eval_every: int = 0  # optimizer steps between validation losses; 0: only at the end
    log_every: int = 10
    seed: int = 0
    threads: int | None = None  # torch CPU threads
    loss: str = "token"  # token | catalog | trie (grlm.train.losses)
    loss_positions_only: bool = False  # token loss: the head only where there is a loss
    time_budget_s: float | None = None  # stop after this long; the learning rate decays to 0 by it

    def validate(self) -> None:
        if self.batch_size < 1 or self.grad_accum < 1:
            raise InvalidInputError("batch_size and grad_accum must be at least 1")
        if self.max_steps is None and not self.epochs > 0:
            raise InvalidInputError(f"epochs must be > 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidInputError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.loss not in LOSSES:
            raise InvalidInputError(f"train.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise InvalidInputError(f"time_budget_s must be > 0, got {self.time_budget_s}")


@dataclass
class TrainResult:
    model_dir: str
    steps: int
    examples_seen: int
    tokens_seen: int
    seconds: float
    tokens_per_second: float
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    valid_loss: list[tuple[int, float]] = field(default_factory=list)
    valid_metrics: list[tuple[int, dict]] = field(default_factory=list)
    resumed_from: str | None = None
