"""Fuzz target: TokenTrie operations (add, remove, walk, allowed_after, items_of, export) against
a plain Python model, a dict of live items to their token sequences."""

from __future__ import annotations

import _harness

EOS = 1


def live_prefixes(model: dict) -> dict[tuple, set]:
    """Model answer: every live prefix and the tokens allowed after it."""
    allowed: dict[tuple, set] = {}
    for seq in model.values():
        for i in range(len(seq)):
            allowed.setdefault(tuple(seq[:i]), set()).add(seq[i])
    return allowed


def test_one_input(data: bytes) -> None:
    import byte_provider as provider
    from grlm.decoding import TokenTrie
    from grlm.errors import InvalidInputError

    fdp = provider.Provider(data)
    trie = TokenTrie(EOS)
    model: dict[str, list[int]] = {}
    for _ in range(fdp.int(1, 40)):
        op = fdp.int(0, 5)
        key = f"k{fdp.int(0, 15)}"
        if op <= 2:  # add: short sequences over few tokens share prefixes and collide
            seq = [fdp.int(2, 5) for _ in range(fdp.int(0, 3))] + [EOS]
            if fdp.int(0, 15) == 0:
                seq = [fdp.int(-2, 3) for _ in range(fdp.int(0, 3))]  # maybe malformed
            valid = seq and seq[-1] == EOS and all(t >= 0 and t != EOS for t in seq[:-1])
            try:
                trie.add(key, seq)
            except InvalidInputError:
                assert key in model or not valid, (key, seq)
                continue
            assert key not in model and valid, (key, seq)
            model[key] = seq
        elif op == 3:
            assert trie.remove(key) == (key in model)
            model.pop(key, None)
        else:
            prefix = [fdp.int(1, 5) for _ in range(fdp.int(0, 4))]
            expected = sorted(live_prefixes(model).get(tuple(prefix), set()))
            assert trie.allowed_after(prefix) == expected, (prefix, expected, model)
            expected_items = sorted(k for k, s in model.items() if s == prefix)
            assert trie.items_of(prefix) == expected_items, (prefix, model)
            assert (trie.walk(prefix) >= 0) == (
                tuple(prefix) in live_prefixes(model) or bool(expected_items)
            )
    assert len(trie) == len(model)
    arrays = trie.export()
    assert int(arrays["live"][0]) == len(model)
    for key, seq in model.items():
        assert trie.sequence(key) == seq


if __name__ == "__main__":
    _harness.run(test_one_input)
