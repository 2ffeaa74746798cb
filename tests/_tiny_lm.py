"""The tests' tiny language models, built in memory (no download) so training, generation and
CTG tests run in seconds: three tokenizers (byte-level BPE with a chat template, characters
with a chat template, whole words) and one random-weight decoder builder."""

from __future__ import annotations

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
BASE_CORPUS = [
    (
        "You are a recommender system. Every item is identified by its Term ID, a bracketed "
        "list of keywords."
    ),
    "A user interacted with these items, oldest first:",
    "Give the Term ID of the item the user will interact with next.",
    "Give the Term ID of this item. Title: Brand: Categories: Description:",
    "[a, b, c] system user assistant 0123456789 history",
]
WORDS = [
    "red",
    "blue",
    "green",
    "shoe",
    "shirt",
    "coat",
    "wool",
    "silk",
    "nike",
    "puma",
    "zara",
    "dress",
    "hat",
    "user",
    "bought",
    "next",
    "a",
    "the",
]


def chat_tokenizer(corpus=(), vocab_size: int = 500):
    """Byte-level BPE trained on a few prompt sentences plus ``corpus``, ChatML template (a
    49k-token vocabulary would dominate the tests' time)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        special_tokens=["<|im_end|>", "<|im_start|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(list(BASE_CORPUS) + list(corpus), trainer)
    return _chatml_tokenizer(backend, pad_token="<|im_end|>")


def char_tokenizer():
    """One token per printable character, ChatML template; pad 0, ``<|im_start|>`` 1, EOS 2."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    return _chatml_tokenizer(core, pad_token="<pad>")


def _chatml_tokenizer(core, *, pad_token: str):
    """A fast tokenizer over ``core`` with ChatML's special tokens and template."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=pad_token,
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML
    return tokenizer


def word_tokenizer():
    """Word-level tokenizer: '[red, shoe]' -> '[', 'red', ',', 'shoe', ']'; pad 0, EOS 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "[": 3, "]": 4, ",": 5, ".": 6, ":": 7}
    for word in WORDS:
        vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_model(
    vocab_size: int,
    *,
    kind: str = "llama",
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    init_range: float = 0.02,
    eos_token_id: int = 1,
    pad_token_id: int = 0,
    bos_token_id: int | None = None,
):
    """Random-weight Llama or Qwen3 decoder (4 heads, 2 KV heads), in eval mode. A large
    ``init_range`` (0.5) gives peaked next-token distributions: few near-ties in beam tests."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    common = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "initializer_range": init_range,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
        "bos_token_id": bos_token_id,
        "tie_word_embeddings": False,
    }
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif kind == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(head_dim=hidden // 4, **common))
    else:
        raise ValueError(kind)
    return model.eval()


def model_for(tokenizer, **options):
    """:func:`tiny_model` sized for ``tokenizer``, with its EOS and pad ids."""
    return tiny_model(
        len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **options,
    )


def tiny_lm(seed: int = 0):
    """(model, tokenizer): the character tokenizer and a Llama for it (bos 1, as in CTG
    tests)."""
    tokenizer = char_tokenizer()
    return tiny_model(
        len(tokenizer), seed=seed, eos_token_id=2, pad_token_id=0, bos_token_id=1
    ), tokenizer
