"""Item text: an item's metadata rendered as the short text that prompts and embeddings see."""

from __future__ import annotations

import ast
import html
import re

from grlm.data.schema import Item
from grlm.errors import InvalidInputError

__all__ = ["clean_text", "item_text"]

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACES = re.compile(r"\s+")


def clean_text(raw: str) -> str:
    """Plain text from a metadata field: a Python/JSON list literal becomes its elements joined
    by spaces, HTML tags are dropped, entities unescaped and whitespace collapsed."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, (list, tuple)):
            text = " ".join(str(part) for part in value if str(part).strip())
    text = html.unescape(_TAG.sub(" ", text))
    return _SPACES.sub(" ", text).strip()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # Cut at a word boundary when one is reasonably close, so no half word reaches the model.
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "..."


def item_text(item: Item, *, max_description: int = 150, max_title: int = 200) -> str:
    """Renders an item for prompts and embeddings.

    One ``Field: value`` line per known field — title, brand, categories, description — with
    missing fields omitted. The description is cleaned and cut to ``max_description`` characters
    (the paper's code keeps about 150).

    Parameters
    ----------
    item : Item
        The canonical item.
    max_description : int, keyword-only
        Longest description kept, in characters; 0 drops the description.
    max_title : int, keyword-only
        Longest title kept, in characters.

    Returns
    -------
    str
        The text; ``"Item <id>"`` when the item has no text at all.
    """
    if max_description < 0 or max_title < 1:
        raise InvalidInputError(
            f"max_description must be >= 0 and max_title >= 1, got {max_description}, {max_title}"
        )
    lines = []
    title = clean_text(item.title)
    if title:
        lines.append(f"Title: {_truncate(title, max_title)}")
    brand = clean_text(item.brand)
    if brand:
        lines.append(f"Brand: {brand}")
    categories = [clean_text(c) for c in item.categories]
    categories = [c for c in categories if c]
    if categories:
        lines.append(f"Categories: {' > '.join(categories)}")
    description = clean_text(item.description)
    if description and max_description > 0:
        lines.append(f"Description: {_truncate(description, max_description)}")
    if not lines:
        return f"Item {item.item_id}"
    return "\n".join(lines)
