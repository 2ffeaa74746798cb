"""Index files byte by byte (the layout of csrc/include/grlm/index_file.h), for tests and fuzz
targets that need damaged files whose checksum is still right."""

from __future__ import annotations

import struct

MAGIC = b"GRLMIDX\0"
VERSION = 1


def fnv1a(data: bytes) -> int:
    h = 1469598103934665603
    for byte in data:
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def wrap(payload: bytes, *, size: int | None = None) -> bytes:
    """A whole file around payload: magic, version, size (or the given one), payload, checksum."""
    size = len(payload) if size is None else size
    return MAGIC + struct.pack("<IQ", VERSION, size) + payload + struct.pack("<Q", fnv1a(payload))


def payload(
    *,
    length: int = 2,
    mode: int = 0,
    weights=None,
    terms=(b"x", b"y"),
    ids=(b"a", b"b"),
    item_terms=None,
    priors=None,
    num_terms=None,
    num_items=None,
) -> bytes:
    """The payload of an index; num_terms / num_items override the counts (to lie about them)."""
    weights = [1.0 / (j + 1) for j in range(length)] if weights is None else weights
    if item_terms is None:
        item_terms = [[i % max(len(terms), 1)] * length for i in range(len(ids))]
    out = struct.pack("<IB", length, mode) + struct.pack(f"<{len(weights)}d", *weights)
    out += struct.pack("<I", len(terms) if num_terms is None else num_terms)
    for term in terms:
        out += struct.pack("<I", len(term)) + term
    out += struct.pack("<I", len(ids) if num_items is None else num_items)
    for item_id in ids:
        out += struct.pack("<I", len(item_id)) + item_id
    for row in item_terms:
        out += struct.pack(f"<{len(row)}I", *row)
    if priors is None:
        out += b"\0"
    else:
        out += b"\1" + struct.pack(f"<{len(priors)}d", *priors)
    return out


def rechecksum(data: bytes) -> bytes:
    """data with its size field and checksum recomputed, when it is long enough to have them."""
    if len(data) < 28 or data[:8] != MAGIC:
        return data
    return wrap(data[20:-8])
