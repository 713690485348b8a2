"""Kernels that do less memory traffic than PyTorch's general ones.

On a CPU, a small GPT's step is matmuls at near peak plus elementwise passes over memory;
the training kernels cut the elementwise part where it is largest, and `Linear` reads its
weight in the layout a CPU's GEMM reads fastest when decoding a few rows at a time. All
compute exactly the standard function (tests compare them with `F.cross_entropy`, with
dropout's keep rate and with `F.linear`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _CrossEntropy(torch.autograd.Function):
    """Mean cross-entropy whose backward builds softmax - onehot in a single buffer.

    `F.cross_entropy`'s backward zero-fills an (N, V) buffer, scatters into it, then runs the
    log-softmax backward into another; here the backward turns the saved log-probabilities
    into the gradient in place, allocating nothing of size (N, V). A fresh buffer that size
    costs more in page faults than the arithmetic on it.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
        # logits (N, V) float, targets (N,)
        log_probs = torch.log_softmax(logits, dim=-1)  # (N, V), PyTorch's fused kernel
        valid = targets != ignore_index  # (N,)
        safe_targets = torch.where(valid, targets, 0)
        target_log_probs = log_probs.gather(1, safe_targets[:, None]).squeeze(1)  # (N,)
        count = valid.sum()
        ctx.save_for_backward(log_probs, safe_targets, valid, count)
        ctx.log_probs_consumed = False
        # An all-ignored batch gives NaN, as F.cross_entropy does.
        return -(target_log_probs * valid).sum() / count

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.log_probs_consumed:
            raise RuntimeError("genpt cross_entropy: a second backward through the same graph is not supported")
        ctx.log_probs_consumed = True  # the in-place exp below overwrites them
        log_probs, safe_targets, valid, count = ctx.saved_tensors
        # Ignored rows get no gradient; an all-ignored batch none at all (its loss is NaN, as
        # F.cross_entropy's, but its gradient zeros, as F.cross_entropy's: never NaN weights).
        row_scale = (grad_output / count.clamp(min=1)) * valid  # (N,)
        grad = log_probs.exp_().mul_(row_scale[:, None])  # softmax, scaled
        grad.scatter_add_(1, safe_targets[:, None], -row_scale[:, None])  # minus one-hot
        return grad, None, None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """`F.cross_entropy(logits, targets, ignore_index=...)` with mean reduction, for (N, V) logits."""
    return _CrossEntropy.apply(logits, targets, ignore_index)


class _ScaleKept(torch.autograd.Function):
    """x * keep * scale for a bool mask `keep`, saving only the 1-byte mask for the backward.

    With genpt's 16-bit masks this is inverted dropout: PyTorch's CPU dropout draws a
    Bernoulli float per element and multiplies; comparing 16 random bits with a threshold
    is 2.5x faster on CPU (p is quantised to 1/65536).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return _scale_kept(x, keep, scale)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return _scale_kept(grad_output, keep, ctx.scale), None, None


def _scale_kept(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    y = x.mul(_as_dtype(keep, x.dtype))
    return y.mul_(scale) if scale != 1.0 else y


def _as_dtype(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as 0s and 1s of `dtype`.

    Read as uint8: PyTorch's CPU conversion from bool, and arithmetic mixing bool with
    floats, take a slow unvectorised path (4x slower to fp32 and 8x to bf16 than from uint8).
    """
    return mask.view(torch.uint8).to(dtype)


def _random_int16(shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Uniform int16 values, drawn as full-range int64s cut in four.

    CPU generators produce 64 random bits per draw; `torch.randint(..., dtype=int16)` spends
    a draw on each element, this a quarter of one (2.7x faster).
    """
    if torch.compiler.is_compiling():  # the compilers cannot view int64 storage as int16
        return torch.randint(-32768, 32768, shape, dtype=torch.int16, device=device)
    count = math.prod(shape)
    draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=device)
    draws.random_(-(2**63), 2**63 - 1)  # every 64-bit pattern but one
    return draws.view(torch.int16)[:count].view(shape)


def _keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Bool mask, True with probability 1 - p (p quantised to 1/65536)."""
    return _random_int16(shape, device) >= -32768 + round(p * 65536)


class Dropout(nn.Dropout):
    """`nn.Dropout` that uses the 16-bit mask on CPU; CUDA keeps PyTorch's fused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return _ScaleKept.apply(x, _keep_mask(x.shape, self.p, x.device), 1.0 / (1.0 - self.p))


class Linear(nn.Linear):
    """`nn.Linear` that decodes faster on a CPU.

    A decoding step multiplies only a few rows (one new token per sequence) by each weight.
    For 3 to 32 rows the CPU's GEMM reads an (in, out) weight, as `transformers`' GPT-2
    stores its own, 2-5x faster than `nn.Linear`'s (out, in) weight, which it reads
    transposed; for 1 or 2 rows PyTorch's matrix-vector kernel reads (out, in) fastest, and
    past 32 rows both layouts run alike (`bench/linear_layout.py`). So without gradients, on
    a CPU, for `MIN_ROWS` to `MAX_ROWS` rows, this multiplies by a contiguous copy of the
    weight's transpose, made once and made again whenever the weight changes (an optimizer
    step, `load_state_dict`, `.to()`). Training, autocast and other inputs take `F.linear`.
    """

    MIN_ROWS, MAX_ROWS = 3, 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if (torch.is_grad_enabled() or x.device.type != "cpu" or torch.is_autocast_enabled("cpu")
                or not self.MIN_ROWS <= rows <= self.MAX_ROWS):
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, self.in_features)  # (N, in)
        weight_t = self._transposed_weight()  # (in, out), contiguous
        y = flat @ weight_t if self.bias is None else torch.addmm(self.bias, flat, weight_t)  # (N, out)
        return y.view(*x.shape[:-1], self.out_features)

    def _transposed_weight(self) -> torch.Tensor:
        weight = self.weight
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
        if getattr(self, "_transposed_key", None) != key:
            self._transposed = weight.detach().t().contiguous()
            self._transposed_key = key
            # Holding the weight's storage keeps its address from going to another tensor, so
            # an equal key always means the same, unchanged weight.
            self._transposed_source = weight.detach()
        return self._transposed


# Rows of logits computed at once by `linear_cross_entropy`: about 16 MB of fp32 per chunk,
# under glibc's 32 MB mmap ceiling, so the chunk buffers are reused instead of page-faulted.
LOGIT_CHUNK_ELEMENTS = 1 << 22


class _LinearCrossEntropy(torch.autograd.Function):
    """cross_entropy(hidden @ weight.T, targets) without ever holding the (N, V) logits.

    The output layer and the loss are fused, chunk by chunk of rows: each chunk's logits
    turn into softmax - onehot at once, which gives that chunk's share of both gradients
    (d hidden = g @ W, d W += g.T @ h) while it is in cache. The backward only scales the
    stored gradients by the incoming one. Same matmul FLOPs as the unfused layer.

    The stored gradients are of the sum over rows; the mean's 1/N is applied in the backward,
    with the incoming gradient. Scaled by 1/N in the forward, entries p/N of a large batch
    fall below fp16's smallest number (p ~ 1/V, N ~ 32k tokens) and vanish before fp16's
    loss scaling, which arrives only with the incoming gradient, could save them.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int):
        # hidden (N, C), weight (V, C), targets (N,)
        valid = targets != ignore_index
        count = valid.sum()
        # Mean over the real targets. An all-ignored batch: a NaN loss and zero gradients, as
        # F.cross_entropy gives (the clamp keeps NaN out of the gradients).
        row_scale = valid / count.clamp(min=1)  # (N,): the loss's weights
        keep = valid.to(torch.float32)  # (N,): the gradients' (0 for ignored rows)
        safe_targets = torch.where(valid, targets, 0)
        grad_hidden = torch.empty_like(hidden)  # (N, C)
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        # Cast once, not once per chunk as autocast would: the weight is the size of the vocabulary.
        dtype = _autocast_dtype(hidden.device.type) or hidden.dtype
        hidden_c, weight_c = hidden.to(dtype), weight.to(dtype)
        # d W accumulates over the chunks in fp32 at least (a bf16 weight, as FSDP's mixed
        # precision gathers it, would round the running sum at every chunk, where one unfused
        # matmul accumulates in fp32), in place when the matmuls produce that dtype.
        grad_weight = torch.zeros_like(weight, dtype=torch.promote_types(weight.dtype, torch.float32))  # (V, C)
        accumulate_in_place = dtype == grad_weight.dtype
        rows = max(1, LOGIT_CHUNK_ELEMENTS // weight.size(0))
        for start in range(0, hidden.size(0), rows):
            chunk = slice(start, start + rows)
            h, t, scale, k = hidden_c[chunk], safe_targets[chunk, None], row_scale[chunk, None], keep[chunk, None]
            logits = torch.mm(h, weight_c.t())  # (n, V)
            probs = torch.softmax(logits.float(), dim=-1)  # (n, V); faster than softmax(..., dtype=)
            # -log p(target) = logsumexp - logit(target), and logsumexp = max logit - log p(argmax):
            # exact without a log-softmax pass, as p(argmax) >= 1/V is never tiny.
            log_sum_exp = logits.amax(dim=1, keepdim=True).float() - probs.amax(dim=1, keepdim=True).log()
            loss += ((log_sum_exp - logits.gather(1, t).float()) * scale).sum()
            grad_logits = probs.mul_(k).scatter_add_(1, t, -k).to(dtype)  # (n, V): softmax - onehot, 0 where ignored
            grad_hidden[chunk] = torch.mm(grad_logits, weight_c)  # (n, C)
            if accumulate_in_place:
                grad_weight.addmm_(grad_logits.t(), h)  # (V, C)
            else:
                grad_weight += torch.mm(grad_logits.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight, count)
        ctx.weight_dtype = weight.dtype  # d W is rounded to it once, after the mean's scale
        return torch.where(count > 0, loss, torch.nan)  # NaN when nothing was scored, with no host sync

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_hidden, grad_weight, count = ctx.saved_tensors
        scale = grad_output / count.clamp(min=1)  # the mean's 1/N, after fp16's loss scale has been applied
        return grad_hidden * scale, (grad_weight * scale).to(ctx.weight_dtype), None, None


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast computes matmuls in on this device type now, or None when it is off
    (or when the device has no autocast, as the meta device)."""
    if not torch.amp.is_autocast_available(device_type) or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def linear_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Mean `F.cross_entropy(hidden @ weight.T, targets)` for (N, C) hidden and (V, C) weight.

    Use it for training, where the logits themselves are never looked at.
    """
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, ignore_index)
    return _chunked_loss_only(hidden, weight, targets, ignore_index)


def _chunked_loss_only(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """The same loss with no gradient work (evaluation)."""
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    rows = max(1, LOGIT_CHUNK_ELEMENTS // weight.size(0))
    for start in range(0, hidden.size(0), rows):
        logits = torch.mm(hidden[start : start + rows], weight.t()).float()
        total += F.cross_entropy(logits, targets[start : start + rows], ignore_index=ignore_index, reduction="sum")
    return total / (targets != ignore_index).sum()


def attention(
    q: torch.Tensor,  # (B, nh, T, hs)
    k: torch.Tensor,  # (B, nh, S, hs)
    v: torch.Tensor,  # (B, nh, S, hs)
    attn_mask: torch.Tensor | None = None,  # bool, True where a query may attend a key; broadcasts to (B, nh, T, S)
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(hs)) v with attention dropout: `F.scaled_dot_product_attention`.

    SDPA's fused kernels serve every case but one: on a CPU they do not implement dropout,
    and SDPA then falls back to its reference math, which upcasts bf16 to fp32 and draws
    dropout as Bernoulli floats. Training with attention dropout on a CPU therefore runs the
    same math here, in the inputs' dtype, with the 16-bit dropout mask (a `mini` training
    step takes 29% less time in bf16, 4% less in fp32). Every query must see at least one key.
    """
    if dropout_p == 0.0 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)
    *batch, T, hs = q.shape
    S = k.size(-2)
    hs_v = v.size(-1)
    q, k, v = q.reshape(-1, T, hs), k.reshape(-1, S, hs), v.reshape(-1, S, hs_v)  # (B*nh, T or S, hs)
    if is_causal:
        attn_mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()  # SDPA's: top-left aligned
    if attn_mask is None:
        bias, beta = q.new_zeros(1, 1, 1), 0.0
    else:  # 0 where allowed, -inf where not, added to the scores by the matmul itself
        bias = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~attn_mask, float("-inf"))
        bias, beta = bias.expand(*batch, T, S).reshape(-1, T, S), 1.0
    scores = torch.baddbmm(bias, q, k.transpose(1, 2), beta=beta, alpha=hs**-0.5)  # (B*nh, T, S)
    keep = _keep_mask(scores.shape, dropout_p, q.device)
    # Dropout's 1 / (1 - p) is applied to the (T, hs) output rather than the (T, S) weights.
    y = torch.bmm(_ScaleKept.apply(torch.softmax(scores, dim=-1), keep, 1.0), v).mul_(1.0 / (1.0 - dropout_p))  # (B*nh, T, hs)
    return y.view(*batch, T, hs_v)
