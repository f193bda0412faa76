"""Proxy language models: a small GPT whose weights carry a leading model axis, so one process trains many at once.

A swarm needs dozens of tiny models that differ only in their data. On a CPU each Ray task trains
one (`num_models=1`); on a GPU one process trains a pack of them, because a 2M-parameter model
cannot keep a GPU busy but 64 of them stacked can. Every weight has shape `(num_models, ...)` and
every matmul is a batched matmul over that axis, so model `p` only ever sees its own slice: the
loss is a sum of per-model losses (independent gradients), AdamW is elementwise, and gradient
clipping is done per model. A packed model `p` trained with seed `s` therefore matches a model
trained alone with seed `s` (up to float rounding), which the tests check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ProxyConfig:
    vocab_size: int = 2048
    seq_len: int = 64  # context length; batches are random windows of seq_len + 1 tokens
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    batch_size: int = 16  # sequences per step, per model
    lr: float = 1e-3  # higher rates train tiny models faster but make the final loss chaotic (see BENCHMARKS.md)
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # per model: one model's spike must not shrink another's step
    eval_tokens: int = 16384  # at most this many tokens of each target are scored
    interleave: str = "even"  # domain order within a run: "even" (every batch holds the mixture) or "random"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PackedGPT(nn.Module):
    """`num_models` independent GPTs (pre-LayerNorm, tied embeddings) evaluated as one batched module."""

    def __init__(self, cfg: ProxyConfig, num_models: int = 1, seeds: list[int] | None = None):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be a multiple of n_head"
        self.cfg, self.P = cfg, num_models
        P, C, V, T = num_models, cfg.n_embd, cfg.vocab_size, cfg.seq_len

        def w(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(P, *shape))

        self.wte, self.wpe = w(V, C), w(T, C)
        self.blocks = nn.ModuleList()
        for _ in range(cfg.n_layer):
            blk = nn.ParameterDict({
                "ln1_w": w(C), "ln1_b": w(C), "qkv_w": w(C, 3 * C), "qkv_b": w(3 * C),
                "proj_w": w(C, C), "proj_b": w(C),
                "ln2_w": w(C), "ln2_b": w(C), "fc_w": w(C, 4 * C), "fc_b": w(4 * C),
                "out_w": w(4 * C, C), "out_b": w(C),
            })
            self.blocks.append(blk)
        self.lnf_w, self.lnf_b = w(C), w(C)
        self.reset_parameters(seeds or list(range(P)))

    @torch.no_grad()
    def reset_parameters(self, seeds: list[int]) -> None:
        """Initialise model p from its own generator: its weights depend on seeds[p] alone, not on its packmates."""
        std, resid_std = 0.02, 0.02 / math.sqrt(2 * self.cfg.n_layer)  # GPT-2's scaled residual init
        for p, seed in enumerate(seeds):
            g = torch.Generator().manual_seed(int(seed))
            for name, param in self.named_parameters():
                leaf = name.rsplit(".", 1)[-1]
                if leaf.endswith("_b"):
                    param[p].zero_()
                elif leaf.startswith("ln") and leaf.endswith("_w"):
                    param[p].fill_(1.0)
                else:
                    s = resid_std if leaf in ("proj_w", "out_w") else std
                    param[p].copy_(torch.randn(param.shape[1:], generator=g) * s)

    def num_params_per_model(self) -> int:
        return sum(p.numel() for p in self.parameters()) // self.P

    @staticmethod
    def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x, x.shape[-1:])
        return x * w[:, None, :] + b[:, None, :]

    @staticmethod
    def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(b[:, None, :], x, w)  # (P, N, in) @ (P, in, out): one GEMM per model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (P, B, T) token ids → logits (P, B, T, V)."""
        P, B, T = idx.shape
        C, H = self.cfg.n_embd, self.cfg.n_head
        models = torch.arange(P, device=idx.device)[:, None, None]
        x = self.wte[models, idx] + self.wpe[:, None, :T, :]  # (P, B, T, C)
        x = x.reshape(P, B * T, C)
        for blk in self.blocks:
            h = self._linear(self._ln(x, blk["ln1_w"], blk["ln1_b"]), blk["qkv_w"], blk["qkv_b"])
            q, k, v = (t.reshape(P * B, T, H, C // H).transpose(1, 2) for t in h.split(C, dim=-1))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            a = a.transpose(1, 2).reshape(P, B * T, C)
            x = x + self._linear(a, blk["proj_w"], blk["proj_b"])
            h = F.gelu(self._linear(self._ln(x, blk["ln2_w"], blk["ln2_b"]), blk["fc_w"], blk["fc_b"]))
            x = x + self._linear(h, blk["out_w"], blk["out_b"])
        x = self._ln(x, self.lnf_w, self.lnf_b)
        logits = torch.bmm(x, self.wte.transpose(1, 2))  # tied output embedding
        return logits.reshape(P, B, T, -1)

    def losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy per model: shape (P,)."""
        logits = self.forward(idx)
        P = idx.shape[0]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
        return ce.reshape(P, -1).mean(dim=1)

    def state_of(self, p: int) -> dict[str, np.ndarray]:
        """Model p's weights alone (float16 numpy arrays: what the cache keeps to score new targets later)."""
        return {k: v[p].detach().to("cpu", torch.float16).numpy() for k, v in self.state_dict().items()}

    @classmethod
    def from_states(cls, cfg: ProxyConfig, states: list[dict[str, np.ndarray]]) -> PackedGPT:
        model = cls(cfg, num_models=len(states), seeds=[0] * len(states))
        stacked = {k: torch.from_numpy(np.stack([s[k] for s in states]).astype(np.float32)) for k in states[0]}
        model.load_state_dict(stacked)
        return model


def lr_at(step: int, total: int, cfg: ProxyConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _clip_per_model(model: PackedGPT, max_norm: float) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    sq = sum(g.pow(2).reshape(g.shape[0], -1).sum(dim=1) for g in grads)  # (P,)
    scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))


@torch.no_grad()
def evaluate(model: PackedGPT, targets: dict[str, np.ndarray], device: str = "cpu") -> list[dict[str, float]]:
    """Mean loss of each model on each target: the same fixed windows for every model, so losses compare."""
    cfg = model.cfg
    model.eval()
    out: list[dict[str, float]] = [{} for _ in range(model.P)]
    for name, tokens in targets.items():
        windows = eval_windows(tokens, cfg.seq_len, cfg.eval_tokens)
        total = torch.zeros(model.P, dtype=torch.float64)
        for start in range(0, len(windows), 32):
            chunk = torch.from_numpy(windows[start : start + 32]).to(device)
            idx = chunk[:, :-1].unsqueeze(0).expand(model.P, -1, -1)
            tgt = chunk[:, 1:].unsqueeze(0).expand(model.P, -1, -1)
            total += model.losses(idx, tgt).double().cpu() * len(chunk)
        for p in range(model.P):
            out[p][name] = float(total[p] / len(windows))
    model.train()
    return out


def eval_windows(tokens: np.ndarray, seq_len: int, max_tokens: int) -> np.ndarray:
    """Consecutive non-overlapping windows of seq_len + 1 tokens from the start of a target (deterministic)."""
    n = min(len(tokens), max_tokens + 1)
    count = (n - 1) // seq_len
    if count < 1:
        raise ValueError(f"a target needs at least {seq_len + 1} tokens, got {len(tokens)}")
    idx = np.arange(count)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    return np.asarray(tokens[:n], dtype=np.int64)[idx]


def train_packed(
    cfg: ProxyConfig,
    batch_fns: list[Callable[[int], np.ndarray]],
    steps: int,
    seeds: list[int],
    targets: dict[str, np.ndarray],
    device: str = "cpu",
    keep_states: bool = True,
) -> list[dict[str, Any]]:
    """Train len(batch_fns) proxies together for `steps` steps; batch_fns[p](step) gives model p's (B, T+1) batch.

    Returns one record per model: its target losses, final train loss, and (optionally) its weights.
    """
    P = len(batch_fns)
    start = time.perf_counter()
    model = PackedGPT(cfg, num_models=P, seeds=seeds).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 3]  # matrices and embeddings, not norms or biases
    no_decay = [p for p in model.parameters() if p.dim() < 3]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95),
    )
    train_loss = torch.zeros(P)
    for step in range(steps):
        batch = torch.from_numpy(np.stack([fn(step) for fn in batch_fns])).to(device)  # (P, B, T+1)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, cfg)
        losses = model.losses(batch[:, :, :-1], batch[:, :, 1:])
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # the sum keeps each model's gradient its own
        if cfg.grad_clip:
            _clip_per_model(model, cfg.grad_clip)
        opt.step()
        train_loss = losses.detach().float().cpu()
    target_losses = evaluate(model, targets, device)
    seconds = time.perf_counter() - start
    return [
        {
            "losses": target_losses[p],
            "train_loss": float(train_loss[p]),
            "seconds": seconds,
            "pack": P,
            "params": model.num_params_per_model(),
            "state": model.state_of(p) if keep_states else None,
        }
        for p in range(P)
    ]
