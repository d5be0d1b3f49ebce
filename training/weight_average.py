"""An exponential moving average of the weights being trained (`ema_decay`), evaluated in their place.

Why: at the learning rates a short schedule needs, consecutive steps jitter around the way down,
and the dev score of any one step's weights carries that jitter. The average of the recent steps'
weights sits nearer the middle of the valley, so it scores better in the middle of training and
early stopping picks between smoother points. It costs one multiply-add per weight a step and a
second copy of the trained weights; the optimiser keeps stepping the raw weights. Where a
schedule decays the learning rate to zero, the raw weights catch up by the end, so the default
leaves it off (docs/REAL_NEWS.md has the cross-validation).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# The decay starts low and rises to ema_decay, so the average is not dominated by the pretrained
# start during the first steps (the warm-up of Tensorflow's ExponentialMovingAverage(num_updates)).
WARM_UP = 10


class WeightAverage:
    """The moving average of a model's trainable weights, updated after every optimiser step."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.averaged = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    def current_decay(self) -> float:
        """The decay of the next update: (1 + n) / (WARM_UP + n) until it reaches `decay`."""
        return min(self.decay, (1 + self.updates) / (WARM_UP + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average (call after each optimiser step)."""
        decay = self.current_decay()
        for name, p in model.named_parameters():
            if name in self.averaged:
                self.averaged[name].mul_(decay).add_(p.detach(), alpha=1 - decay)
        self.updates += 1

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Inside, the model holds the averaged weights (to evaluate or copy); after, its own again."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            raw = {name: params[name].detach().clone() for name in self.averaged}
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, value in raw.items():
                    params[name].copy_(value)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Put the averaged weights into the model for good (a run without a dev split ends so)."""
        params = dict(model.named_parameters())
        for name, value in self.averaged.items():
            params[name].copy_(value)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averaged weights by parameter name, for a checkpoint."""
        return self.averaged

    def restore(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        """Take up the average a checkpoint saved after `updates` steps."""
        missing = sorted(set(self.averaged) - set(tensors))
        if missing:
            raise ValueError(f"the checkpoint's weight average lacks {', '.join(missing[:3])}")
        for name in self.averaged:
            self.averaged[name].copy_(tensors[name])
        self.updates = updates
