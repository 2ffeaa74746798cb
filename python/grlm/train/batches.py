"""What the Trainer reads: the encoded examples as a dataset, their length-grouped batch order
(reseeded per epoch) and the tensors of a batch."""

from __future__ import annotations

import math
from collections.abc import Sequence

from grlm.train.config import TrainConfig
from grlm.train.encode import EncodedExample, collate, length_grouped_batches
from grlm.train.losses import LossHead


def batch_tensors(
    examples: Sequence[EncodedExample], pad_id: int, head: LossHead, device=None
) -> dict:
    """The tensors of one batch: ids, mask, labels and what ``head`` needs besides."""
    ids, mask, labels = collate(examples, pad_id)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    batch.update(head.batch_extras(labels))
    if device is not None:
        batch = {key: value.to(device) for key, value in batch.items()}
    return batch


class ExampleDataset:
    """The encoded examples as a map-style dataset (index -> example)."""

    def __init__(self, examples: Sequence[EncodedExample]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> EncodedExample:
        return self.examples[index]


class LengthGroupedBatches:
    """Batch sampler of one epoch's :func:`length_grouped_batches`, reseeded per epoch
    (``set_epoch``, which the Trainer calls), so a resumed run replays the same order."""

    def __init__(self, lengths: Sequence[int], config: TrainConfig):
        self.lengths, self.config, self.epoch = lengths, config, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        yield from length_grouped_batches(
            self.lengths,
            self.config.batch_size,
            seed=self.config.seed * 1000003 + self.epoch,
            grouped=self.config.group_by_length,
        )

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.config.batch_size)


def collator(pad_id: int, head: LossHead):
    def collate_batch(batch: Sequence[EncodedExample]) -> dict:
        return batch_tensors(batch, pad_id, head)

    return collate_batch
