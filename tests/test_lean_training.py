"""The lean fine-tuning levers, each against a plain reference: the cut model, the catalog and
trie losses, the short prompt, the model card, the decoder's vocabulary and the time budget."""

from __future__ import annotations

import itertools
import json
import os

import pytest
import torch
from _tiny_lm import chat_tokenizer, model_for, tiny_model, word_tokenizer
from grlm.errors import InvalidInputError
from grlm.model_card import CARD_FILE, ModelCard
from grlm.objective import SHORT_PACKED_PROMPT, Objective
from grlm.train.encode import IGNORE_INDEX, collate, encode_examples
from grlm.train.lean import keep_first_layers
from grlm.train.losses import AnswerTrie, LossHead
from grlm.train.packed import PackedExample

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TERM_IDS = {
    "a": ("red", "shoe", "wool"),
    "b": ("red", "shoe", "silk"),
    "c": ("blue", "coat", "wool"),
    "d": ("blue", "hat", "nike"),
    "e": ("green", "dress", "zara"),
    "f": ("red", "shoe", "wool"),  # shares a's Term ID
}


@pytest.fixture(scope="module")
def tokenizer():
    return chat_tokenizer([", ".join(t) for t in TERM_IDS.values()] * 3)


@pytest.fixture(scope="module")
def model(tokenizer):
    return model_for(tokenizer, hidden=32, layers=3, init_range=0.3)


def _examples(tokenizer, objective):
    windows = [("a", "c", "d"), ("b", "e"), ("c", "a", "b", "f")]
    packed = [
        PackedExample("seq", f"u{i}", items, tuple(TERM_IDS[x] for x in items), 1)
        for i, items in enumerate(windows)
    ]
    encoded, _ = encode_examples(tokenizer, packed, max_length=512, objective=objective)
    ids, mask, labels = collate(encoded, tokenizer.pad_token_id)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _reference_losses(model, batch, allowed_at, end: int):
    """Per answer position: -log softmax over ``allowed_at(the answer's tokens so far)`` (None:
    the whole vocabulary; positions with one allowed token are skipped), from the model's full
    logits, one position at a time; ``end`` ends an answer."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    losses = []
    for row in range(logits.shape[0]):
        labels = batch["labels"][row].tolist()
        line: list[int] = []
        for t in range(1, len(labels)):
            if labels[t] == IGNORE_INDEX:
                line = []
                continue
            allowed = allowed_at(tuple(line))
            if allowed is None or len(allowed) > 1:
                row_logits = logits[row, t - 1].float()
                cols = list(range(row_logits.numel())) if allowed is None else sorted(allowed)
                log_probs = torch.log_softmax(row_logits[cols], dim=0)
                losses.append(-float(log_probs[cols.index(labels[t])]))
            line = [] if labels[t] == end else line + [labels[t]]
    return losses


def test_losses_equal_their_references(model, tokenizer):
    objective = Objective("packed", "short")
    batch = _examples(tokenizer, objective)
    answers = [objective.answer_ids(tokenizer, t) for t in TERM_IDS.values()]
    vocabulary = sorted({t for a in answers for t in a})
    prefixes: dict[tuple[int, ...], set[int]] = {}
    for answer in answers:
        for i in range(len(answer)):
            prefixes.setdefault(tuple(answer[:i]), set()).add(answer[i])

    cases = {
        "token": lambda prefix: None,
        "catalog": lambda prefix: set(vocabulary),
        "trie": lambda prefix: prefixes[prefix],
    }
    for kind, allowed_at in cases.items():
        head = LossHead.for_catalog(kind, objective, tokenizer, TERM_IDS, positions_only=True)
        batch_k = {**batch, **head.batch_extras(batch["labels"])}
        with torch.no_grad():
            got = head.position_losses(model, batch_k).tolist()
        expected = _reference_losses(model, batch, allowed_at, objective.end_token(tokenizer))
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-5), kind
        assert head.loss(model, batch_k).item() == pytest.approx(sum(expected) / len(expected))
    # The trie loss skips forced tokens: fewer positions than the catalog loss.
    trie_head = LossHead.for_catalog("trie", objective, tokenizer, TERM_IDS)
    assert sum(trie_head.batch_extras(batch["labels"])["trie_keep"].tolist()) < int(
        (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    )
    # The token loss at the loss positions equals the model's own loss over the whole sequence.
    full = LossHead("token", positions_only=False).loss(model, batch)
    at_positions = LossHead("token", positions_only=True).loss(model, batch)
    assert full.item() == pytest.approx(at_positions.item(), rel=1e-5)


def test_losses_backpropagate_and_refuse_labels_outside_the_catalog(model, tokenizer):
    objective = Objective("packed", "short")
    batch = _examples(tokenizer, objective)
    for kind in ("catalog", "trie"):
        head = LossHead.for_catalog(kind, objective, tokenizer, TERM_IDS)
        model.zero_grad()
        head.loss(model, {**batch, **head.batch_extras(batch["labels"])}).backward()
        assert model.model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0
    small = {k: v for k, v in TERM_IDS.items() if k in ("d", "e")}
    for kind in ("catalog", "trie"):
        head = LossHead.for_catalog(kind, objective, tokenizer, small)
        with pytest.raises(InvalidInputError, match="not in the catalog"):
            head.loss(model, {**batch, **head.batch_extras(batch["labels"])})
    with pytest.raises(InvalidInputError, match="train.loss"):
        LossHead("bag")


def test_answer_trie_walks_whole_answers_and_names_a_stray_token():
    trie = AnswerTrie([[5, 6, 1], [5, 7, 1]], end_token=1)
    assert trie.label_nodes([5, 6, 1, 5, 7, 1]) == [0, 1, 2, 0, 1, 4]
    with pytest.raises(InvalidInputError, match="answer token 9"):
        trie.label_nodes([5, 9])


def test_keep_first_layers_is_an_ordinary_model(tmp_path, tokenizer):
    from transformers import AutoModelForCausalLM

    full = model_for(tokenizer, hidden=32, layers=4)
    cut = keep_first_layers(model_for(tokenizer, hidden=32, layers=4), 2)
    assert cut.config.num_hidden_layers == 2 and len(cut.model.layers) == 2
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        # The reference: the full model with its last layers skipped by hand.
        hidden = full.model.embed_tokens(ids)
        positions = torch.arange(4)[None]
        cos_sin = full.model.rotary_emb(hidden, positions)
        for layer in full.model.layers[:2]:
            hidden = layer(hidden, position_embeddings=cos_sin, attention_mask=None)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        expected = full.lm_head(full.model.norm(hidden))
        assert torch.allclose(cut(input_ids=ids).logits, expected, atol=1e-5)
    cut.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert again.config.num_hidden_layers == 2
    with torch.no_grad():
        assert torch.equal(again(input_ids=ids).logits, cut(input_ids=ids).logits)
    with pytest.raises(InvalidInputError, match="keep_layers"):
        keep_first_layers(model_for(tokenizer, hidden=32, layers=2), 3)


def test_short_prompt_is_the_training_prefix(tokenizer):
    short = Objective("packed", "short")
    history = ("a", "c")
    ids = short.history_prompt_ids(tokenizer, history, TERM_IDS)
    head = list(tokenizer(SHORT_PACKED_PROMPT, add_special_tokens=False)["input_ids"])
    assert ids[: len(head)] == head
    chat = Objective("packed").history_prompt_ids(tokenizer, history, TERM_IDS)
    assert len(ids) < len(chat) and ids[len(head) :] == chat[-(len(ids) - len(head)) :]
    example = PackedExample("seq", "u", ("a", "c", "d"), tuple(TERM_IDS[x] for x in "acd"), 2)
    encoded, _ = encode_examples(tokenizer, [example], max_length=512, objective=short)
    assert list(encoded[0].input_ids[: len(ids)]) == ids
    with pytest.raises(InvalidInputError, match="packed"):
        Objective("prefix", "short")
    with pytest.raises(InvalidInputError, match="sft.prompt"):
        Objective("packed", "long")


def test_model_card_round_trip_and_bad_files(tmp_path):
    assert ModelCard.load(tmp_path) == ModelCard()  # no card: the defaults
    card = ModelCard(objective="packed", prompt="short", lines="plain", loss="trie", keep_layers=4)
    card.save(tmp_path)
    assert ModelCard.load(tmp_path) == card
    assert card.to_objective().lines == "plain"
    assert card.normalization == "allowed" and card.restricts_vocabulary
    assert ModelCard(loss="catalog").normalization == "full"
    (tmp_path / CARD_FILE).write_text("{not json")
    with pytest.raises(InvalidInputError, match="not JSON"):
        ModelCard.load(tmp_path)
    (tmp_path / CARD_FILE).write_text(json.dumps({"loss": "trie", "colour": 1}))
    with pytest.raises(InvalidInputError, match="colour"):
        ModelCard.load(tmp_path)
    with pytest.raises(InvalidInputError, match="train.loss"):
        ModelCard(loss="bag")
    with pytest.raises(InvalidInputError, match="sft.lines: plain needs the packed objective"):
        ModelCard(objective="prefix", lines="plain")


def test_free_decoding_after_the_trie_loss_is_refused():
    from grlm.pipeline.config import config_from_dict

    ModelCard(loss="catalog").check_decoding("free")
    ModelCard(loss="trie").check_decoding("constrained")
    with pytest.raises(InvalidInputError, match="free decoding needs"):
        ModelCard(loss="trie").check_decoding("free")
    base = {"terms": {"source": "metadata"}, "train": {"loss": "trie"}}
    config_from_dict({**base, "recommend": {"decoding": ["constrained"]}})
    with pytest.raises(InvalidInputError, match="recommend.decoding: free decoding needs"):
        config_from_dict({**base, "recommend": {"decoding": ["constrained", "free"]}})


class _Masked(torch.nn.Module):
    """The reference of a vocabulary: the model with every other token's logit at -inf."""

    def __init__(self, model, vocabulary):
        super().__init__()
        self.inner = model
        self.mask = torch.full((model.config.vocab_size,), float("-inf"))
        self.mask[list(vocabulary)] = 0.0

    def forward(self, input_ids):
        logits = self.inner(input_ids=input_ids).logits
        return type("Out", (), {"logits": logits + self.mask})


def test_decoder_vocabulary_equals_masked_logits():
    from grlm.decoding import TokenTrie, reference_constrained_beam_search
    from grlm.decoding.beam_search import BeamSearchDecoder

    words = word_tokenizer()
    model = tiny_model(len(words), init_range=0.5)
    catalog = {"x": ["red", "shoe"], "y": ["red", "hat"], "z": ["blue", "coat"]}
    trie = TokenTrie.from_items(catalog, words)
    catalog_tokens = {t for k in catalog for t in trie.sequence(k)} | {words.eos_token_id}
    prompts = [words("user bought a red shoe . next :")["input_ids"], words("the hat")["input_ids"]]
    sequences = {k: trie.sequence(k) for k in catalog}
    # The catalog's tokens; the same without "hat" (item y can never be written); and a
    # vocabulary of fewer tokens than a free step's 2 * num_beams candidates.
    hat = words("hat")["input_ids"][0]
    vocabularies = [sorted(catalog_tokens), sorted(catalog_tokens - {hat})]
    for vocabulary, shared_prompt in itertools.product(vocabularies, (True, False)):
        masked = _Masked(model, vocabulary)
        for normalization in ("full", "allowed"):
            decoder = BeamSearchDecoder(
                model, trie, num_beams=3, backend="torch", normalization=normalization,
                vocabulary=vocabulary, shared_prompt=shared_prompt,
            )  # fmt: skip
            for prompt, found in zip(prompts, decoder.search(prompts)):
                expected = reference_constrained_beam_search(
                    masked, prompt, sequences, eos_token_id=trie.end_token, num_beams=3,
                    normalization=normalization,
                )  # fmt: skip
                assert [h.tokens for h in found] == [h.tokens for h in expected]
                assert [h.score for h in found] == pytest.approx(
                    [h.score for h in expected], abs=1e-4
                )
                if hat not in vocabulary:
                    assert all("y" not in h.items for h in found)
    small = sorted(catalog_tokens)[:2] + [words.eos_token_id]
    for vocabulary, shared_prompt in itertools.product(vocabularies + [small], (True, False)):
        masked = _Masked(model, vocabulary)
        free = BeamSearchDecoder(
            model, None, num_beams=3, backend="torch", vocabulary=vocabulary,
            shared_prompt=shared_prompt,
        )  # fmt: skip
        for prompt, found in zip(
            prompts, free.search(prompts, constrained=False, max_new_tokens=4)
        ):
            expected = reference_constrained_beam_search(
                masked, prompt, None, eos_token_id=words.eos_token_id, num_beams=3,
                max_new_tokens=4,
            )  # fmt: skip
            assert [h.tokens for h in found] == [h.tokens for h in expected]
            assert all(t in vocabulary for h in found for t in h.tokens)
    with pytest.raises(InvalidInputError, match="empty"):
        BeamSearchDecoder(model, trie, vocabulary=[])
    with pytest.raises(InvalidInputError, match="end token"):
        BeamSearchDecoder(model, trie, vocabulary=[3, 4])
    with pytest.raises(InvalidInputError, match="token ids"):
        BeamSearchDecoder(model, trie, vocabulary=[1, 10_000])


def test_time_budget_stops_training(tmp_path, tokenizer):
    from grlm.train.trainer import TrainConfig, train

    objective = Objective("packed", "short")
    windows = [PackedExample("seq", "u", ("a", "c"), (TERM_IDS["a"], TERM_IDS["c"]), 1)] * 64
    encoded, _ = encode_examples(tokenizer, windows, max_length=512, objective=objective)
    model = model_for(tokenizer, hidden=32, layers=2)
    head = LossHead.for_catalog("catalog", objective, tokenizer, TERM_IDS)
    config = TrainConfig(
        epochs=1000, batch_size=4, learning_rate=1e-3, loss="catalog", time_budget_s=2.0,
        log_every=1000, threads=1,
    )  # fmt: skip
    card = ModelCard(prompt="short", loss="catalog")
    result = train(model, tokenizer, encoded, tmp_path, config, log=lambda s: None, head=head,
                   card=card)  # fmt: skip
    assert 0 < result.steps < 16 * 1000 and result.seconds < 30
    assert ModelCard.load(tmp_path / "model") == card
    with pytest.raises(InvalidInputError, match="time_budget_s"):
        TrainConfig(time_budget_s=0).validate()
    with pytest.raises(InvalidInputError, match="loss head"):
        train(model, tokenizer, encoded, tmp_path / "x", TrainConfig(loss="trie"), head=head)


def test_inference_precision(monkeypatch):
    import grlm._machine
    from grlm.lm import inference_dtype
    from grlm.pipeline.config import config_from_dict

    assert inference_dtype("cuda") == torch.bfloat16
    assert inference_dtype("cuda", "fp32") == torch.float32
    assert inference_dtype("cpu", "bf16") == torch.bfloat16
    for has_bf16, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(grlm._machine, "cpu_has_bf16", lambda has=has_bf16: has)
        assert inference_dtype("cpu") == dtype
    with pytest.raises(InvalidInputError, match="precision must be one of"):
        inference_dtype("cpu", "fp16")
    base = {"terms": {"source": "metadata"}}
    assert config_from_dict(base).recommend.precision == "auto"
    with pytest.raises(InvalidInputError, match="recommend.precision"):
        config_from_dict({**base, "recommend": {"precision": "half"}})
