"""Batched generation with a tiny random model: left padding, explicit decoding settings."""

from __future__ import annotations

import pytest
from _tiny_lm import tiny_lm
from grlm.errors import InvalidInputError
from grlm.terms.generate import HFGenerator, load_causal_lm

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm()


def conversations():
    texts = ["short", "a much longer prompt that needs a lot of padding in the batch", "mid one"]
    return [[{"role": "user", "content": t}] for t in texts]


def test_batched_greedy_equals_one_by_one(lm):
    batched = HFGenerator(lm, max_new_tokens=12, batch_size=3, stop_strings=())
    single = HFGenerator(lm, max_new_tokens=12, batch_size=1, stop_strings=())
    assert batched.tokenizer.padding_side == "left"
    together = batched.generate(conversations(), answer_prefix="[")
    alone = [single.generate([c], answer_prefix="[")[0] for c in conversations()]
    assert together == alone
    assert all(isinstance(t, str) and t for t in together)


def test_decoding_settings_are_explicit(lm):
    generator = HFGenerator(lm, max_new_tokens=5)
    greedy = generator.generation_config(None)
    assert greedy.do_sample is False and greedy.num_beams == 1 and greedy.max_new_tokens == 5
    sampled = generator.generation_config(7)
    assert sampled.do_sample is True and sampled.num_beams == 1
    assert generator.eos_token_ids == [2]


def test_sampling_is_seeded(lm):
    generator = HFGenerator(lm, max_new_tokens=10, stop_strings=())
    first = generator.generate(conversations(), seed=3)
    assert generator.generate(conversations(), seed=3) == first
    assert generator.generate(conversations(), seed=4) != first


def test_render_uses_chat_template_and_prefix(lm):
    generator = HFGenerator(lm)
    text = generator.render([{"role": "user", "content": "hi"}], "[")
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n["


def test_load_saved_folder_and_bad_arguments(lm, tmp_path):
    model, tokenizer = lm
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    loaded, loaded_tokenizer = load_causal_lm(tmp_path / "m", device="cpu")
    assert loaded.config.hidden_size == 32 and loaded_tokenizer("ab").input_ids == [68, 69]
    with pytest.raises(InvalidInputError, match="dtype"):
        load_causal_lm(tmp_path / "m", dtype="int3")
    with pytest.raises(InvalidInputError, match="batch_size"):
        HFGenerator(lm, batch_size=0)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "a.gguf").touch()
    (tmp_path / "g" / "b.gguf").touch()
    with pytest.raises(InvalidInputError, match="several GGUF"):
        load_causal_lm(tmp_path / "g")


def test_gguf_is_unpacked_to_a_dense_model():
    from grlm.terms.generate import _gguf_dense

    assert _gguf_dense(None) == {}
    transformers = pytest.importorskip("transformers")
    if not hasattr(transformers, "GgufConfig"):
        assert _gguf_dense("model.gguf") == {}  # older transformers always unpack
        return
    config = _gguf_dense("model.gguf")["quantization_config"]
    assert config.dequantize is True
