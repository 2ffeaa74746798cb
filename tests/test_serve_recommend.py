"""/v1/recommend with a tiny random model: the answer is the evaluation path's for the same
history (prompt of the objective, fast constrained decoder, grounding, ranking)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from fastapi.testclient import TestClient

CATALOG = {f"i{n}": [f"a{n % 5}", f"b{n % 3}", f"c{n}"] for n in range(12)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from _tiny_lm import chat_tokenizer, model_for

    folder = tmp_path_factory.mktemp("serve_model")
    tokenizer = chat_tokenizer([" ".join(t) for t in CATALOG.values()] * 3)
    model_for(tokenizer, hidden=64).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _evaluation_path(model_dir, grounder, rules, history, *, normalization=None, precision="auto"):
    """The evaluation path's recommendation for ``history``: the model of ``model_dir`` under
    the objective ``rules``, in ``precision`` as the service loads it; a ``normalization`` also
    restricts decoding to the catalog's tokens, as a lean model's card asks."""
    from grlm.lm import inference_dtype, load_model, load_tokenizer
    from grlm.recommend import Case, recommend

    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir), dtype=inference_dtype("cpu", precision))
    prompt = rules.history_prompt_ids(tokenizer, history, CATALOG)
    scoring = {}
    if normalization is not None:
        scoring = {
            "normalization": normalization,
            "vocabulary": rules.vocabulary(tokenizer, CATALOG),
        }
    return recommend(
        model,
        tokenizer,
        grounder,
        [Case("u", tuple(prompt))],
        k=5,
        num_beams=4,
        batch_size=1,
        term_id_length=3,
        trie=rules.trie(tokenizer, CATALOG),
        decoder="fast",
        eos_token_id=rules.end_token(tokenizer),
        parse=rules.parse_answer,
        **scoring,
    ).users[0]


@pytest.mark.parametrize("objective", ["packed", "prefix"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_recommend_equals_the_evaluation_path(model_dir, tmp_path, objective, precision):
    from _serve_apps import make_app
    from grlm.ground import Grounder
    from grlm.objective import Objective

    grounder = Grounder(CATALOG)
    app = make_app(
        grounder, model_dir=str(model_dir), objective=objective, num_beams=4, precision=precision
    )
    history = ["i1", "i4", "i7"]
    with TestClient(app) as client:
        answer = client.post("/v1/recommend", json={"history": history, "k": 5})
        assert answer.status_code == 200, answer.text
        unknown = client.post("/v1/recommend", json={"history": ["i1", "zz"]})
        assert (
            unknown.status_code == 422 and "'zz' is not in the catalog" in unknown.json()["error"]
        )
        empty = client.post("/v1/recommend", json={"history": []})
        assert empty.status_code == 422
        assert client.get("/healthz").json()["recommend"] is True
        assert "/v1/recommend" in client.get("/openapi.json").json()["paths"]

    expected = _evaluation_path(
        model_dir, grounder, Objective(objective), history, precision=precision
    )
    body = answer.json()
    assert body["items"] == expected.items and body["hits"] == expected.item_hits
    assert 1 <= len(body["items"]) <= 5 and set(body["items"]) <= set(CATALOG)


def test_the_model_loads_in_the_precision_asked(model_dir):
    from grlm.errors import InvalidInputError
    from grlm.serve.recommender import LoadedModel

    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        loaded = LoadedModel.load(str(model_dir), precision=precision)
        assert next(loaded.model.parameters()).dtype == dtype
    with pytest.raises(InvalidInputError, match="precision must be one of"):
        LoadedModel.load(str(model_dir), precision="fp16")


def test_recommend_follows_catalog_changes(model_dir):
    from _serve_apps import TOKEN, make_app
    from grlm.ground import Grounder

    app = make_app(Grounder(CATALOG), model_dir=str(model_dir), num_beams=4)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        assert client.post("/v1/recommend", json={"history": ["fresh"]}).status_code == 422
        put = client.put("/v1/items", headers=auth, json={"items": {"fresh": ["a1", "b1", "c1"]}})
        assert put.status_code == 200
        removed = client.request("DELETE", "/v1/items", headers=auth, json={"item_ids": ["i3"]})
        assert removed.status_code == 200
        answer = client.post("/v1/recommend", json={"history": ["fresh", "i1"], "k": 12})
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert "i3" not in items and set(items) <= (set(CATALOG) | {"fresh"})
        trie = app.state.service.catalog.current.trie
        assert "i3" not in trie and "fresh" in trie


def test_the_trie_follows_a_store_changed_by_another_worker(model_dir, tmp_path):
    from _serve_apps import TOKEN
    from grlm.ground import Grounder
    from grlm.serve.app import ServeConfig, create_app
    from grlm.serve.state import store_source
    from grlm.store import create_store

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    create_store(url, Grounder(CATALOG)).close()

    def worker():
        config = ServeConfig(
            source=store_source(url), store=url, token=TOKEN, model_dir=str(model_dir), num_beams=4
        )
        return create_app(config)

    auth = {"Authorization": f"Bearer {TOKEN}"}
    reader_app = worker()
    with TestClient(worker()) as writer, TestClient(reader_app) as reader:
        put = writer.put("/v1/items", headers=auth, json={"items": {"fresh": ["a1", "b1", "c1"]}})
        removed = writer.request("DELETE", "/v1/items", headers=auth, json={"item_ids": ["i3"]})
        assert put.status_code == removed.status_code == 200
        version = removed.json()["catalog_version"]
        answer = reader.post(
            "/v1/recommend",
            json={"history": ["fresh", "i1"], "k": 12},
            headers={"X-Min-Catalog-Version": str(version)},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["catalog_version"] >= version
        items = answer.json()["items"]
        assert "i3" not in items and set(items) <= (set(CATALOG) | {"fresh"})
        trie = reader_app.state.service.catalog.current.trie
        assert "i3" not in trie and "fresh" in trie


@pytest.mark.parametrize(
    "loss, lines", [("catalog", "bracketed"), ("trie", "bracketed"), ("catalog", "plain")]
)
def test_recommend_scores_as_the_model_card_says(model_dir, tmp_path, loss, lines):
    """A lean model's folder records its prompt, lines and loss: the service prompts, scores and
    parses it as the evaluation path does with the card's settings, with no flag."""
    import shutil

    from _serve_apps import make_app
    from grlm.ground import Grounder
    from grlm.model_card import ModelCard

    folder = tmp_path / "lean"
    shutil.copytree(model_dir, folder)
    card = ModelCard(prompt="short", lines=lines, loss=loss, keep_layers=2)
    card.save(folder)
    grounder = Grounder(CATALOG)
    history = ["i2", "i5"]
    with TestClient(make_app(grounder, model_dir=str(folder), num_beams=4)) as client:
        answer = client.post("/v1/recommend", json={"history": history, "k": 5})
        assert answer.status_code == 200, answer.text
    expected = _evaluation_path(
        folder, grounder, card.to_objective(), history, normalization=card.normalization
    )
    assert answer.json()["items"] == expected.items
    if lines == "plain":  # every beam spelled a catalog Term ID: all of them hit directly
        assert set(expected.item_hits) == {"direct"}
