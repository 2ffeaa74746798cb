"""Loaders of every supported format, on small fixture files written by the tests."""

from __future__ import annotations

import gzip
import json

import pytest
from grlm.data import (
    Dataset,
    Item,
    k_core,
    load_amazon,
    load_dataset,
    load_minionerec,
    load_p5,
    load_recbole,
    load_saved_dataset,
    save_dataset,
)
from grlm.errors import InvalidInputError

# --- GRLM/P5 -------------------------------------------------------------------------------


def _write_p5(root, lines, terms):
    root.mkdir(parents=True, exist_ok=True)
    (root / "sequential_data.txt").write_text("\n".join(lines) + "\n")
    (root / "item_id2tid.json").write_text(json.dumps(terms))
    return root


TERMS = {
    "1": ["hair-mask", "citrus"],
    "2": ["shampoo", "color"],
    "3": ["soap", "raw"],
    "4": ["water bottle", "steel"],
}


def test_p5_loads_terms_and_order(tmp_path):
    root = _write_p5(tmp_path / "beauty", ["1 1 2 3", "2 3 2 1 4"], TERMS)
    ds = load_p5(root)
    assert ds.name == "beauty"
    assert ds.sequences == {"1": ["1", "2", "3"], "2": ["3", "2", "1", "4"]}
    assert ds.items["4"].terms == ("water bottle", "steel")
    assert ds.timestamps is None
    assert load_dataset(root).sequences == ds.sequences


@pytest.mark.parametrize(
    "lines, terms, message",
    [
        (["1 1 2", "2 9"], TERMS, "'9' has no Term ID"),
        (["1 1 2", "7"], TERMS, "has no items"),
        (["1 1 2", "1 2 3"], TERMS, "duplicate user"),
        (["1 1 2"], {"1": ["a"], "2": []}, "invalid Term ID"),
        (["1 1 2"], {"1": ["a"], "2": ["b", " "]}, "invalid Term ID"),
    ],
)
def test_p5_errors(tmp_path, lines, terms, message):
    root = _write_p5(tmp_path / "d", lines, terms)
    with pytest.raises(InvalidInputError, match=message):
        load_p5(root)


def test_p5_empty_and_malformed_files(tmp_path):
    root = _write_p5(tmp_path / "d", ["1 1 2"], TERMS)
    (root / "sequential_data.txt").write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        load_p5(root)
    (root / "sequential_data.txt").write_text("\n\n")
    with pytest.raises(InvalidInputError, match="no user sequences"):
        load_p5(root)
    (root / "sequential_data.txt").write_text("1 1 2\n")
    (root / "item_id2tid.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="malformed JSON"):
        load_p5(root)


# --- MiniOneRec ----------------------------------------------------------------------------

HEADER = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid"


def _write_minionerec(root, valid_rows, test_rows, n_items=8):
    root.mkdir(parents=True, exist_ok=True)
    items = {
        str(i): {
            "title": f"Item {i}",
            "description": "['Para one. ', 'Para  two.']",
            "brand": "Acme",
            "categories": "",
        }
        for i in range(n_items)
    }
    (root / "items.json").write_text(json.dumps(items))
    for name, rows in (("valid.csv", valid_rows), ("test.csv", test_rows)):
        body = [HEADER] + [f'{u},"[]",t,"{h}",{t},"[]",s' for u, h, t in rows]
        (root / name).write_text("\n".join(body) + "\n")
    return root


def test_minionerec_rebuilds_sequences(tmp_path):
    root = _write_minionerec(
        tmp_path / "ind",
        [("A", [1, 2], 3), ("A", [1, 2, 3], 4)],
        [("A", [2, 3, 4], 5), ("B", [6], 7)],
    )
    ds = load_minionerec(root)
    assert ds.sequences == {"A": ["1", "2", "3", "4", "5"], "B": ["6", "7"]}
    assert ds.timestamps == {"A": [0, 0, 1, 1, 2], "B": [0, 2]}
    assert ds.items["0"].description == "Para one. Para two."
    assert ds.items["0"].brand == "Acme" and ds.items["0"].categories == ()
    assert "lost" in ds.source  # says what is approximate


def test_minionerec_errors(tmp_path):
    root = _write_minionerec(tmp_path / "a", [("A", [1, 2], 3)], [("A", [5, 3], 4)])
    with pytest.raises(InvalidInputError, match="not the end"):
        load_minionerec(root)
    root = _write_minionerec(tmp_path / "b", [("A", [1, 2], 3)], [("A", [3], 42)])
    with pytest.raises(InvalidInputError, match="unknown item id '42'"):
        load_minionerec(root)
    root = _write_minionerec(tmp_path / "c", [("A", [1], 2)], [("A", [2], 3)])
    (root / "test.csv").write_text(HEADER + '\nA,"[]",t,"[1, 2",3,"[]",s\n')
    with pytest.raises(InvalidInputError, match="malformed history"):
        load_minionerec(root)


# --- Amazon raw ----------------------------------------------------------------------------


def _write_gz(path, records, python_literals=False):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for r in records:
            handle.write((repr(r) if python_literals else json.dumps(r)) + "\n")


def test_k_core_iterates_to_fixed_point():
    # Every user and item already has 2 interactions: nothing goes at k=2; k=3 empties it.
    x = [
        ("u1", "a", 1),
        ("u1", "b", 2),
        ("u2", "a", 3),
        ("u2", "c", 4),
        ("u3", "c", 5),
        ("u3", "b", 6),
        ("u4", "a", 7),
        ("u4", "b", 8),
    ]
    kept = k_core(x, 2)
    users = {u for u, _, _ in kept}
    items = {i for _, i, _ in kept}
    for u in users:
        assert sum(1 for v, _, _ in kept if v == u) >= 2
    for i in items:
        assert sum(1 for _, j, _ in kept if j == i) >= 2
    assert kept == k_core(kept, 2)
    assert kept == x
    assert k_core(x, 3) == []
    with pytest.raises(InvalidInputError):
        k_core(x, 0)


def test_k_core_one_pass_is_not_enough():
    # Users u1..u3 have 2 items each; item z is used once -> removing z makes u3 short.
    x = [
        ("u1", "a", 1),
        ("u1", "b", 2),
        ("u2", "a", 1),
        ("u2", "b", 2),
        ("u3", "a", 1),
        ("u3", "z", 2),
    ]
    kept = k_core(x, 2)
    assert {u for u, _, _ in kept} == {"u1", "u2"}
    assert {i for _, i, _ in kept} == {"a", "b"}


def test_amazon_reviews_and_meta(tmp_path):
    reviews = []
    for u in range(5):
        for i, t in ((0, 30), (1, 10), (2, 20), (3, 40), (4, 50)):  # out of order in the file
            reviews.append(
                {"reviewerID": f"U{u}", "asin": f"I{i}", "unixReviewTime": t + u, "overall": 5.0}
            )
    reviews.append({"reviewerID": "U9", "asin": "I0", "unixReviewTime": 5, "overall": 1.0})
    _write_gz(tmp_path / "reviews_Tiny.json.gz", reviews)
    meta = [
        {
            "asin": "I0",
            "title": "Shampoo &amp; <b>Conditioner</b>",
            "description": "A  b",
            "categories": [["Beauty", "Hair"], ["Beauty", "Bath"]],
            "brand": "X",
        },
        {"asin": "I1", "title": "Soap", "description": ["p1", "p2"], "category": ["Beauty"]},
        {"asin": "I2", "title": "Mask"},
        {"asin": "I3"},
        {"asin": "I4", "title": "Gel"},
    ]
    _write_gz(tmp_path / "meta_Tiny.json.gz", meta, python_literals=True)  # 2014 style
    ds = load_amazon(tmp_path / "reviews_Tiny.json.gz", tmp_path / "meta_Tiny.json.gz", k=5)
    assert ds.name == "Tiny"
    assert set(ds.sequences) == {f"U{u}" for u in range(5)}  # U9 removed by the 5-core
    assert ds.sequences["U0"] == ["I1", "I2", "I0", "I3", "I4"]  # sorted by time
    assert ds.timestamps["U1"] == [11.0, 21.0, 31.0, 41.0, 51.0]
    assert ds.items["I0"].title == "Shampoo & Conditioner"
    assert ds.items["I0"].categories == ("Beauty", "Hair", "Bath")
    assert ds.items["I1"].description == "p1 p2"
    assert load_dataset(tmp_path).sequences == ds.sequences
    # Without I4's metadata, I4 is dropped and every user keeps 4 items: no 5-core remains.
    _write_gz(tmp_path / "meta_Tiny.json.gz", meta[:4])
    with pytest.raises(InvalidInputError, match="survive"):
        load_amazon(tmp_path / "reviews_Tiny.json.gz", tmp_path / "meta_Tiny.json.gz", k=5)
    rated = load_amazon(tmp_path / "reviews_Tiny.json.gz", k=1, min_rating=4.0)
    assert "U9" not in rated.sequences


def test_amazon_errors(tmp_path):
    (tmp_path / "reviews_Bad.json").write_text('{"reviewerID": "u", "asin": "a"}\n')
    with pytest.raises(InvalidInputError, match="unixReviewTime"):
        load_amazon(tmp_path / "reviews_Bad.json", k=1)
    (tmp_path / "reviews_Bad.json").write_text("{oops\n")
    with pytest.raises(InvalidInputError, match=":1: malformed line"):
        load_amazon(tmp_path / "reviews_Bad.json", k=1)
    (tmp_path / "reviews_Bad.json").write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        load_amazon(tmp_path / "reviews_Bad.json", k=1)


# --- RecBole atomic ------------------------------------------------------------------------


def _write_recbole(root, inter_rows, item_rows):
    root.mkdir(parents=True, exist_ok=True)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"] + inter_rows
    (root / "tiny.inter").write_text("\n".join(inter) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    (root / "tiny.item").write_text("\n".join(items + item_rows) + "\n")
    return root


def test_recbole_loads_and_sorts(tmp_path):
    root = _write_recbole(
        tmp_path / "rb",
        ["1\t10\t5\t300", "1\t11\t3\t100", "2\t10\t4\t50"],
        ["10\tToy Story\t1995\tAnimation Comedy", "11\tunkonwn\tunknown\tunknown"],
    )
    ds = load_recbole(root)
    assert ds.name == "tiny"
    assert ds.sequences == {"1": ["11", "10"], "2": ["10"]}
    assert ds.timestamps["1"] == [100.0, 300.0]
    assert ds.items["10"].title == "Toy Story (1995)"
    assert ds.items["10"].categories == ("Animation", "Comedy")
    assert ds.items["11"].title == "" and ds.items["11"].categories == ()
    assert load_dataset(root / "tiny.inter").sequences == ds.sequences


def test_recbole_errors(tmp_path):
    root = _write_recbole(tmp_path / "a", ["1\t99\t5\t300"], ["10\tToy Story\t1995\tAnimation"])
    with pytest.raises(InvalidInputError, match="unknown item id '99'"):
        load_recbole(root)
    root = _write_recbole(tmp_path / "b", ["1\t10\t5\tyesterday"], ["10\tT\t1995\tA"])
    with pytest.raises(InvalidInputError, match="bad timestamp"):
        load_recbole(root)
    root = _write_recbole(tmp_path / "c", [], ["10\tT\t1995\tA"])
    with pytest.raises(InvalidInputError, match="no rows"):
        load_recbole(root)


# --- canonical save/load -------------------------------------------------------------------


def _tiny_dataset(with_times=True):
    items = {
        "a": Item("a", title="A", categories=("x", "y"), terms=("t1", "t2")),
        "b": Item("b", description="d"),
        "c": Item("c", brand="B", terms=None),
    }
    seqs = {"u1": ["a", "b", "c"], "u2": ["c", "a"]}
    times = {"u1": [1.0, 2.0, 2.0], "u2": [0.0, 5.0]} if with_times else None
    return Dataset("tiny", items, seqs, times, source="unit test")


@pytest.mark.parametrize("with_times", [True, False])
def test_save_load_roundtrip(tmp_path, with_times):
    ds = _tiny_dataset(with_times)
    save_dataset(ds, tmp_path / "saved")
    back = load_saved_dataset(tmp_path / "saved")
    assert back == ds
    assert load_dataset(tmp_path / "saved") == ds
    assert not list((tmp_path / "saved").glob("*.tmp"))


def test_saved_dataset_errors(tmp_path):
    save_dataset(_tiny_dataset(), tmp_path / "s")
    seq = tmp_path / "s" / "sequences.jsonl"
    seq.write_text('{"user_id": "u1", "items": ["a", "zzz"], "timestamps": [1, 2]}\n')
    with pytest.raises(InvalidInputError, match="unknown item id 'zzz'"):
        load_saved_dataset(tmp_path / "s")
    seq.write_text('{"user_id": "u1", "items": ["a"]\n')
    with pytest.raises(InvalidInputError, match="sequences.jsonl:1: malformed JSON"):
        load_saved_dataset(tmp_path / "s")
    seq.write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        load_saved_dataset(tmp_path / "s")
    (tmp_path / "s" / "meta.json").write_text('{"format": "other"}')
    with pytest.raises(InvalidInputError, match="not a grlm-dataset"):
        load_saved_dataset(tmp_path / "s")


def test_validate_and_summary():
    ds = _tiny_dataset()
    s = ds.summary()
    assert (s["users"], s["items"], s["interactions"], s["users_under_3"]) == (2, 3, 5, 1)
    assert s["items_with_terms"] == 1 and s["has_timestamps"]
    ds.sequences["u3"] = ["nope"]
    with pytest.raises(InvalidInputError, match="unknown item id 'nope'"):
        ds.validate()


def test_load_dataset_unknown(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InvalidInputError, match="no known dataset format"):
        load_dataset(tmp_path)


def test_cli_data_prepare_and_summary(tmp_path, capsys):
    from grlm.cli.data import main as data_main

    root = _write_p5(tmp_path / "beauty", ["1 1 2 3", "2 3 2 1 4", "3 4"], TERMS)
    assert data_main(["prepare", "--dataset", str(root), "--out", str(tmp_path / "out")]) == 0
    assert load_dataset(tmp_path / "out") == load_p5(root)
    capsys.readouterr()
    assert data_main(["summary", "--dataset", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"]["users"] == 3
    assert summary["split"]["skipped_users"] == 1 and summary["split"]["test_examples"] == 2
