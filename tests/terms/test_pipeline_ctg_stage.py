"""The pipeline's terms stage with ``terms.source: ctg``: it runs ``grlm terms build`` on the
dataset's items with the configured model and keeps a Term ID for every item."""

from __future__ import annotations

import pytest
from _tiny_lm import tiny_lm
from grlm.term_ids import load_term_ids


@pytest.mark.slow
def test_terms_stage_builds_term_ids_with_ctg(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from grlm.data import save_dataset
    from grlm.data.schema import Dataset, Item
    from grlm.pipeline import Pipeline, config_from_dict

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_dir = tmp_path / "model"
    model, tokenizer = tiny_lm()
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    words = ["steel", "copper", "brass", "nylon", "rubber", "glass"]
    items = {
        f"i{n}": Item(
            f"i{n}",
            title=f"{words[n % 6]} {words[(n + 1) % 6]} clamp size {n}",
            description="A sturdy workshop clamp.",
            brand="Acme",
        )
        for n in range(8)
    }
    sequences = {f"u{u}": [f"i{(u + j) % 8}" for j in range(4)] for u in range(6)}
    save_dataset(Dataset("clamps", items, sequences), tmp_path / "data")
    config = config_from_dict(
        {
            "name": "ctg",
            "output_dir": str(tmp_path / "run"),
            "model": str(model_dir),
            "dataset": {"source": str(tmp_path / "data")},
            "terms": {
                "source": "ctg",
                "ctg_args": [
                    "--no-context",
                    "--batch-size",
                    "4",
                    "--max-new-tokens",
                    "8",
                    "--seeds",
                    "1",
                    "--no-progress",
                ],
            },
        }
    )
    lines = []
    Pipeline(config, log=lines.append).run(until="terms")

    assert any("terms build" in line for line in lines)
    term_ids = load_term_ids(tmp_path / "run" / "terms" / "term_ids.jsonl")
    assert set(term_ids) == set(items)
    # A random model answers nonsense, so the IDs were repaired from the item text: five legal,
    # distinct terms per item and no two items alike.
    assert all(len(t) == 5 and len(set(t)) == 5 for t in term_ids.values())
    assert len(set(term_ids.values())) == len(items)
    assert {"clamp", "steel"} & set(term_ids["i0"])

    lines.clear()
    Pipeline(config, log=lines.append).run(until="terms")
    assert any("up to date, skipped" in line for line in lines)
