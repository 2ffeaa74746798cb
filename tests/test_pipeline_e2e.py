"""End to end on a tiny random model and a synthetic dataset: every stage runs and writes its
documented outputs, up-to-date stages are skipped, and metrics come from the right split — a
model that memorises its training data scores nothing on test targets it never saw, and the
same model does score once test targets leak into training (so the check can fail)."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NUM_USERS = 8
POOL = 10


def _write_dataset(folder):
    """User u: pool items p(u)..p(u+3) (next = previous + 1 mod POOL), then a validation item
    v_u and a test item x_u that occur nowhere else; every item has terms of its own."""
    term_ids = {f"p{j}": [f"pa{j}", f"pb{j}", f"pc{j}", "pool"] for j in range(POOL)}
    lines = []
    for u in range(NUM_USERS):
        term_ids[f"v{u}"] = [f"vala{u}", f"valb{u}", f"valc{u}", f"vald{u}"]
        term_ids[f"x{u}"] = [f"testa{u}", f"testb{u}", f"testc{u}", f"testd{u}"]
        seq = [f"p{(u + j) % POOL}" for j in range(4)] + [f"v{u}", f"x{u}"]
        lines.append(f"u{u} " + " ".join(seq))
    folder.mkdir()
    (folder / "sequential_data.txt").write_text("\n".join(lines) + "\n")
    (folder / "item_id2tid.json").write_text(json.dumps(term_ids))
    return term_ids


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from _tiny_lm import chat_tokenizer, model_for

    folder = tmp_path_factory.mktemp("tiny")
    term_ids = _write_dataset(folder / "data")
    tokenizer = chat_tokenizer([" ".join(terms) for terms in term_ids.values()] * 3)
    folder = folder / "model"
    model_for(tokenizer, hidden=64).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _config(tmp_path, data_dir, model_dir, objective="prefix"):
    from grlm.pipeline import config_from_dict

    return config_from_dict(
        {
            "name": "e2e",
            "output_dir": str(tmp_path / "run"),
            "model": str(model_dir),
            "dataset": {"source": str(data_dir), "max_history": 1},
            "terms": {"source": "file", "path": str(data_dir / "item_id2tid.json")},
            "sft": {
                "objective": objective,
                "tasks": {"seq": 4.0},
                "max_length": 256,
                "valid_users": 4,
                "curve_users": 3,
            },
            "train": {
                "epochs": 12,
                "batch_size": 8,
                "learning_rate": 3e-3,
                "warmup_ratio": 0.0,
                "log_every": 10,
                "save_every": 60,
            },
            "recommend": {"splits": ["valid", "test"], "num_beams": 4, "k": 5, "batch_size": 8},
            "baselines": ["popularity"],
        }
    )


def _training_cases(split, max_history):
    """Every training target of every user, as an evaluation example."""
    from grlm.data.splits import Example

    return [
        Example(user, tuple(seq[max(0, t - max_history) : t]), seq[t])
        for user, seq in sorted(split.train.items())
        for t in range(1, len(seq))
    ]


def _leaky_examples(split, term_ids, objective):
    """The training examples with the test targets leaked in (the control)."""
    from grlm.train.examples import seq_examples
    from grlm.train.packed import packed_eval_examples, packed_train_examples

    if objective == "packed":
        return (
            packed_train_examples(split, term_ids, max_history=1) * 4
            + packed_eval_examples(split, term_ids, stage="test", max_history=1) * 8
        )
    return (
        seq_examples(split, term_ids, stage="train", max_history=1) * 4
        + seq_examples(split, term_ids, stage="test", max_history=1) * 8
    )


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["prefix", "packed"])
def test_pipeline_end_to_end_and_no_leakage(tmp_path, tiny_model_dir, objective):
    from grlm.lm import load_model, load_tokenizer
    from grlm.objective import Objective
    from grlm.pipeline import Pipeline
    from grlm.recommend import metrics, recommend
    from grlm.train.encode import encode_examples
    from grlm.train.trainer import TrainConfig, train

    data_dir = tmp_path / "data"
    _write_dataset(data_dir)
    config = _config(tmp_path, data_dir, tiny_model_dir, objective)
    out = tmp_path / "run"
    lines = []
    report = Pipeline(config, log=lines.append).run()

    # every stage ran and wrote its outputs in the documented formats
    for path in [
        "terms/term_ids.jsonl",
        "sft/train.jsonl",
        "sft/valid.jsonl",
        "sft/summary.json",
        "train/model/config.json",
        "train/train_result.json",
        "recommend/test-free.jsonl",
        "recommend/valid-free_metrics.json",
        "recommend/test-free_metrics.json",
        "baselines/popularity.json",
        "report.json",
        "report.md",
        "recall_at_k_test.png",
        "grounding_hits.png",
        "train_loss.png",
    ]:
        assert (out / path).exists(), path
    rows = [
        json.loads(line) for line in (out / "recommend/test-free.jsonl").read_text().splitlines()
    ]
    assert len(rows) == NUM_USERS
    assert set(rows[0]) == {
        "user_id",
        "target",
        "items",
        "item_hits",
        "beams",
        "beam_scores",
        "beam_hits",
    }
    assert all(len(r["beams"]) == 4 and len(r["items"]) <= 5 for r in rows)
    # recommend.precision "auto": bf16 where the CPU computes in bf16, fp32 elsewhere
    from grlm.lm import inference_dtype

    free_metrics = json.loads((out / "recommend/test-free_metrics.json").read_text())
    assert free_metrics["precision"] == str(inference_dtype("cpu")).removeprefix("torch.")
    assert {r["target"] for r in rows} == {f"x{u}" for u in range(NUM_USERS)}
    sft = [json.loads(line) for line in (out / "sft/train.jsonl").read_text().splitlines()]
    targets = (
        [item for r in sft for item in r["items"]]
        if objective == "packed"
        else [r["target_item"] for r in sft]
    )
    assert sft and all(item.startswith("p") for item in targets)
    assert not any("val" in json.dumps(r) or "test" in json.dumps(r) for r in sft)
    saved = json.loads((out / "report.json").read_text())
    assert saved["model"]["test"]["free"]["num_examples"] == NUM_USERS
    assert saved["sft"]["objective"] == objective
    assert set(saved["baselines"]) == {"popularity"}
    paired = saved["statistics"]["test"]["paired"]["GRLM - popularity"]["recall@5"]
    assert paired["low"] <= paired["mean"] <= paired["high"]
    assert "| GRLM |" in (out / "report.md").read_text()
    assert report["train"]["steps"] > 0
    curve = report["train"]["valid_metrics"]
    assert curve and curve[-1][0] == report["train"]["steps"] and "recall@10" in curve[-1][1]

    # the model memorised its training data: it reproduces training targets ...
    tokenizer = load_tokenizer(str(out / "train/model"))
    model = load_model(str(out / "train/model"))
    pipeline = Pipeline(config, log=lines.append)
    grounder = pipeline.grounder()
    _, split, _ = pipeline.data()
    term_ids = pipeline.term_ids()
    goal = Objective(objective)
    settings = {
        "k": 5,
        "num_beams": 4,
        "batch_size": 8,
        "max_new_tokens": 24,
        "eos_token_id": goal.end_token(tokenizer),
    }
    seen = metrics(
        recommend(
            model,
            tokenizer,
            grounder,
            pipeline.cases(_training_cases(split, 1), tokenizer),
            **settings,
        )
    )
    assert seen["recall@1"] >= 0.3  # chance: about 0.1
    # ... and scores nothing on held-out targets it never saw
    assert report["model"]["test"]["free"]["recall@5"] == 0.0
    assert report["model"]["valid"]["free"]["recall@5"] == 0.0

    # rerunning skips every stage; changing k reruns recommendation only
    lines.clear()
    Pipeline(config, log=lines.append).run()
    assert sum("up to date, skipped" in line for line in lines) == 5
    config.recommend.k = 4
    lines.clear()
    Pipeline(config, log=lines.append).run()
    assert [line for line in lines if "running" in line] == ["[recommend] running"]
    # constrained decoding: every beam spells a catalog Term ID, so every hit is direct
    config.recommend.decoding = ["free", "constrained"]
    report = Pipeline(config, log=lines.append).run()
    rows = [
        json.loads(line)
        for line in (out / "recommend/test-constrained.jsonl").read_text().splitlines()
    ]
    assert all(hit == "direct" for r in rows for hit in r["beam_hits"])
    assert set(report["table"]["test"]) == {"GRLM (free)", "GRLM (constrained)", "popularity"}

    # control: the same training with test targets leaked in does score on test
    leaky = _leaky_examples(split, term_ids, objective)
    encoded, _ = encode_examples(tokenizer, leaky, max_length=256, objective=goal)
    fresh = load_model(str(tiny_model_dir))
    train(
        fresh,
        tokenizer,
        encoded,
        tmp_path / "leaky",
        TrainConfig(epochs=12, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0, log_every=10),
        log=lambda s: None,
    )
    leaked = metrics(
        recommend(fresh, tokenizer, grounder, pipeline.cases(split.test, tokenizer), **settings)
    )
    assert leaked["recall@5"] >= 0.125  # at least one of the 8 users


def test_demo_yaml_is_the_demo_preset():
    from pathlib import Path

    import yaml
    from grlm.pipeline.presets import DEMO

    path = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    assert yaml.safe_load(path.read_text()) == DEMO


def test_every_shipped_config_parses():
    from pathlib import Path

    from grlm.pipeline import load_config

    folder = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in folder.glob("*.yaml"))
    assert {"demo.yaml", "beauty_paper.yaml", "beauty_official_tids.yaml"} <= set(names)
    for name in names:
        load_config(folder / name)


def test_config_errors_name_the_problem(tmp_path):
    from grlm.errors import InvalidInputError
    from grlm.pipeline import config_from_dict, load_config

    with pytest.raises(InvalidInputError, match="unknown field"):
        config_from_dict({"train": {"epoch": 1}})
    with pytest.raises(InvalidInputError, match="terms.path"):
        config_from_dict({"terms": {"source": "file"}})
    with pytest.raises(InvalidInputError, match="baseline"):
        config_from_dict({"terms": {"source": "metadata"}, "baselines": ["bpr"]})
    path = tmp_path / "c.yaml"
    path.write_text("terms: {source: metadata}\ntrain: {epochs: 2}\n")
    config = load_config(path, ["train.epochs=3", "recommend.num_beams=5"])
    assert config.train.epochs == 3 and config.recommend.num_beams == 5
    with pytest.raises(InvalidInputError, match=r"train.learning_rate must be a number.*2.0e-3"):
        load_config(path, ["train.learning_rate=2e-3"])  # YAML 1.1 reads 2e-3 as text
    with pytest.raises(InvalidInputError, match="recommend.num_beams must be a number"):
        load_config(path, ["recommend.num_beams=five"])
    assert load_config(path, ["train.learning_rate=2.0e-3"]).train.learning_rate == 2e-3


def test_cli_run_until_a_stage(tmp_path, capsys):
    import yaml
    from grlm.cli import main

    data_dir = tmp_path / "data"
    _write_dataset(data_dir)
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output_dir": str(tmp_path / "out"),
                "dataset": {"source": str(data_dir), "max_history": 2},
                "terms": {"source": "file", "path": str(data_dir / "item_id2tid.json")},
                "sft": {"tasks": {"seq": 1.0}, "objective": "prefix"},
            }
        )
    )
    assert (
        main(
            [
                "run",
                "--config",
                str(config),
                "--until",
                "sft",
                "--set",
                "sft.max_targets_per_user=1",
            ]
        )
        == 0
    )
    rows = (tmp_path / "out" / "sft" / "train.jsonl").read_text().splitlines()
    assert len(rows) == NUM_USERS  # one (the most recent) training target per user
    assert not (tmp_path / "out" / "train").exists()
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_stages_follow_file_contents_not_file_times(tmp_path):
    import dataclasses

    from grlm.pipeline import Pipeline

    data_dir = tmp_path / "data"
    term_ids = _write_dataset(data_dir)
    config = _config(tmp_path, data_dir, "unused-model")
    lines = []

    def run(config=config):
        lines.clear()
        Pipeline(config, log=lines.append).run(until="sft")
        return [line for line in lines if "running" in line or "skipped" in line]

    assert run() == ["[terms] running", "[sft] running"]

    # A fresh copy of the same data (new mtimes) is up to date ...
    for path in data_dir.iterdir():
        stat = path.stat()
        os.utime(path, (stat.st_atime + 3600, stat.st_mtime + 3600))
    assert run() == ["[terms] up to date, skipped", "[sft] up to date, skipped"]

    # ... and so is a change that only evaluation reads ...
    fewer_eval_users = dataclasses.replace(
        config, recommend=dataclasses.replace(config.recommend, max_eval_users=3)
    )
    assert run(fewer_eval_users) == ["[terms] up to date, skipped", "[sft] up to date, skipped"]

    # ... while changed interactions rerun the training examples but not the Term IDs ...
    sequences = data_dir / "sequential_data.txt"
    sequences.write_text(sequences.read_text().replace("u0 p0 p1", "u0 p5 p0 p1"))
    assert run() == ["[terms] up to date, skipped", "[sft] running"]

    # ... and changed Term IDs rerun both.
    term_ids["p0"] = ["other", "terms", "for", "p0"]
    (data_dir / "item_id2tid.json").write_text(json.dumps(term_ids))
    assert run() == ["[terms] running", "[sft] running"]
