"""The SFT loop: an accelerate training loop over length-grouped batches.

Full fine-tuning or LoRA (peft), fp32 on CPU and bf16 mixed precision on GPU, gradient
accumulation, periodic checkpoints that resume exactly (same batch order, optimizer, scheduler
and RNG state), validation loss on held-out examples, and ``accelerate launch`` for several GPUs
(each process takes every n-th batch). The final model is saved with ``save_pretrained`` (LoRA
adapters merged) next to its tokenizer, so recommendation loads it like any HF model.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grlm.errors import InvalidInputError
from grlm.train.encode import EncodedExample, collate, length_grouped_batches


@dataclass
class TrainConfig:
    """Options of :func:`train`. ``learning_rate`` None picks 5e-5 for full fine-tuning and
    3e-4 for LoRA; ``precision`` "auto" is bf16 on a GPU and fp32 on the CPU."""

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

    def validate(self) -> None:
        if self.batch_size < 1 or self.grad_accum < 1:
            raise InvalidInputError("batch_size and grad_accum must be at least 1")
        if self.max_steps is None and not self.epochs > 0:
            raise InvalidInputError(f"epochs must be > 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidInputError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InvalidInputError(f"precision must be auto, fp32 or bf16, got "
                                    f"{self.precision!r}")


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


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _latest_checkpoint(folder: Path) -> Path | None:
    found = []
    for path in folder.glob("checkpoint-*"):
        if (path / "trainer_state.json").exists():
            try:
                found.append((int(path.name.split("-")[1]), path))
            except ValueError:
                continue
    return max(found)[1] if found else None


def _apply_lora(model, config: TrainConfig):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise InvalidInputError("lora: true needs the peft package (pip install peft)") from error
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=config.lora_targets,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def evaluate_loss(model, examples: Sequence[EncodedExample], *, pad_id: int, batch_size: int,
                  device) -> float:
    """Mean answer-token cross entropy over ``examples`` (token-weighted)."""
    import torch

    if not examples:
        return float("nan")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[start:start + batch_size]]
            ids, mask, labels = (t.to(device) for t in collate(batch, pad_id))
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                reduction="sum")
            total += float(loss)
            count += int((target != -100).sum())
    if was_training:
        model.train()
    return total / max(count, 1)


def train(model, tokenizer, train_examples: Sequence[EncodedExample], output_dir: str | Path,
          config: TrainConfig, *, valid_examples: Sequence[EncodedExample] = (),
          resume: bool = True, log: Callable[[str], None] = print,
          evaluate: Callable[[object], dict] | None = None) -> TrainResult:
    """Fine-tunes ``model`` on ``train_examples`` and saves it to ``output_dir/model``.

    Checkpoints go to ``output_dir/checkpoint-<step>``; with ``resume`` the latest one is
    loaded and training continues where it stopped (same batch order). At every validation
    step ``evaluate(model)`` (the unwrapped model, in eval mode) may add metrics of its own,
    such as Recall@10 on a fixed user sample: the learning curve in ``valid_metrics``.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    config.validate()
    if not train_examples:
        raise InvalidInputError("no training examples")
    if config.threads:
        torch.set_num_threads(config.threads)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    precision = config.precision if config.precision != "auto" else ("bf16" if cuda else "fp32")
    accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum,
                              mixed_precision="bf16" if precision == "bf16" else "no",
                              cpu=not cuda)
    set_seed(config.seed)
    if config.lora:
        model = _apply_lora(model, config)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if config.lora:
            model.enable_input_require_grads()
    learning_rate = config.learning_rate or (3e-4 if config.lora else 5e-5)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=config.weight_decay)

    lengths = [len(e.input_ids) for e in train_examples]
    world = accelerator.num_processes
    batches_per_epoch = math.ceil(len(train_examples) / config.batch_size) // world
    if batches_per_epoch < 1:
        raise InvalidInputError("fewer batches than processes")
    steps_per_epoch = max(1, batches_per_epoch // config.grad_accum)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    # accelerate steps a prepared scheduler once per process per optimizer step.
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps) * world, total_steps * world)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    pad_id = tokenizer.pad_token_id

    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "examples_seen": 0, "tokens_seen": 0,
             "train_loss": [], "valid_loss": [], "valid_metrics": [], "seconds": 0.0}
    resumed_from = None
    checkpoint = _latest_checkpoint(output_dir) if resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = {"valid_metrics": [],
                 **json.loads((checkpoint / "trainer_state.json").read_text())}
        resumed_from = str(checkpoint)
        log(f"resumed from {checkpoint} at step {state['step']}")

    def save_checkpoint() -> None:
        accelerator.wait_for_everyone()
        final = output_dir / f"checkpoint-{state['step']}"
        tmp = output_dir / f".checkpoint-{state['step']}.tmp"
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        accelerator.save_state(str(tmp))
        if accelerator.is_main_process:
            _write_json(tmp / "trainer_state.json", state)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            kept = sorted((int(p.name.split("-")[1]), p) for p in output_dir.glob("checkpoint-*"))
            for _, old in kept[:-max(1, config.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)

    def validation() -> None:
        if valid_examples:
            loss = evaluate_loss(accelerator.unwrap_model(model), valid_examples, pad_id=pad_id,
                                 batch_size=config.batch_size, device=accelerator.device)
            state["valid_loss"].append((state["step"], loss))
            log(f"step {state['step']}: validation loss {loss:.4f}")
        if evaluate is not None and accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(model)
            unwrapped.eval()
            values = evaluate(unwrapped)
            unwrapped.train()
            state["valid_metrics"].append((state["step"], values))
            log(f"step {state['step']}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))

    model.train()
    started = time.perf_counter() - state["seconds"]
    running, running_n = 0.0, 0
    micro_in_step = 0
    while state["step"] < total_steps:
        batches = length_grouped_batches(lengths, config.batch_size,
                                         seed=config.seed * 1000003 + state["epoch"],
                                         grouped=config.group_by_length)
        batches = batches[accelerator.process_index::world][:batches_per_epoch]
        for index in range(state["batch_in_epoch"], len(batches)):
            batch = [train_examples[i] for i in batches[index]]
            ids, mask, labels = (t.to(accelerator.device) for t in collate(batch, pad_id))
            with accelerator.accumulate(model):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state["batch_in_epoch"] = index + 1
            state["examples_seen"] += len(batch) * world
            state["tokens_seen"] += int(mask.sum()) * world
            running += float(loss.detach())
            running_n += 1
            micro_in_step += 1
            if micro_in_step < config.grad_accum:
                continue
            micro_in_step = 0
            state["step"] += 1
            state["seconds"] = time.perf_counter() - started
            if state["step"] % max(1, config.log_every) == 0 or state["step"] == total_steps:
                mean = running / max(running_n, 1)
                state["train_loss"].append((state["step"], mean))
                rate = state["tokens_seen"] / max(state["seconds"], 1e-9)
                log(f"step {state['step']}/{total_steps} epoch {state['epoch']} loss {mean:.4f}"
                    f" lr {scheduler.get_last_lr()[0]:.2e} {rate:.0f} tokens/s")
                running, running_n = 0.0, 0
            if config.eval_every and state["step"] % config.eval_every == 0:
                validation()
            if config.save_every and state["step"] % config.save_every == 0:
                save_checkpoint()
            if state["step"] >= total_steps:
                break
        else:
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
            continue
        break
    state["seconds"] = time.perf_counter() - started
    last = max((step for step, _ in state["valid_loss"] + state["valid_metrics"]), default=None)
    if (valid_examples or evaluate is not None) and last != state["step"]:
        validation()

    model_dir = output_dir / "model"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        if config.lora:
            final = final.merge_and_unload()
        tmp = output_dir / ".model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        final.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp, model_dir)
    accelerator.wait_for_everyone()
    result = TrainResult(
        model_dir=str(model_dir), steps=state["step"], examples_seen=state["examples_seen"],
        tokens_seen=state["tokens_seen"], seconds=state["seconds"],
        tokens_per_second=state["tokens_seen"] / max(state["seconds"], 1e-9),
        train_loss=[tuple(x) for x in state["train_loss"]],
        valid_loss=[tuple(x) for x in state["valid_loss"]],
        valid_metrics=[tuple(x) for x in state["valid_metrics"]], resumed_from=resumed_from)
    if accelerator.is_main_process:
        _write_json(output_dir / "train_result.json",
                    {**asdict(result), "config": asdict(config), "precision": precision,
                     "learning_rate": learning_rate, "total_steps": total_steps})
    return result
