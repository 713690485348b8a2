"""Batches of transformed task examples: dynamic padding and length-grouped order.

Each example is K token sequences (see `genpt.data.transformations`); a batch pads them all to
the longest sequence in the batch, giving (B, K, T) ids and mask, right-padded so the
extract token is each sequence's last real token. Training batches are grouped by length
(transformers' `LengthGroupedSampler`: shuffled, then sorted within mega-batches), so
little compute goes to padding; evaluation runs longest first for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from genpt.data.types import Example


@dataclass
class EncodedExample:
    position: int  # place in the split's file order, to put predictions back in order
    sequences: list[list[int]]  # K sequences
    label: int | float | None


class TaskDataset(Dataset):
    def __init__(self, examples: Sequence[Example], sequences: Sequence[list[list[int]]]):
        self.items = [EncodedExample(i, seqs, ex.label) for i, (ex, seqs) in enumerate(zip(examples, sequences))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> EncodedExample:
        return self.items[index]

    def lengths(self) -> list[int]:
        """Padded length of each example: its longest sequence."""
        return [max(map(len, item.sequences)) for item in self.items]

    def tokens(self) -> int:
        return sum(len(seq) for item in self.items for seq in item.sequences)


@dataclass
class Collator:
    """Pads a list of examples into one batch of tensors."""

    pad_id: int
    regression: bool

    def __call__(self, items: list[EncodedExample]) -> dict[str, torch.Tensor]:
        K = len(items[0].sequences)
        T = max(len(seq) for item in items for seq in item.sequences)
        host = torch.device("cpu")  # batches are built on the host; the training engine moves them
        input_ids = torch.full((len(items), K, T), self.pad_id, dtype=torch.long, device=host)
        attention_mask = torch.zeros((len(items), K, T), dtype=torch.long, device=host)
        for b, item in enumerate(items):
            for k, seq in enumerate(item.sequences):
                input_ids[b, k, : len(seq)] = torch.tensor(seq, device=host)
                attention_mask[b, k, : len(seq)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask,
                 "positions": torch.tensor([item.position for item in items], device=host)}
        if items[0].label is not None:
            dtype = torch.float32 if self.regression else torch.long
            batch["labels"] = torch.tensor([item.label for item in items], dtype=dtype, device=host)
        return batch


def train_loader(dataset: TaskDataset, batch_size: int, collator: Collator, seed: int, epoch: int, group_by_length: bool = True) -> DataLoader:
    """Shuffled batches whose order is a pure function of (seed, epoch), so runs repeat."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    if group_by_length:
        sampler = LengthGroupedSampler(batch_size, lengths=dataset.lengths(), generator=generator)
    else:
        sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
    # A generator of its own for the loader too: otherwise iterating draws a seed from the
    # global RNG, and a resumed run's dropout masks would drift from the uninterrupted run's.
    loader_generator = torch.Generator().manual_seed(seed * 1000 + epoch + 1)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collator, generator=loader_generator)


def eval_loader(dataset: TaskDataset, batch_size: int, collator: Collator) -> DataLoader:
    """Longest examples first (padding kept small); `positions` restores the file order."""
    lengths = dataset.lengths()
    order = sorted(range(len(dataset)), key=lambda i: -lengths[i])
    return DataLoader(torch.utils.data.Subset(dataset, order), batch_size=batch_size, collate_fn=collator,
                      pin_memory=torch.cuda.is_available())  # for the prepared loader's non-blocking copies
