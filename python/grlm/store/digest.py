"""The size and SHA-256 of a checkpoint, recorded when it is written and checked when it is read."""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """``(size in bytes, hex SHA-256)`` of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def bytes_digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()
