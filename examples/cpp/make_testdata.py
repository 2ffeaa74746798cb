"""Writes examples/cpp/testdata: a catalog, its index files saved by the Python Grounder (both
modes, with priors), queries, and the Python Grounder's answers in the exact line format of
ground_stdin. The ctest `consumer_example` compares the C++ example's output with those answers;
tests/test_cpp_example_testdata.py checks that running this script again gives the same files.

    PYTHONPATH=python python examples/cpp/make_testdata.py [OUT_DIR]
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from grlm.ground import Grounder

MODES = ("positional", "bag")
K = 10
VOCAB = [
    "perfume",
    "floral",
    "woody",
    "hair-mask",
    "water bottle",
    "café",
    "oud",
    "mint",
    "musk",
    "citrus",
]


def catalog() -> dict[str, list[str]]:
    rng = random.Random(14)
    items = {f"item{n}": [rng.choice(VOCAB) for _ in range(4)] for n in range(40)}
    items['quote"d\\item'] = ["perfume", "floral", "woody", "oud"]  # JSON escaping
    items["crème-7"] = ["perfume", "floral", "woody", "oud"]  # UTF-8, and a collision
    return items


def queries(items: dict[str, list[str]]) -> list[str]:
    rng = random.Random(15)
    terms = list(items.values())
    lines = []
    for n in range(60):
        query = (
            list(rng.choice(terms))
            if n % 2
            else [rng.choice(VOCAB + ["unknown"]) for _ in range(rng.randint(1, 4))]
        )
        lines.append(", ".join(query) if n % 3 else "[" + ", ".join(query) + "]")
    return lines + ["", "  PERFUME ,  Floral,woody , oud  "]  # a blank line; normalization


def parse(line: str) -> list[str]:
    """ground_stdin's parsing: brackets optional, comma-separated, each term trimmed."""
    body = line.strip().removeprefix("[").removesuffix("]")
    return [term.strip() for term in body.split(",")]


def answer_line(number: int, result) -> str:
    items = ",".join(json.dumps(i, ensure_ascii=False) for i in result.item_ids)
    scores = ",".join(format(s, ".17g") for s in result.scores)
    return f'{{"line":{number},"hit":"{result.hit}","items":[{items}],"scores":[{scores}]}}'


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    items = catalog()
    lines = queries(items)
    priors = {item: float(n % 3) for n, item in enumerate(items)}
    (out / "catalog.json").write_text(
        json.dumps(items, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    (out / "queries.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for mode in MODES:
        grounder = Grounder(items, mode=mode, priors=priors)
        grounder.save(out / f"{mode}.grlm")
        answers = [
            answer_line(n, grounder.ground(parse(line), k=K))
            for n, line in enumerate(lines, start=1)
            if line.strip()
        ]
        (out / f"expected_{mode}.jsonl").write_text("\n".join(answers) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "testdata")
