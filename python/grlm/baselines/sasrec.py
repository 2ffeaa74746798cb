"""SASRec (Kang & McAuley, 2018) in PyTorch, trained with cross-entropy over all items.

The model is the usual one: item + learned position embeddings, ``num_blocks`` pre-LayerNorm
blocks of causal self-attention and a position-wise feed-forward layer, a final LayerNorm, and
scores given by the dot product with the (shared) item embeddings. Training predicts the next
item at every position of each training sequence with a softmax over the whole catalog (the
"CE" SASRec, which beats the original binary loss by a wide margin). Validation NDCG@10 is
measured after each epoch with full ranking; training stops after ``patience`` epochs without
improvement (or at ``max_epochs`` / ``time_budget_s``) and the best weights are restored.

Sequences are left-padded with item 0; padding keys are masked out of attention (each position
may always attend to itself, so no row is fully masked).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from grlm.baselines.common import ItemIndex, evaluate_examples
from grlm.data.splits import Split
from grlm.errors import InvalidInputError
from grlm.lm import left_pad

#: Item index 0 is padding; item j is index j + 1.
PAD = 0


@dataclass
class SASRecConfig:
    """Hyper-parameters; the defaults are the usual ones for Amazon data."""

    hidden: int = 64
    num_blocks: int = 2
    num_heads: int = 1
    max_len: int = 50
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 10
    eval_every: int = 1
    time_budget_s: float | None = None
    seed: int = 42
    device: str = "auto"
    valid_metric: str = "ndcg@10"
    eval_batch_size: int = 1024

    def validate(self) -> None:
        if self.hidden % self.num_heads:
            raise InvalidInputError(
                f"hidden {self.hidden} is not divisible by num_heads {self.num_heads}"
            )
        for name in (
            "hidden",
            "num_blocks",
            "num_heads",
            "max_len",
            "batch_size",
            "max_epochs",
            "patience",
            "eval_every",
        ):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidInputError(f"dropout must be in [0, 1), got {self.dropout}")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with an explicit boolean mask (True = may attend), through
    ``scaled_dot_product_attention`` (faster on the CPU than ``nn.MultiheadAttention`` with a
    per-batch mask)."""

    def __init__(self, hidden: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(out.transpose(1, 2).reshape(batch, length, hidden))


class SASRec(nn.Module):
    """Self-attentive sequential recommender over item ids ``1..num_items`` (0 = padding)."""

    def __init__(self, num_items: int, config: SASRecConfig):
        super().__init__()
        config.validate()
        self.num_items = num_items
        self.config = config
        d = config.hidden
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=PAD)
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.emb_dropout = nn.Dropout(config.dropout)
        self.attn_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(config.num_blocks))
        self.attns = nn.ModuleList(
            CausalSelfAttention(d, config.num_heads, config.dropout)
            for _ in range(config.num_blocks)
        )
        self.ffn_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(config.num_blocks))
        self.ffns = nn.ModuleList(
            nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(d, d))
            for _ in range(config.num_blocks)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.final_norm = nn.LayerNorm(d)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states, shape ``(batch, length, hidden)``, of left-padded ``seqs``."""
        length = seqs.shape[1]
        if length > self.config.max_len:
            raise InvalidInputError(f"sequence length {length} > max_len {self.config.max_len}")
        pad = seqs == 0
        # Positions count from the right end, as in SASRec's fixed-length left padding, so the
        # batch's padded width never changes what a sequence sees.
        positions = torch.arange(
            self.config.max_len - length, self.config.max_len, device=seqs.device
        ).unsqueeze(0)
        x = self.item_emb(seqs) * math.sqrt(self.config.hidden) + self.pos_emb(positions)
        x = self.emb_dropout(x) * (~pad).unsqueeze(-1)
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=seqs.device)
        allowed = (causal.unsqueeze(0) & ~pad.unsqueeze(1)) | eye.unsqueeze(0)  # (B, L, L)
        allowed = allowed.unsqueeze(1)  # broadcast over heads
        for norm, attn, ffn_norm, ffn in zip(
            self.attn_norms, self.attns, self.ffn_norms, self.ffns
        ):
            h = norm(x)
            out = attn(h, allowed)
            x = x + self.dropout(out)
            x = x + self.dropout(ffn(ffn_norm(x)))
            x = x * (~pad).unsqueeze(-1)
        return self.final_norm(x)

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of items ``1..num_items`` (column ``j`` is item ``j + 1``)."""
        return hidden @ self.item_emb.weight[1:].T

    @torch.no_grad()
    def score_histories(self, histories: Sequence[Sequence[int]]) -> torch.Tensor:
        """Scores over the catalog (columns = item index 0..num_items-1) after each history of
        item indices (0-based, oldest first); only the last ``max_len`` items are used."""
        seqs, _ = left_pad(
            [[i + 1 for i in h] for h in histories],
            PAD,
            max_len=self.config.max_len,
            device=self.item_emb.weight.device,
        )
        hidden = self.forward(seqs)[:, -1]
        return self.item_logits(hidden)


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Batches of sequence indices with similar lengths (so little compute goes to padding), in
    random order; sequences of equal length are shuffled among themselves every epoch."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class TrainResult:
    """What :func:`train_sasrec` returns besides the model."""

    best_epoch: int
    epochs_run: int
    best_valid: dict
    train_seconds: float
    stopped_by: str
    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)


def training_pairs(split: Split, index: ItemIndex, max_len: int) -> list[list[int]]:
    """Training windows as 1-based ids: each of at most ``max_len + 1`` items (inputs and
    targets are shifted by one). A sequence longer than that is cut from its end into windows
    that overlap by one item, so every transition of the training data is used once; the
    original SASRec keeps only the last window. Sequences shorter than 2 give nothing."""
    out = []
    for seq in split.train.values():
        ids = [i + 1 for i in index.indices(seq)]
        end = len(ids)
        while end >= 2:
            start = max(0, end - (max_len + 1))
            out.append(ids[start:end])
            end = start + 1
    if not out:
        raise InvalidInputError("no training sequence has 2 items")
    return out


def train_sasrec(
    split: Split,
    index: ItemIndex,
    config: SASRecConfig | None = None,
    *,
    progress: bool = True,
    log=None,
) -> tuple[SASRec, TrainResult]:
    """Trains SASRec on ``split.train`` with early stopping on ``split.valid``.

    Parameters
    ----------
    split : Split
    index : ItemIndex
        The catalog (full ranking is over all of it).
    config : SASRecConfig, optional
    progress : bool, default True
        tqdm bar over epochs with the loss and the validation metric.
    log : callable, optional
        Called with a dict after every evaluation (epoch, loss, metrics, seconds).

    Returns
    -------
    (SASRec, TrainResult)
        The model holds the weights of the best validation epoch and is in eval mode.
    """
    config = config or SASRecConfig()
    config.validate()
    if not split.valid:
        raise InvalidInputError("early stopping needs validation examples")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    model = SASRec(len(index), config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sequences = training_pairs(split, index, config.max_len)
    lengths = np.array([len(seq) for seq in sequences])
    best_score, best_state, best_epoch, best_valid = -1.0, None, 0, {}
    history: list[dict] = []
    stale, stopped_by, epoch = 0, "max_epochs", 0
    start = time.perf_counter()
    epochs = range(1, config.max_epochs + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        epochs = bar = tqdm(epochs, desc="sasrec", unit="epoch")
    for epoch in epochs:
        model.train()
        total, count = 0.0, 0
        for batch_ids in length_batches(lengths, config.batch_size, rng):
            batch = [sequences[i] for i in batch_ids]
            seqs, _ = left_pad(batch, PAD, max_len=config.max_len + 1, device=device)
            inputs, targets = seqs[:, :-1], seqs[:, 1:]
            keep = targets > 0
            hidden = model(inputs)[keep]
            loss = F.cross_entropy(model.item_logits(hidden), targets[keep] - 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = int(keep.sum())
            total += float(loss.detach()) * n
            count += n
        elapsed = time.perf_counter() - start
        record = {"epoch": epoch, "loss": total / max(count, 1), "seconds": elapsed}
        over_budget = config.time_budget_s is not None and elapsed > config.time_budget_s
        if epoch % config.eval_every == 0 or epoch == config.max_epochs or over_budget:
            model.eval()
            valid = evaluate_examples(
                model.score_histories, split.valid, index, batch_size=config.eval_batch_size
            )
            if config.valid_metric not in valid:
                raise InvalidInputError(
                    f"valid_metric {config.valid_metric!r} is not one of {sorted(valid)}"
                )
            record["valid"] = valid
            score = valid[config.valid_metric]
            if score > best_score:
                best_score, best_epoch, best_valid, stale = score, epoch, valid, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            if bar is not None:
                bar.set_postfix(
                    loss=f"{record['loss']:.3f}", **{config.valid_metric: f"{score:.4f}"}
                )
        history.append(record)
        if log is not None:
            log(record)
        if stale >= config.patience:
            stopped_by = "early_stop"
            break
        if over_budget:
            stopped_by = "time_budget"
            break
    if bar is not None:
        bar.close()
    train_seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result = TrainResult(
        best_epoch=best_epoch,
        epochs_run=epoch,
        best_valid=best_valid,
        train_seconds=train_seconds,
        stopped_by=stopped_by,
        history=history,
        config=asdict(config),
    )
    return model, result
