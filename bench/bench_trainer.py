"""Fine-tuning throughput: grlm.train.train on ``transformers.Trainer`` against the hand-written
accelerate loop it replaced (read from git at ``--baseline-rev``), in one run.

Both train the same fresh model on the same encoded SFT examples (random prompts and Term IDs
under the SmolLM2 tokenizer and chat template) for the same optimizer steps, the two
interleaved ``--repeat`` times; the fastest run of each is reported. Tokens per second count
every non-padding token read. Correctness first: the first runs' final weights are compared
(same batches, optimizer and loss scaling: they agree to float tolerance).

    python bench/bench_trainer.py                       # tiny Llama, 30 steps
    python bench/bench_trainer.py --model smollm2 --steps 10
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def baseline_module(rev: str):
    """The trainer module as it was at ``rev`` (imported from a temporary file)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:python/grlm/train/trainer.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_trainer.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_trainer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def make_model(name: str, tokenizer):
    import torch
    from grlm.lm import load_model
    from transformers import LlamaConfig, LlamaForCausalLM

    if name == "smollm2":
        return load_model("smollm2")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


def examples(tokenizer, count: int):
    from grlm.train.encode import encode_examples
    from grlm.train.examples import SFTExample

    rng = random.Random(0)
    words = ["red", "wool", "coat", "silk", "shirt", "lip", "gloss", "hair", "mask", "citrus"]
    rows = [
        SFTExample(
            "seq",
            " ".join(rng.choice(words) for _ in range(rng.randint(20, 120))),
            tuple(rng.choice(words) for _ in range(5)),
            str(i),
        )
        for i in range(count)
    ]
    return encode_examples(tokenizer, rows, max_length=1024)[0]


def run(train_fn, config_cls, model, tokenizer, encoded, steps: int, folder: Path):
    config = config_cls(
        max_steps=steps,
        batch_size=4,
        grad_accum=2,
        learning_rate=1e-4,
        log_every=1000,
        seed=0,
        threads=1,
    )
    started = time.perf_counter()
    result = train_fn(model, tokenizer, encoded, folder, config, log=lambda s: None, resume=False)
    return result, time.perf_counter() - started


def main() -> int:
    import torch
    from grlm.lm import load_tokenizer
    from grlm.train import trainer as current

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny", choices=("tiny", "smollm2"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each trainer")
    parser.add_argument(
        "--baseline-rev",
        default="deb6f32",
        help="git revision whose train/trainer.py is the baseline",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = load_tokenizer("smollm2")
    encoded = examples(tokenizer, args.steps * 8)
    baseline = baseline_module(args.baseline_rev)
    print(
        f"{datetime.date.today()}, {machine()}, torch {torch.__version__}; model {args.model}, "
        f"{args.steps} steps of 2 x 4 examples, 1 thread",
        flush=True,
    )
    best, weights = {}, {}
    trainers = (("hand-written loop", baseline), ("transformers.Trainer", current))
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):  # interleaved, so load changes hit both alike
            for name, module in trainers:
                model = make_model(args.model, tokenizer)
                result, wall = run(
                    module.train,
                    module.TrainConfig,
                    model,
                    tokenizer,
                    encoded,
                    args.steps,
                    Path(tmp) / f"{name}-{attempt}",
                )
                if attempt == 0:  # later runs inherit accelerate's process-wide state
                    weights[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if name not in best or result.seconds < best[name][0].seconds:
                    best[name] = (result, wall)
    rows = [
        [name, f"{r.tokens_seen}", f"{r.seconds:.1f}", f"{wall:.1f}", f"{r.tokens_per_second:.0f}"]
        for name, (r, wall) in best.items()
    ]
    a, b = weights.values()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    ratio = float(rows[1][4]) / float(rows[0][4])
    print_table(
        f"Fine-tuning throughput (best of {args.repeat} interleaved runs each)",
        ["trainer", "tokens", "train s", "wall s (with saving)", "tokens/s"],
        rows,
    )
    print(
        f"\ntransformers.Trainer / hand-written loop: {ratio:.2f}x tokens/s; largest weight "
        f"difference after {args.steps} steps: {diff:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
