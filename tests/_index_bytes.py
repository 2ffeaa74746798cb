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


class Damaged(ValueError):
    """The structure of an index file is broken (what LoadIndex must refuse, whatever the
    values); the message names the field."""


def parse(data: bytes) -> dict:
    """The fields of an index file, read as LoadIndex reads them, checking the structure only
    (sizes, counts, checksum, ranges): raises Damaged naming the first broken field. The values
    the core judges (normalized and distinct terms, UTF-8, distinct ids, finite numbers) are
    returned, not checked. The fuzz target of the loader runs it beside LoadIndex: written in
    Python, it gives the fuzzer a coverage signal for each field even where the core is built
    without coverage instrumentation."""
    at = 0

    def take(n: int, field: str) -> bytes:
        nonlocal at
        if n > len(data) - at:
            raise Damaged(f"field {field!r} is truncated")
        at += n
        return data[at - n : at]

    def u32(field: str) -> int:
        return struct.unpack("<I", take(4, field))[0]

    if take(8, "magic") != MAGIC:
        raise Damaged("bad magic")
    if u32("format version") != VERSION:
        raise Damaged("format version")
    size = struct.unpack("<Q", take(8, "payload size"))[0]
    if len(data) - at < 8 or size != len(data) - at - 8:
        raise Damaged("payload size")
    if struct.unpack("<Q", data[-8:])[0] != fnv1a(data[at:-8]):
        raise Damaged("checksum")
    data = data[:-8]
    length = u32("term_id_length")
    if not 1 <= length <= 16:
        raise Damaged("term_id_length")
    mode = take(1, "mode")[0]
    if mode > 1:
        raise Damaged("mode")
    weights = struct.unpack(f"<{length}d", take(8 * length, "weights"))
    terms = [take(u32("terms"), "terms") for _ in range(u32("number of terms"))]
    ids = [take(u32("item ids"), "item ids") for _ in range(u32("number of items"))]
    flat = struct.unpack(f"<{len(ids) * length}I", take(4 * len(ids) * length, "item terms"))
    if any(t >= len(terms) and t != 0xFFFFFFFE for t in flat):
        raise Damaged("item terms")
    has_priors = take(1, "has priors")[0]
    if has_priors > 1:
        raise Damaged("has priors")
    priors = struct.unpack(f"<{len(ids)}d", take(8 * len(ids), "priors")) if has_priors else None
    if at != len(data):
        raise Damaged("unexpected bytes after the index")
    return {
        "length": length,
        "mode": mode,
        "weights": weights,
        "terms": terms,
        "ids": ids,
        "priors": priors,
    }


def seeds() -> list[bytes]:
    """Valid index files of both modes, with and without priors and padding, and near-valid
    ones (each breaking one field, checksum recomputed): a fuzzer's starting corpus."""
    valid = [
        wrap(payload()),
        wrap(payload(mode=1, priors=[1.0, 0.5])),
        wrap(
            payload(
                length=3,
                terms=(b"hair", b"hair mask", b"serum", "é".encode()),
                ids=(b"a", b"b", b"c"),
                item_terms=[[0, 1, 2], [1, 3, 0xFFFFFFFE], [2, 2, 0xFFFFFFFE]],
            )
        ),
    ]
    near = [
        wrap(payload(num_items=3)),
        wrap(payload(num_terms=5)),
        wrap(payload(terms=(b"x", b"x"))),
        wrap(payload(ids=(b"a", b"a"))),
        wrap(payload(weights=[float("nan"), 1.0])),
        wrap(payload(length=0, weights=[])),
        wrap(payload(mode=2)),
        wrap(payload(item_terms=[[0, 7], [1, 1]])),
        wrap(payload())[:-9],
    ]
    return valid + near
