"""The Eq. 8 estimator fed from a model's parameters."""
import math

import numpy as np

from .. import LREstimator


def flat_parameters(parameters):
    """One float32 vector of every tensor (PyTorch tensors, on any device, or arrays), in order."""
    pieces = [np.asarray(p.detach().cpu().numpy() if hasattr(p, "detach") else p, dtype=np.float32).ravel()
              for p in parameters]
    return np.concatenate(pieces) if pieces else np.empty(0, dtype=np.float32)


class ModelLREstimator:
    """The paper's Eq. 8 estimate of the optimal learning rate along a PyTorch run, as
    sc_trainer_attach_lr_estimator computes it on superconv's trainer: a snapshot of the
    trainable parameters now, then one every `every` steps, each with the learning rate of the
    step just taken. Call step() after optimizer.step() (and before a scheduler's step()).

        estimator = ModelLREstimator(model, optimizer, every=10, alpha=0.1)
        ...; optimizer.step(); estimator.step(); scheduler.step()
        print(estimator.estimate)

    `model` is a torch.nn.Module (its parameters that require gradients are watched) or an
    iterable of tensors; the learning rate is the optimizer's first group's unless step() is
    given one. Keyword arguments are the estimator's spec keys (alpha, initial, norm).
    """

    def __init__(self, model, optimizer=None, every=1, **keys):
        if hasattr(model, "parameters"):
            self.parameters = [p for p in model.parameters() if p.requires_grad]
        else:
            self.parameters = list(model)
        if int(every) < 1:
            raise ValueError(f"every={every}; expected at least 1")
        self.optimizer = optimizer
        self.every = int(every)
        self.estimator = LREstimator(**keys)
        self.steps = 0
        self.history = []  # (step, raw, smoothed) at every snapshot from the third on
        # The first snapshot's rate enters no estimate (each one uses the latest rate).
        self.estimator.observe(flat_parameters(self.parameters), 0.0)

    def _lr(self, lr):
        if lr is not None:
            return float(lr)
        if self.optimizer is None:
            raise ValueError("no optimizer to read the learning rate from: pass step(lr=...)")
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, lr=None):
        """Counts one optimizer step; every `every` steps takes a snapshot and returns (raw,
        smoothed) estimates (NaN until three snapshots), otherwise None."""
        self.steps += 1
        if self.steps % self.every:
            return None
        raw, smoothed = self.estimator.observe(flat_parameters(self.parameters), self._lr(lr))
        if not math.isnan(smoothed):
            self.history.append((self.steps, raw, smoothed))
        return raw, smoothed

    @property
    def estimate(self):
        """The running average of the estimates (NaN before the third snapshot)."""
        return self.history[-1][2] if self.history else math.nan
