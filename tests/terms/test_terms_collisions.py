"""Collision detection and resolution on constructed collisions."""

from __future__ import annotations

from grlm.terms.collisions import distinguishing_words, find_collisions, resolve_collisions

A = ("glue", "bonding", "fast", "hobbyist", "medium")
B = ("staple", "fastening", "steel", "contractor", "narrow")


def test_find_collisions_in_catalog_order():
    ids = {"x": B, "1": A, "2": A, "y": B, "z": ("q",), "3": A}
    assert find_collisions(ids) == [["x", "y"], ["1", "2", "3"]]
    assert find_collisions({"1": A}) == []


def test_regeneration_fixes_later_items_only():
    ids = {"1": A, "2": A, "3": A}
    asked = []

    def regenerate(requests, round_index):
        asked.append((round_index, [(i, [tuple(t) for t in avoid]) for i, avoid in requests]))
        return {
            "2": ("glue", "bonding", "fast", "hobbyist", "thick"),
            "3": ("glue", "bonding", "fast", "hobbyist", "thick"),
        }  # 3 collides with new 2

    fixed, report = resolve_collisions(
        ids, texts={i: "Title: glue gel" for i in ids}, regenerate=regenerate, rounds=1
    )
    assert asked == [(0, [("2", [A]), ("3", [A])])]
    assert fixed["1"] == A
    assert fixed["2"] == ("glue", "bonding", "fast", "hobbyist", "thick")
    assert report.changed_by_regeneration == ["2"]
    # "3" could not take the proposal (now taken by "2"), so its text decides: "glue" is already
    # in its Term ID, "gel" replaces the last term.
    assert report.changed_by_text == ["3"]
    assert fixed["3"] == A[:4] + ("gel",)
    assert len(set(fixed.values())) == 3
    assert report.items_in_collisions_before == 3 and report.groups_before == 1
    assert report.items_in_collisions_after == 0 and not report.unresolved


def test_illegal_or_taken_proposals_are_rejected():
    ids = {"1": A, "2": B, "3": A}

    def regenerate(requests, round_index):
        return {"3": B} if round_index == 0 else {"3": ("only", "four", "terms", "here")}

    fixed, report = resolve_collisions(
        ids,
        texts={"1": "", "2": "", "3": "Title: Cyanoacrylate glue for balsa models"},
        regenerate=regenerate,
        rounds=2,
    )
    assert report.changed_by_regeneration == []
    assert report.changed_by_text == ["3"]
    # The weakest (last) term is replaced with a word from the item's own text.
    assert fixed["3"][:4] == A[:4] and fixed["3"][4] != A[4]
    assert fixed["3"][4] in {"cyanoacrylate", "balsa", "models"}


def test_text_replacement_prefers_rare_words_and_reports_unresolved():
    ids = {"1": A, "2": A, "3": A}
    texts = {"1": "Title: common glue", "2": "Title: common glue rare", "3": "Title: glue"}
    fixed, report = resolve_collisions(ids, texts=texts, regenerate=None)
    assert fixed["2"] == A[:4] + ("rare",)
    # Item 3's text offers only "glue", already in its Term ID: nothing distinguishes it.
    assert fixed["3"] == A
    assert report.unresolved == ["3"] and report.items_in_collisions_after == 2


def test_distinguishing_words():
    assert distinguishing_words("Title: The Stanley TRA708T staple, Heavy-Duty for roofing") == [
        "stanley",
        "tra708t",
        "staple",
        "heavy-duty",
        "roofing",
    ]
    assert distinguishing_words("x common rare", {"common": 10, "rare": 1}) == ["rare", "common"]
