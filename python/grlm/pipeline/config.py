"""The run configuration: one YAML file, sections per stage, every field with a default.

See ``configs/demo.yaml`` for a commented example and ``docs/pipeline.md`` for every field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args, get_type_hints

from grlm.errors import InvalidInputError
from grlm.ground.backend import DEVICES
from grlm.ground.grounder import Mode
from grlm.lm import PRECISIONS
from grlm.model_card import FREE_AFTER_TRIE
from grlm.objective import Objective
from grlm.recommend.generate import DECODERS
from grlm.train.config import TrainConfig


@dataclass
class ModelSection:
    """The LM to fine-tune. ``model: NAME`` in YAML is short for ``model: {name: NAME}``."""

    name: str = "smollm2"  # a Hugging Face id or folder, a .gguf file, or "smollm2"
    keep_layers: int | None = None  # the lean model: only the first N decoder layers


@dataclass
class DatasetSection:
    source: str = "ml-100k"  # a name or path understood by grlm.data.load_dataset
    max_users: int | None = None  # random subset of users for everything (None: all)
    max_history: int = 20  # items kept in a history (the paper: 20)


@dataclass
class TermsSection:
    source: str = "file"  # file | metadata | ctg
    path: str | None = None  # file: a Term ID file (JSONL or the authors' JSON map)
    num_terms: int = 5  # metadata: Term ID length
    ctg_args: list[str] = field(default_factory=list)  # ctg: extra `grlm terms build` args


@dataclass
class SFTSection:
    objective: str = "packed"  # packed: one sequence per user window | prefix: one per target
    prompt: str = "chat"  # chat: template + instruction | short: a few tokens (packed only)
    lines: str = "bracketed"  # bracketed: [a, b, c] | plain: a b c (packed only; 37% fewer tokens)
    tasks: dict[str, float] = field(default_factory=lambda: {"seq": 1.0, "gti": 1.0})
    similar_items: str | None = None  # collab: similar_items_sasrec.txt
    collab_top_n: int = 1
    include_titles: bool = True
    max_targets_per_user: int | None = None  # prefix: each user's most recent training targets
    max_windows_per_user: int | None = None  # packed: each user's most recent windows
    max_train_users: int | None = None  # users whose training prefixes become examples
    max_length: int = 1024
    valid_users: int = 200  # validation-loss examples (users of split.valid)
    curve_users: int = 0  # validation users whose R@10 is measured at every validation step


@dataclass
class RecommendSection:
    splits: list[str] = field(default_factory=lambda: ["valid", "test"])
    num_beams: int = 20
    k: int = 20
    batch_size: int = 4
    max_eval_users: int | None = None  # random subset of evaluation users (same for baselines)
    max_new_tokens: int | None = None  # None: longest catalog answer + 8
    grounding_mode: str = "positional"  # positional | bag
    grounding_device: str = "auto"  # cpu | cuda | auto (cuda when the model runs there)
    decoder: str = "fast"  # fast: grlm.decoding.BeamSearchDecoder | hf: model.generate
    # the weights' dtype while decoding: auto (bf16 on a GPU or a CPU with bf16 instructions,
    # else fp32) | fp32 | bf16 (grlm.lm.inference_dtype)
    precision: str = "auto"
    # free: generate, then ground every beam | constrained: beams spell catalog Term IDs only
    decoding: list[str] = field(default_factory=lambda: ["free"])


@dataclass
class RunConfig:
    name: str = "run"
    output_dir: str = "runs/run"
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    dataset: DatasetSection = field(default_factory=DatasetSection)
    terms: TermsSection = field(default_factory=TermsSection)
    sft: SFTSection = field(default_factory=SFTSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    recommend: RecommendSection = field(default_factory=RecommendSection)
    baselines: list[str] = field(default_factory=lambda: ["popularity"])
    sasrec: dict = field(default_factory=dict)  # grlm.baselines.sasrec.SASRecConfig fields

    def validate(self) -> None:
        if self.terms.source not in ("file", "metadata", "ctg"):
            raise InvalidInputError(
                f"terms.source must be file, metadata or ctg, got {self.terms.source!r}"
            )
        if self.terms.source == "file" and not self.terms.path:
            raise InvalidInputError("terms.source: file needs terms.path")
        for split in self.recommend.splits:
            if split not in ("valid", "test"):
                raise InvalidInputError(f"recommend.splits: unknown split {split!r}")
        for name in self.baselines:
            if name not in ("popularity", "sasrec"):
                raise InvalidInputError(f"baselines: unknown baseline {name!r}")
        if self.recommend.grounding_mode not in get_args(Mode):
            raise InvalidInputError(f"recommend.grounding_mode must be one of {get_args(Mode)}")
        if self.recommend.grounding_device not in DEVICES:
            raise InvalidInputError(f"recommend.grounding_device must be one of {DEVICES}")
        if self.recommend.decoder not in DECODERS:
            raise InvalidInputError(f"recommend.decoder must be one of {DECODERS}")
        if self.recommend.precision not in PRECISIONS:
            raise InvalidInputError(f"recommend.precision must be one of {PRECISIONS}")
        decoding = self.recommend.decoding
        if (
            not isinstance(decoding, list)
            or not decoding
            or len(set(decoding)) != len(decoding)
            or any(d not in ("free", "constrained") for d in decoding)
        ):
            raise InvalidInputError(
                f"recommend.decoding must be a non-empty list of distinct "
                f"'free' / 'constrained', got {decoding!r}"
            )
        if "free" in decoding and self.train.loss == "trie":
            raise InvalidInputError(f"recommend.decoding: {FREE_AFTER_TRIE}")
        Objective(self.sft.objective, self.sft.prompt, self.sft.lines)  # validates all three
        if self.sft.objective == "packed" and self.sft.max_targets_per_user:
            raise InvalidInputError(
                "sft.max_targets_per_user applies to the prefix objective "
                "only (a packed window teaches all of its targets)"
            )
        if self.sft.objective == "prefix" and self.sft.max_windows_per_user:
            raise InvalidInputError("sft.max_windows_per_user applies to the packed objective only")
        if self.sft.curve_users < 0:
            raise InvalidInputError("sft.curve_users must be >= 0")
        if self.model.keep_layers is not None and self.model.keep_layers < 1:
            raise InvalidInputError(f"model.keep_layers must be >= 1, got {self.model.keep_layers}")
        self.train.validate()


def _build(cls, data, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise InvalidInputError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs = {}
    for key, value in data.items():
        if cls is RunConfig and key == "model" and isinstance(value, str):
            value = {"name": value}
        sub = {
            "model": ModelSection,
            "dataset": DatasetSection,
            "terms": TermsSection,
            "sft": SFTSection,
            "train": TrainConfig,
            "recommend": RecommendSection,
        }.get(key)
        if cls is RunConfig and sub:
            value = _build(sub, value, f"{where}.{key}")
        else:
            _check_number(cls, key, value, where)
        kwargs[key] = value
    return cls(**kwargs)


def _check_number(cls, key: str, value, where: str) -> None:
    """Refuses text where a number belongs: YAML 1.1 (PyYAML) reads ``2e-3`` as a string."""
    hint = get_type_hints(cls)[key]
    numeric = {float, int} & set(get_args(hint) or (hint,))
    if numeric and str not in get_args(hint) and isinstance(value, str):
        raise InvalidInputError(
            f"{where}.{key} must be a number, got the text {value!r} "
            "(YAML reads 2e-3 as text: write 2.0e-3)"
        )


def config_from_dict(data: dict) -> RunConfig:
    config = _build(RunConfig, data, "config")
    config.validate()
    return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Reads a YAML run configuration; ``overrides`` are ``section.field=value`` strings
    (YAML values) applied on top."""
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    return config_from_dict(apply_overrides(data, overrides or []))


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``data`` (a configuration mapping, changed in place) with ``section.field=value``
    overrides (YAML values) applied; ``model.X=...`` turns ``model: NAME`` into a section."""
    import yaml

    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise InvalidInputError(f"override {override!r} is not key=value")
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(target.get(part), str):
                target[part] = {"name": target[part]}
            target = target.setdefault(part, {})
        target[parts[-1]] = yaml.safe_load(value)
    return data


def config_to_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)
