"""The Trainer: steps, epochs from a Loader with a progress bar, evaluation, range tests, the
Eq. 8 estimator, run records and checkpoints."""
import ctypes
import sys

import numpy as np

from . import (Loader, Model, RangeTest, Schedule, _create, _fp, _Handle, _ip, _labels, _samples, _spec)
from ._lib import LIB, PROGRESS
from .errors import check


class _Progress:
    """tqdm when installed, otherwise a plain line every `every` iterations on stderr."""

    def __init__(self, total, description, enabled=True, every=50):
        self.bar = None
        self.enabled = enabled
        self.every = every
        self.description = description
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=description, leave=False)
            except ImportError:
                pass

    def update(self, iteration, lr, loss, accuracy):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(lr=f"{lr:.3g}", loss=f"{loss:.4f}", acc=f"{accuracy:.3f}")
        elif iteration % self.every == 0:
            print(f"{self.description} iteration {iteration} lr {lr:.4g} loss {loss:.4f} accuracy {accuracy:.4f}",
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class Trainer(_Handle):
    """Trains a Model: Trainer(model, optimizer="sgd", weight_decay=1e-4, lr=0.1, momentum=0.9)."""
    _destroy = LIB.sc_trainer_destroy
    _spec_fn = LIB.sc_trainer_spec

    def __init__(self, model, spec=None, **keys):
        super().__init__(_create(LIB.sc_trainer_create, model.handle, _spec(spec, **keys)))
        self.model = model  # the model must outlive the trainer
        self.schedule = None

    @property
    def iteration(self):
        value = ctypes.c_int64()
        check(LIB.sc_trainer_iteration(self.handle, ctypes.byref(value)))
        return value.value

    def set_schedule(self, schedule=None, **keys):
        """Takes the learning rate and momentum from a Schedule (or the keys of one)."""
        self.schedule = schedule if isinstance(schedule, Schedule) else Schedule(schedule, **keys)
        check(LIB.sc_trainer_set_schedule(self.handle, self.schedule.handle))

    def _batch(self, x, labels, what="x"):
        x = _samples(x, self.model.input_shape, what)
        return x, _labels(labels, x.shape[0], "labels" if what == "x" else f"labels of {what}")

    def step(self, x, labels):
        x, labels = self._batch(x, labels)
        loss, correct = ctypes.c_float(), ctypes.c_int64()
        check(LIB.sc_trainer_step(self.handle, _fp(x), _ip(labels), x.shape[0], ctypes.byref(loss), ctypes.byref(correct)))
        return loss.value, correct.value

    def evaluate(self, data, labels=None):
        """Mean loss and accuracy over arrays (x, labels) or one epoch of a Loader."""
        loss = ctypes.c_float()
        if isinstance(data, Loader):
            accuracy = ctypes.c_double()
            check(LIB.sc_trainer_evaluate_loader(self.handle, data.handle, ctypes.byref(loss), ctypes.byref(accuracy)))
            return loss.value, accuracy.value
        x, labels = self._batch(data, labels)
        correct = ctypes.c_int64()
        check(LIB.sc_trainer_evaluate(self.handle, _fp(x), _ip(labels), x.shape[0], ctypes.byref(loss), ctypes.byref(correct)))
        return loss.value, correct.value / x.shape[0]

    def interrupt(self):
        """Makes the running (or next) train_epoch, evaluation or range test stop after its
        current step; callable from another thread."""
        check(LIB.sc_trainer_interrupt(self.handle))

    def _with_progress(self, callback, call):
        """Runs call() with callback(iteration, lr, loss, accuracy) reporting every step. An
        exception in the callback, Ctrl-C's KeyboardInterrupt among them, stops the library call
        after the current step (steps taken stay applied) and is raised here; ctypes would
        otherwise print and drop it."""
        raised = []

        def report(_, iteration, lr, loss, accuracy):
            try:
                if callback is not None and not raised:
                    callback(iteration, lr, loss, accuracy)
            except BaseException as error:  # noqa: B902 - re-raised below, after the C call returns
                raised.append(error)
                LIB.sc_trainer_interrupt(self.handle)

        keep = PROGRESS(report)
        check(LIB.sc_trainer_set_progress(self.handle, keep, None))
        try:
            status = call()
        finally:
            LIB.sc_trainer_set_progress(self.handle, PROGRESS(), None)
        if raised:
            raise raised[0]
        check(status)

    def train_epoch(self, loader, callback=None):
        """One epoch of `loader` (the rest of it, after an interruption); callback(iteration,
        lr, loss, accuracy) after every step."""
        loss, accuracy = ctypes.c_float(), ctypes.c_double()
        self._with_progress(callback, lambda: LIB.sc_trainer_train_epoch(
            self.handle, loader.handle, ctypes.byref(loss), ctypes.byref(accuracy)))
        return loss.value, accuracy.value

    def fit(self, loader, epochs=1, eval_data=None, progress=True):
        """Trains `epochs` epochs; evaluates eval_data (a Loader or (x, labels)) after each.
        Returns the history: one dict per epoch."""
        history = []
        for epoch in range(1, epochs + 1):
            bar = _Progress(len(loader), f"epoch {epoch}/{epochs}", enabled=progress)
            try:
                loss, accuracy = self.train_epoch(loader, bar.update)
            finally:
                bar.close()
            row = {"epoch": epoch, "iteration": self.iteration, "train_loss": loss, "train_accuracy": accuracy}
            if eval_data is not None:
                pair = self.evaluate(eval_data) if isinstance(eval_data, Loader) else self.evaluate(*eval_data)
                row["test_loss"], row["test_accuracy"] = pair
            history.append(row)
            if progress:
                print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                      file=sys.stderr, flush=True)
        return history

    def range_test(self, x, labels, x_eval=None, labels_eval=None, analysis=None, progress=False, callback=None,
                   **keys):
        """A learning-rate range test on this trainer (restored afterwards); keys as
        sc_trainer_range_test (sweep, min_lr, max_lr, iterations, batch, eval_every, stop).
        Returns a RangeTest with the records and their analysis; progress=True shows a bar,
        callback(index, lr, loss, accuracy) is called after every sweep step."""
        x, labels = self._batch(x, labels)
        result = RangeTest(analysis)
        if x_eval is not None:
            x_eval, labels_eval = self._batch(x_eval, labels_eval, "x_eval")
            evals = (_fp(x_eval), _ip(labels_eval), x_eval.shape[0])
        else:
            evals = (None, None, 0)
        bar = _Progress(keys.get("iterations", 500), "range test", enabled=progress)
        try:
            def report(*step):
                bar.update(*step)
                if callback is not None:
                    callback(*step)

            self._with_progress(report, lambda: LIB.sc_trainer_range_test(
                self.handle, _fp(x), _ip(labels), x.shape[0], *evals, _spec(**keys), result.handle))
        finally:
            bar.close()
        return result

    def attach_lr_estimator(self, spec=None, **keys):
        check(LIB.sc_trainer_attach_lr_estimator(self.handle, _spec(spec, **keys)))

    def lr_estimate(self):
        raw, smoothed = ctypes.c_float(), ctypes.c_float()
        check(LIB.sc_trainer_lr_estimate(self.handle, ctypes.byref(raw), ctypes.byref(smoothed)))
        return raw.value, smoothed.value

    def record(self, path=None, **keys):
        """Records steps and evaluations to an HDF5 run file; record(None) stops."""
        check(LIB.sc_trainer_record(self.handle, str(path).encode() if path is not None else None, _spec(**keys)))


def save_checkpoint(trainer, path):
    check(LIB.sc_checkpoint_save(trainer.handle, str(path).encode()))


def load_checkpoint(trainer, path):
    check(LIB.sc_checkpoint_load(trainer.handle, str(path).encode()))
