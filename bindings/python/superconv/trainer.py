"""The Trainer: steps (whole, or opened: gradients computed, read or changed, applied), epochs
from a Loader with a progress bar, data-parallel training over MPI, evaluation, range tests, the
Eq. 8 estimator, run records and checkpoints."""
import ctypes
import sys

import numpy as np

from . import (Loader, Model, RangeTest, Schedule, _create, _fp, _Handle, _ip, _labels, _samples, _spec)
from ._lib import ALLREDUCE, LIB, PROGRESS
from .distributed import Ranks
from .errors import check

_SC_ERR_IO = 3


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
    """Trains a Model: Trainer(model, optimizer="sgd", weight_decay=1e-4, lr=0.1, momentum=0.9).

    With comm (an mpi4py communicator such as MPI.COMM_WORLD, or any object with rank, size and
    allreduce; see distributed.Ranks) the trainer is one rank of data-parallel training: every
    step sums the gradients over the ranks and applies their mean, so each rank creates the
    same model (same spec and seed) and trains on its own shard of the data (Loader(...,
    shard=f"{rank}/{size}")). Only rank 0 prints in fit, records run files and saves
    checkpoints."""
    _destroy = LIB.sc_trainer_destroy
    _spec_fn = LIB.sc_trainer_spec

    def __init__(self, model, spec=None, comm=None, **keys):
        super().__init__(_create(LIB.sc_trainer_create, model.handle, _spec(spec, **keys)))
        self.model = model  # the model must outlive the trainer
        self.schedule = None
        self.ranks = Ranks(comm) if comm is not None else None
        self._exchange_errors = []
        if self.ranks is not None:
            self._hook = ALLREDUCE(self._sum_over_ranks)  # kept alive as long as the library may call it
            check(LIB.sc_trainer_set_allreduce(self.handle, self._hook, None, self.ranks.size))

    @property
    def rank(self):
        """This process's rank in data-parallel training; 0 when training alone."""
        return self.ranks.rank if self.ranks is not None else 0

    def _sum_over_ranks(self, data, length, _):
        """The library's all-reduce hook. An exception cannot cross the C call: it is kept, the
        library gets a failure status (and changes nothing), and _check raises it."""
        try:
            self.ranks.sum(np.ctypeslib.as_array(data, shape=(length,)))
            return 0
        except BaseException as error:  # noqa: B902 - re-raised by _check after the C call
            self._exchange_errors.append(error)
            return _SC_ERR_IO

    def _check(self, status):
        if self._exchange_errors:
            error = self._exchange_errors.pop()
            self._exchange_errors.clear()
            raise error
        check(status)

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
        """One update on a batch; returns the batch's mean loss and number correct."""
        x, labels = self._batch(x, labels)
        loss, correct = ctypes.c_float(), ctypes.c_int64()
        self._check(LIB.sc_trainer_step(self.handle, _fp(x), _ip(labels), x.shape[0], ctypes.byref(loss),
                                        ctypes.byref(correct)))
        return loss.value, correct.value

    def compute_gradients(self, x, labels):
        """The first half of a step: forward, loss and backward, nothing applied; the gradients
        are in gradients(). Returns the batch's mean loss and number correct."""
        x, labels = self._batch(x, labels)
        loss, correct = ctypes.c_float(), ctypes.c_int64()
        check(LIB.sc_trainer_compute_gradients(self.handle, _fp(x), _ip(labels), x.shape[0], ctypes.byref(loss),
                                               ctypes.byref(correct)))
        return loss.value, correct.value

    def gradients(self):
        """The trainer's flat gradient buffer as a float32 array without a copy (trainable tensors
        in the model's order, running statistics skipped); changes made to it are what
        apply_gradients applies. It stays valid while the trainer is open."""
        data, length = ctypes.POINTER(ctypes.c_float)(), ctypes.c_int64()
        check(LIB.sc_trainer_gradients(self.handle, ctypes.byref(data), ctypes.byref(length)))
        return np.ctypeslib.as_array(data, shape=(length.value,))

    def apply_gradients(self):
        """The second half of a step: applies the gradient buffer as it stands (a refusal, e.g.
        NonFiniteError, changes nothing)."""
        check(LIB.sc_trainer_apply_gradients(self.handle))

    def average_statistics(self):
        """Replaces the BN running statistics by their mean over the ranks (every rank calls it;
        train_epoch does at each epoch's end). Nothing to do when training alone."""
        self._check(LIB.sc_trainer_average_statistics(self.handle))

    def recompute_statistics(self, x, batch=128):
        """Precise BN: replaces the BatchNorm running statistics by the mean of the statistics of
        the batches of x (training samples, `batch` at a time) under the current weights; nothing
        else changes. For evaluations that leave the running statistics alone, create the
        trainer with precise_bn=K (or pass precise_bn=K to range_test)."""
        x = _samples(x, self.model.input_shape, "x")
        check(LIB.sc_trainer_recompute_statistics(self.handle, _fp(x), x.shape[0], int(batch)))

    def evaluate(self, data, labels=None):
        """Mean loss and accuracy over arrays (x, labels) or one epoch of a Loader (with the
        trainer's precise_bn key, under statistics recomputed from its last training batches)."""
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
        self._check(status)

    def train_epoch(self, loader, callback=None):
        """One epoch of `loader` (the rest of it, after an interruption); callback(iteration,
        lr, loss, accuracy) after every step."""
        loss, accuracy = ctypes.c_float(), ctypes.c_double()
        self._with_progress(callback, lambda: LIB.sc_trainer_train_epoch(
            self.handle, loader.handle, ctypes.byref(loss), ctypes.byref(accuracy)))
        return loss.value, accuracy.value

    def fit(self, loader, epochs=1, eval_data=None, progress=True, checkpoint=None):
        """Trains `epochs` epochs; evaluates eval_data (a Loader or (x, labels)) after each, and
        saves a checkpoint to `checkpoint` (a path) after each when given. Returns the history:
        one dict per epoch. Data-parallel (comm given), the losses and accuracies are means over
        all ranks' samples, only rank 0 prints and saves, and an exception on any rank ends the
        whole job (comm.Abort) rather than leaving the other ranks waiting."""
        root = self.rank == 0
        history = []
        try:
            for epoch in range(1, epochs + 1):
                bar = _Progress(len(loader), f"epoch {epoch}/{epochs}", enabled=progress and root)
                try:
                    loss, accuracy = self.train_epoch(loader, bar.update)
                finally:
                    bar.close()
                loss, accuracy = self._mean_over_ranks((loss, accuracy), loader.info()["samples"])
                row = {"epoch": epoch, "iteration": self.iteration, "train_loss": loss, "train_accuracy": accuracy}
                if eval_data is not None:
                    if isinstance(eval_data, Loader):
                        pair, count = self.evaluate(eval_data), eval_data.info()["samples"]
                    else:
                        pair, count = self.evaluate(*eval_data), len(eval_data[1])
                    row["test_loss"], row["test_accuracy"] = self._mean_over_ranks(pair, count)
                history.append(row)
                if progress and root:
                    print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                          file=sys.stderr, flush=True)
                if checkpoint is not None:
                    save_checkpoint(self, checkpoint)
        except Exception as error:
            if self.ranks is not None and self.ranks.size > 1:
                self.ranks.abort(f"{type(error).__name__}: {error}")
            raise
        return history

    def _mean_over_ranks(self, values, count):
        """Means over every rank's samples of per-rank means over `count` samples each."""
        if self.ranks is None:
            return tuple(float(v) for v in values)
        sums = np.array([float(v) * count for v in values] + [float(count)])
        self.ranks.sum(sums)
        return tuple(float(v) for v in sums[:-1] / sums[-1])

    def range_test(self, x, labels, x_eval=None, labels_eval=None, analysis=None, progress=False, callback=None,
                   **keys):
        """A learning-rate range test on this trainer (restored afterwards); keys as
        sc_trainer_range_test (sweep, min_lr, max_lr, iterations, batch, eval_every, stop,
        precise_bn).
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
        """Records steps and evaluations to an HDF5 run file; record(None) stops. Data-parallel,
        only rank 0 records (on the others this does nothing)."""
        if self.rank != 0:
            return
        check(LIB.sc_trainer_record(self.handle, str(path).encode() if path is not None else None, _spec(**keys)))


def save_checkpoint(trainer, path):
    """Saves the trainer's whole state to an HDF5 file. Data-parallel, only rank 0 writes (the
    ranks' states are equal once train_epoch or average_statistics has averaged the running
    statistics); on the others this does nothing."""
    if trainer.rank != 0:
        return
    check(LIB.sc_checkpoint_save(trainer.handle, str(path).encode()))


def load_checkpoint(trainer, path):
    check(LIB.sc_checkpoint_load(trainer.handle, str(path).encode()))
