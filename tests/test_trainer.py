"""The SFT trainer: loss only on answers, checkpoints that resume exactly, LoRA merge."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def setup():
    from _tiny_lm import chat_tokenizer, model_for
    from grlm.train.encode import encode_examples
    from grlm.train.examples import SFTExample

    tokenizer = chat_tokenizer()
    examples = [
        SFTExample("seq", f"history {i} " * (1 + i % 4), ("a", f"t{i}", "c"), str(i))
        for i in range(24)
    ]
    encoded, dropped = encode_examples(tokenizer, examples, max_length=128)
    assert dropped == 0

    def fresh():
        return model_for(tokenizer, hidden=32, layers=1)

    return tokenizer, encoded, fresh


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, setup):
    import torch
    from grlm.train.trainer import TrainConfig, train

    tokenizer, encoded, fresh = setup
    config = TrainConfig(
        max_steps=6,
        batch_size=4,
        grad_accum=2,
        learning_rate=1e-3,
        save_every=2,
        log_every=1,
        seed=1,
    )
    straight = fresh()
    result = train(straight, tokenizer, encoded, tmp_path / "a", config, log=lambda s: None)
    assert result.steps == 6 and result.resumed_from is None
    assert result.examples_seen == 6 * 2 * 4

    def stop_at_step_5(line):
        if line.startswith("step 5/"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(fresh(), tokenizer, encoded, tmp_path / "b", config, log=stop_at_step_5)
    assert (tmp_path / "b" / "checkpoint-4").is_dir()
    resumed_model = fresh()
    resumed = train(resumed_model, tokenizer, encoded, tmp_path / "b", config, log=lambda s: None)
    assert resumed.resumed_from.endswith("checkpoint-4") and resumed.steps == 6
    a, b = _weights(straight), _weights(resumed_model)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert (tmp_path / "b" / "model" / "config.json").exists()
    assert len(list((tmp_path / "b").glob("checkpoint-*"))) == 2  # keep_checkpoints


def test_training_lowers_answer_loss_and_lora_merges(tmp_path, setup):
    from grlm.lm import load_model
    from grlm.train.trainer import TrainConfig, evaluate_loss, train

    tokenizer, encoded, fresh = setup
    model = fresh()
    before = evaluate_loss(
        model, encoded, pad_id=tokenizer.pad_token_id, batch_size=8, device="cpu"
    )
    train(
        model,
        tokenizer,
        encoded,
        tmp_path / "full",
        TrainConfig(epochs=4, batch_size=8, learning_rate=3e-3, warmup_ratio=0),
        valid_examples=encoded[:4],
        log=lambda s: None,
    )
    after = evaluate_loss(model, encoded, pad_id=tokenizer.pad_token_id, batch_size=8, device="cpu")
    assert after < before - 1.0
    pytest.importorskip("peft")
    lora = train(
        fresh(),
        tokenizer,
        encoded,
        tmp_path / "lora",
        TrainConfig(max_steps=2, batch_size=8, lora=True, lora_r=4),
        log=lambda s: None,
    )
    merged = load_model(lora.model_dir)
    assert not any("lora" in name for name, _ in merged.named_parameters())


@pytest.mark.slow
def test_gguf_model_saves_and_reloads(tmp_path):
    """The embedded GGUF model (dequantized on load) saves like any model after fine-tuning."""
    import torch
    from grlm.lm import load_model, load_tokenizer

    model, tokenizer = load_model("smollm2"), load_tokenizer("smollm2")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path))
    ids = tokenizer("hello world", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, again(ids).logits, atol=1e-4)
    assert load_tokenizer(str(tmp_path)).chat_template


@pytest.mark.slow
def test_gguf_model_fine_tunes(tmp_path):
    """The embedded GGUF model (dequantized on load) is no quantized model to the Trainer."""
    from grlm.lm import load_model, load_tokenizer
    from grlm.train.encode import encode_examples
    from grlm.train.examples import SFTExample
    from grlm.train.trainer import TrainConfig, train

    model, tokenizer = load_model("smollm2"), load_tokenizer("smollm2")
    encoded, _ = encode_examples(
        tokenizer, [SFTExample("seq", "history", ("a", "b"), "1")], max_length=128
    )
    result = train(
        model,
        tokenizer,
        encoded,
        tmp_path,
        TrainConfig(max_steps=1, batch_size=1),
        log=lambda s: None,
    )
    assert result.steps == 1 and (tmp_path / "model" / "config.json").exists()


def test_saved_model_keeps_its_generation_settings(tmp_path, setup):
    """The Trainer turns the KV cache off for training; the saved model must keep the model's
    own setting, or recommendation would generate without a cache."""
    import json

    from grlm.train.trainer import TrainConfig, train

    tokenizer, encoded, fresh = setup
    model = fresh()
    assert model.config.use_cache
    result = train(
        model,
        tokenizer,
        encoded,
        tmp_path,
        TrainConfig(max_steps=1, batch_size=4),
        log=lambda s: None,
    )
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["use_cache"] is True and result.steps == 1
