"""Evaluation splits of a :class:`~grlm.data.schema.Dataset`.

Two protocols:

* :func:`leave_one_out` (the default, the GRLM paper's): per user, the last item is the test
  target, the second-to-last the validation target, everything before is training data; the
  history given with a target is truncated to its last ``max_history`` items (20 in the paper).
* :func:`chronological_split`: one global time cut; interactions before it train, the ones after
  it are validation/test targets, each with the user's earlier interactions as history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grlm.data.schema import Dataset
from grlm.errors import InvalidInputError

DEFAULT_MAX_HISTORY = 20


@dataclass(frozen=True)
class Example:
    """One evaluation case: predict ``target`` from ``history`` (oldest first)."""

    user_id: str
    history: tuple[str, ...]
    target: str


@dataclass
class Split:
    """Training sequences plus validation and test examples.

    Attributes
    ----------
    protocol : str
        ``"leave_one_out"`` or ``"chronological"``.
    train : dict[str, list[str]]
        Per user, the interactions a model may train on (oldest first). No validation or test
        target occurrence is in here.
    valid, test : list[Example]
        Evaluation cases; under leave-one-out one per user, and the test history ends with the
        user's validation target.
    max_history : int or None
        Histories of examples hold at most this many items (``None``: untruncated).
    skipped_users : int
        Users left out because they are too short for the protocol.
    """

    protocol: str
    train: dict[str, list[str]]
    valid: list[Example]
    test: list[Example]
    max_history: int | None
    skipped_users: int = 0
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Counts of the split (JSON-serialisable)."""
        return {
            "protocol": self.protocol,
            "max_history": self.max_history,
            "train_users": len(self.train),
            "train_interactions": sum(len(s) for s in self.train.values()),
            "valid_examples": len(self.valid),
            "test_examples": len(self.test),
            "skipped_users": self.skipped_users,
            **self.details,
        }


def _check_max_history(max_history: int | None) -> None:
    if max_history is not None and max_history < 1:
        raise InvalidInputError(f"max_history must be >= 1 or None, got {max_history}")


def _truncate(items: list[str], max_history: int | None) -> tuple[str, ...]:
    return tuple(items if max_history is None else items[-max_history:])


def leave_one_out(dataset: Dataset, max_history: int | None = DEFAULT_MAX_HISTORY) -> Split:
    """Leave-one-out split: last item test, second-to-last validation, the rest training.

    Parameters
    ----------
    dataset : Dataset
        Sequences in chronological order.
    max_history : int or None, default 20
        Histories of validation/test examples keep only their last ``max_history`` items. The
        training sequences are not truncated.

    Returns
    -------
    Split
        ``train[u] = seq[:-2]``, ``valid = (seq[:-2][-max_history:], seq[-2])``,
        ``test = (seq[:-1][-max_history:], seq[-1])``. Users with fewer than 3 interactions are
        left out and counted in ``skipped_users``.
    """
    _check_max_history(max_history)
    train, valid, test, skipped = {}, [], [], 0
    for user, seq in dataset.sequences.items():
        if len(seq) < 3:
            skipped += 1
            continue
        train[user] = list(seq[:-2])
        valid.append(Example(user, _truncate(seq[:-2], max_history), seq[-2]))
        test.append(Example(user, _truncate(seq[:-1], max_history), seq[-1]))
    if not train:
        raise InvalidInputError(
            f"no user of {dataset.name!r} has the 3 interactions leave-one-out needs"
        )
    return Split("leave_one_out", train, valid, test, max_history, skipped)


def chronological_split(
    dataset: Dataset,
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    valid_start: float | None = None,
    test_start: float | None = None,
    max_history: int | None = DEFAULT_MAX_HISTORY,
) -> Split:
    """Global chronological split on the dataset's timestamps.

    Interactions with time ``< valid_start`` are training data; those in
    ``[valid_start, test_start)`` become validation examples and those ``>= test_start`` test
    examples, each with all earlier interactions of the user as history (truncated to
    ``max_history``). Examples with an empty history are dropped and counted.

    Parameters
    ----------
    dataset : Dataset
        Must have ``timestamps``.
    valid_fraction, test_fraction : float, default 0.1
        When the cut times are not given, they are the times at which the last
        ``valid_fraction + test_fraction`` and ``test_fraction`` of all interactions begin
        (8:1:1 by default). Interactions tied at a cut time all go to the later part.
    valid_start, test_start : float, optional
        Explicit cut times (both or neither).
    max_history : int or None, default 20
        History truncation of the examples.

    Raises
    ------
    InvalidInputError
        When the dataset has no timestamps or the fractions/cuts are invalid.
    """
    _check_max_history(max_history)
    if dataset.timestamps is None:
        raise InvalidInputError(f"dataset {dataset.name!r} has no timestamps; use leave_one_out")
    if (valid_start is None) != (test_start is None):
        raise InvalidInputError("give both valid_start and test_start, or neither")
    if valid_start is None:
        if not (0 < valid_fraction and 0 < test_fraction and valid_fraction + test_fraction < 1):
            raise InvalidInputError(f"bad fractions valid={valid_fraction} test={test_fraction}")
        times = sorted(t for ts in dataset.timestamps.values() for t in ts)
        n = len(times)
        valid_start = times[min(n - 1, int(n * (1 - valid_fraction - test_fraction)))]
        test_start = times[min(n - 1, int(n * (1 - test_fraction)))]
    if test_start < valid_start:
        raise InvalidInputError(f"test_start {test_start} is before valid_start {valid_start}")
    train, valid, test = {}, [], []
    dropped = 0
    for user, seq in dataset.sequences.items():
        times = dataset.timestamps[user]
        for pos, (item, time) in enumerate(zip(seq, times)):
            if time < valid_start:
                train.setdefault(user, []).append(item)
                continue
            if pos == 0:
                dropped += 1
                continue
            example = Example(user, _truncate(seq[:pos], max_history), item)
            (valid if time < test_start else test).append(example)
    users = len(dataset.sequences)
    evaluated = {e.user_id for e in valid} | {e.user_id for e in test}
    skipped = sum(1 for u in dataset.sequences if u not in train and u not in evaluated)
    details = {
        "valid_start": valid_start,
        "test_start": test_start,
        "dropped_examples_without_history": dropped,
        "users": users,
    }
    return Split("chronological", train, valid, test, max_history, skipped, details)
