"""The CTG pipeline with canned answers: retries, repair, failures, collisions, resumption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from canned import CannedGenerator
from grlm.data.schema import Item
from grlm.errors import InvalidInputError
from grlm.term_ids import load_term_ids, save_term_ids
from grlm.terms.io import GenerationLog
from grlm.terms.parse import validate_terms
from grlm.terms.pipeline import (
    CTGConfig,
    build_term_ids,
    complete_from_neighbours,
    repair_terms,
)

ITEMS = [
    Item("a", title="Cordless drill"),
    Item("b", title="Hammer drill"),
    Item("c", title="Super glue gel"),
    Item("d", title="Wood glue"),
    Item("e", title="Mystery"),
    Item("f", title="Steel staples narrow crown"),
]
DRILL = "drill, drilling, cordless, contractor, battery]"
ANSWERS = {
    "Title: Cordless drill": {"greedy": DRILL},
    # Same answer as "a": a collision; the "must differ" prompt fixes it.
    "Title: Hammer drill": {
        "greedy": DRILL,
        "avoid": "drill, drilling, hammer, contractor, masonry]",
    },
    # Illegal first (4 terms), legal with the stricter prompt.
    "Title: Super glue gel": {
        "greedy": "glue, bonding, gel, hobbyist]",
        "strict": "glue, bonding, gel, hobbyist, fast-setting]",
    },
    # Legal only when sampled with seed 2.
    "Title: Wood glue": {
        "greedy": "glue glue glue]",
        "strict": "glue]",
        "sample:2": "glue, woodworking, strong, carpenter, sandable]",
    },
    # Never legal, nothing usable in its text: failed.
    "Title: Mystery": {},
    # Never legal; repaired from its answer plus its own words.
    "Title: Steel staples narrow crown": {"greedy": "staple, steel, staple]"},
}


class FakeEncoder:
    """Bag-of-letters vectors: deterministic, no model."""

    def encode(self, texts):
        rows = []
        for text in texts:
            row = np.zeros(26, dtype=np.float32)
            for ch in text.lower():
                if "a" <= ch <= "z":
                    row[ord(ch) - 97] += 1
            rows.append(row / max(np.linalg.norm(row), 1e-6))
        return np.stack(rows)


def build(tmp_path, generator, **config):
    config = CTGConfig(**{"context": False, "batch_size": 2, **config})
    return build_term_ids(
        ITEMS, generator=generator, log_path=tmp_path / "log.jsonl", config=config, progress=False
    )


def test_statuses_retries_repair_and_collisions(tmp_path):
    generator = CannedGenerator(ANSWERS)
    result = build(tmp_path, generator)
    records = result.records
    assert {i: records[i]["status"] for i in records} == {
        "a": "ok",
        "b": "ok",
        "c": "retried",
        "d": "retried",
        "e": "failed",
        "f": "repaired",
    }
    assert [a["mode"] for a in records["d"]["attempts"]] == [
        "greedy",
        "strict",
        "sample:1",
        "sample:2",
    ]
    assert result.term_ids["a"] == ("drill", "drilling", "cordless", "contractor", "battery")
    assert result.term_ids["b"] == ("drill", "drilling", "hammer", "contractor", "masonry")
    assert result.term_ids["c"] == ("glue", "bonding", "gel", "hobbyist", "fast-setting")
    assert result.term_ids["f"] == ("staple", "steel", "staples", "narrow", "crown")
    assert "e" not in result.term_ids  # reported, never padded
    assert [f["item_id"] for f in result.failures] == ["e"]
    generation = result.stats["generation"]
    assert generation["legal_first_try"] == 2
    assert generation["legal_first_try_rate"] == pytest.approx(2 / 6)
    assert generation["legal_after_retries_rate"] == pytest.approx(4 / 6)
    assert generation["repaired"] == 1 and generation["failed"] == 1
    collisions = result.stats["collisions"]
    assert collisions["items_in_collisions_before"] == 2
    assert collisions["changed_by_regeneration"] == 1
    assert collisions["items_in_collisions_after"] == 0
    assert result.stats["distinct_term_ids"] == 5


def test_no_repair_reports_failures(tmp_path):
    result = build(tmp_path, CannedGenerator(ANSWERS), repair=False)
    assert [f["item_id"] for f in result.failures] == ["e", "f"]


def test_repair_terms():
    assert repair_terms(
        [["aa bb cc dd", "xx", "i"], ["xx", "yy", "the"]], "Title: Zed and more", num_terms=4
    ) == ("xx", "yy", "zed", "more")
    assert repair_terms([["xx"]], "", num_terms=2) is None


def test_context_puts_neighbours_in_prompts(tmp_path):
    generator = CannedGenerator(ANSWERS)
    config = CTGConfig(context=True, neighbours=2, batch_size=6)
    seen = []

    class Spy(CannedGenerator):
        def generate(self, conversations, **kw):
            seen.extend(c[-1]["content"] for c in conversations)
            return super().generate(conversations, **kw)

    build_term_ids(
        ITEMS,
        generator=Spy(ANSWERS),
        encoder=FakeEncoder(),
        config=config,
        log_path=tmp_path / "ctx.jsonl",
        progress=False,
    )
    first = seen[0]
    assert "Similar products:\n1. Title: " in first and "\n2. Title: " in first
    assert "\n3. " not in first.split("Target product")[0]
    # The glue items are each other's nearest neighbour by letters.
    glue = next(p for p in seen if "Target product:\nTitle: Wood glue" in p)
    assert "1. Title: Super glue gel" in glue
    with pytest.raises(InvalidInputError, match="encoder"):
        build_term_ids(
            ITEMS, generator=generator, config=config, log_path=tmp_path / "x.jsonl", progress=False
        )


def test_resume_after_injected_failure(tmp_path):
    first = CannedGenerator(ANSWERS, fail_after_calls=3)  # dies inside the second batch
    with pytest.raises(RuntimeError, match="injected"):
        build(tmp_path, first)
    log_lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(log_lines) == 1 + 2  # header + the first batch (items a, b)
    second = CannedGenerator(ANSWERS)
    resumed = build(tmp_path, second)
    asked = {key for call in second.calls for key, mode in call if mode != "avoid"}
    assert "Title: Cordless drill" not in asked and "Title: Hammer drill" not in asked
    fresh = build(tmp_path / "fresh", CannedGenerator(ANSWERS))
    assert resumed.term_ids == fresh.term_ids


def test_resume_refuses_other_settings(tmp_path):
    build(tmp_path, CannedGenerator(ANSWERS))
    with pytest.raises(InvalidInputError, match="other settings.*sample_seeds"):
        build(tmp_path, CannedGenerator(ANSWERS), sample_seeds=(9,))


def test_log_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    log = GenerationLog(path, {"x": 1})
    log.append([{"item_id": "1", "terms": ["a"]}, {"item_id": "2", "terms": ["b"]}])
    with open(path, "a") as out:
        out.write('{"item_id": "3", "ter')
    again = GenerationLog(path, {"x": 1})
    assert set(again.records) == {"1", "2"}
    again.append([{"item_id": "3", "terms": ["c"]}])
    assert set(GenerationLog(path, {"x": 1}).records) == {"1", "2", "3"}
    # A whole last record without its newline is kept, and the next append starts a new line.
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    third = GenerationLog(path, {"x": 1})
    third.append([{"item_id": "4", "terms": ["d"]}])
    assert set(GenerationLog(path, {"x": 1}).records) == {"1", "2", "3", "4"}


RUNNER = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from canned import CannedGenerator
    from test_terms_pipeline import ITEMS, ANSWERS, build
    from pathlib import Path
    result = build(Path(sys.argv[3]), CannedGenerator(ANSWERS, delay=float(sys.argv[4])),
                   batch_size=1)
    print(json.dumps({k: list(v) for k, v in result.term_ids.items()}))
""")


def test_resume_after_kill(tmp_path):
    here = Path(__file__).parent
    python_dir = here.parents[1] / "python"
    env = {**os.environ, "PYTHONPATH": f"{python_dir}{os.pathsep}{here}"}
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(python_dir), str(here), str(tmp_path), "0.3"],
        env=env,
        stdout=subprocess.PIPE,
    )
    log = tmp_path / "log.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 3:  # header + 2 items
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(log.read_text().splitlines()) - 1
    assert 2 <= done < len(ITEMS)
    finished = subprocess.run(
        [sys.executable, str(script), str(python_dir), str(here), str(tmp_path), "0"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    resumed = json.loads(finished.stdout.strip().splitlines()[-1])
    fresh = build(tmp_path / "fresh", CannedGenerator(ANSWERS), batch_size=1)
    assert resumed == {k: list(v) for k, v in fresh.term_ids.items()}
    records = GenerationLog(log, json.loads(log.read_text().splitlines()[0])["settings"]).records
    assert sorted(records) == sorted(i.item_id for i in ITEMS)


def test_output_file_round_trip(tmp_path):
    result = build(tmp_path, CannedGenerator(ANSWERS))
    save_term_ids(tmp_path / "t.jsonl", result.term_ids)
    assert load_term_ids(tmp_path / "t.jsonl") == result.term_ids


# Item "x" has only two usable words of its own (the model repeats one of them); its nearest
# neighbour by letters, "z", already holds the Term ID that completion gives "x".
SHORT_ITEMS = [
    Item("z", title="Socket zed wrench"),
    Item("x", title="Socket", brand="Zed"),
    Item("y", title="Garden hose reel"),
]
SHORT_ANSWERS = {
    "Title: Socket zed wrench": {"greedy": "socket, zed, wrench, metric, tool]"},
    "Title: Socket": {
        "greedy": "socket, socket, socket, socket, socket]",
        "avoid": "socket, zed, wrench, metric, spare]",
    },
    "Title: Garden hose reel": {"greedy": "hose, garden, reel, watering, outdoor]"},
}


def test_complete_from_neighbours_rules():
    assert complete_from_neighbours(
        [["socket"] * 5],
        "Title: Socket\nBrand: Zed",
        [["socket", "a", "the", "wrench", "zed"], ["metric", "tool"]],
    ) == ("socket", "zed", "wrench", "metric", "tool")
    assert complete_from_neighbours([["socket"]], "Title: Socket", [["wrench"]]) is None


@pytest.mark.parametrize("context", [True, False])
def test_short_item_completed_from_neighbour_then_collision_resolved(tmp_path, context):
    generator = CannedGenerator(SHORT_ANSWERS)
    config = CTGConfig(context=context, neighbours=1, batch_size=3, sample_seeds=(1,))
    result = build_term_ids(
        SHORT_ITEMS,
        generator=generator,
        encoder=FakeEncoder(),
        config=config,
        log_path=tmp_path / "log.jsonl",
        progress=False,
    )
    record = result.records["x"]
    assert record["status"] == "completed" and record["completed_from"] == ["z"]
    assert record["terms"] == ["socket", "zed", "wrench", "metric", "tool"]
    # Completion collided with "z" (earlier in the catalog, so it keeps its Term ID); collision
    # resolution ran afterwards and changed "x".
    assert result.term_ids["z"] == ("socket", "zed", "wrench", "metric", "tool")
    assert result.term_ids["x"] == ("socket", "zed", "wrench", "metric", "spare")
    assert result.stats["collisions"]["items_in_collisions_before"] == 2
    assert result.stats["collisions"]["changed_by_regeneration"] == 1
    assert not validate_terms(result.term_ids["x"])
    assert len(set(result.term_ids.values())) == 3 and not result.failures
    generation = result.stats["generation"]
    assert generation["completed_from_neighbours"] == 1 and generation["failed"] == 0
    # The log keeps what generation gave: the completion is redone from it on resume.
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[2])["status"] == "failed" and len(lines) == 4


def test_one_item_catalog_still_fails(tmp_path):
    items = [Item("x", title="Socket", brand="Zed")]
    result = build_term_ids(
        items,
        generator=CannedGenerator(SHORT_ANSWERS),
        encoder=FakeEncoder(),
        config=CTGConfig(context=False),
        log_path=tmp_path / "log.jsonl",
        progress=False,
    )
    assert [f["item_id"] for f in result.failures] == ["x"] and not result.term_ids
    assert result.stats["generation"]["failed"] == 1
    assert result.stats["generation"]["completed_from_neighbours"] == 0


def test_no_repair_completes_nothing(tmp_path):
    result = build_term_ids(
        SHORT_ITEMS,
        generator=CannedGenerator(SHORT_ANSWERS),
        encoder=FakeEncoder(),
        config=CTGConfig(context=False, neighbours=1, repair=False),
        log_path=tmp_path / "log.jsonl",
        progress=False,
    )
    assert [f["item_id"] for f in result.failures] == ["x"]
