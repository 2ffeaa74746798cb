"""Tiny tokenizer and random-weight models for the decoding tests (built in memory, no network)."""

from __future__ import annotations

import random

WORDS = ["red", "blue", "green", "shoe", "shirt", "coat", "wool", "silk", "nike", "puma", "zara",
         "dress", "hat", "user", "bought", "next", "a", "the"]


def word_tokenizer():
    """Word-level fast tokenizer: '[red, shoe]' -> '[', 'red', ',', 'shoe', ']'; EOS id 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "[": 3, "]": 4, ",": 5, ".": 6, ":": 7}
    for word in WORDS:
        vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


def tiny_model(vocab_size: int, *, kind: str = "llama", seed: int = 0, eos_token_id: int = 1,
               pad_token_id: int = 0):
    """Random-weight decoder with peaked next-token distributions (large init: few near-ties)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    common = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "initializer_range": 0.5, "eos_token_id": eos_token_id,
              "pad_token_id": pad_token_id, "bos_token_id": None, "tie_word_embeddings": False}
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif kind == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(head_dim=8, **common))
    else:
        raise ValueError(kind)
    return model.eval()


def random_catalog(n: int, seed: int = 0, max_terms: int = 3) -> dict[str, list[str]]:
    """n items with 1..max_terms terms: shared prefixes, one-term IDs, collisions."""
    rng = random.Random(seed)
    items = {f"i{i:03d}": [rng.choice(WORDS[:13]) for _ in range(rng.randint(1, max_terms))]
             for i in range(n)}
    keys = sorted(items)
    items[keys[-1]] = list(items[keys[0]])  # a collision
    items["short"] = [items[keys[1]][0]]  # a Term ID that is a prefix of another's terms
    return items


def one_thread():
    """Context for the tiny models: torch's thread pool costs far more than these matmuls on a
    loaded machine (milliseconds per call), so run them on one thread."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def scope():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return scope()
