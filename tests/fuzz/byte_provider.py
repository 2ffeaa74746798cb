"""A tiny, deterministic reader of fuzz bytes (ints in a range, a pick, short text), so the
targets do not need atheris to replay an input."""

from __future__ import annotations


class Provider:
    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0

    def _byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def int(self, low: int, high: int) -> int:
        """An int in [low, high] from as few bytes as the range needs."""
        span = high - low + 1
        value, reach = 0, 1
        while reach < span:
            value = value * 256 + self._byte()
            reach *= 256
        return low + value % span

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def text(self, max_chars: int) -> str:
        """Short text mixing ASCII, whitespace, separators and a few non-ASCII code points."""
        alphabet = "abcAB -_\t,;[]'\"é\u00a0\u3001\U0001f600"
        return "".join(self.pick(alphabet) for _ in range(self.int(0, max_chars)))

    def remaining(self) -> bytes:
        rest = self._data[self._pos :]
        self._pos = len(self._data)
        return rest
