"""superconv: super-convergence training of residual networks (Smith & Topin 2017), through
libsuperconv's C ABI. Every object is a thin owner of a library handle: keyword arguments become
the handle's spec keys, errors raise exceptions carrying the library's message, close() is safe
to call twice, and objects are context managers."""
import ctypes

import numpy as np

from ._lib import LIB, LIBRARY_PATH, PROGRESS
from .errors import (FormatError, InternalError, Interrupted, InvalidArgumentError, NonFiniteError, OutOfMemoryError,
                     ShapeError, StateError, SuperconvError, SuperconvIOError, UnsupportedError, check)

__all__ = ["Model", "Trainer", "Schedule", "Optimizer", "RangeTest", "LREstimator", "Dataset", "Loader",
           "save_checkpoint", "load_checkpoint", "version", "blas_info", "instruction_set", "set_num_threads", "get_num_threads",
           "SuperconvError",
           "InvalidArgumentError", "ShapeError", "SuperconvIOError", "FormatError", "NonFiniteError",
           "OutOfMemoryError", "StateError", "UnsupportedError", "InternalError", "Interrupted", "LIBRARY_PATH"]


def version():
    return LIB.sc_version().decode()


def blas_info():
    """OpenBLAS's build configuration and the core kernel it chose for this CPU."""
    return LIB.sc_blas_info().decode()


def instruction_set():
    """The kernels' instruction set in use and those this CPU supports, e.g.
    "avx2 (supported: portable avx2)"; the environment variable SUPERCONV_ISA, read when the
    library loads, chooses another."""
    return LIB.sc_instruction_set().decode()


def set_num_threads(n):
    check(LIB.sc_set_num_threads(int(n)))


def get_num_threads():
    return LIB.sc_get_num_threads()


def _spec(spec=None, **keys):
    """A spec string from an optional string and keyword arguments (bools as 0/1, sequences
    comma-joined)."""
    parts = [spec] if spec else []
    for key, value in keys.items():
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        # A space would start another key (depth="8 classes=5"), a NUL would end the C string.
        if any(c.isspace() or c == "\0" for c in str(value)):
            raise InvalidArgumentError(f"{key}={str(value)!r}: a value may hold no spaces or NUL characters")
        parts.append(f"{key}={value}")
    text = " ".join(parts)
    if "\0" in text:
        raise InvalidArgumentError(f"the spec {text!r} holds a NUL character, which would end it early")
    return text.encode()


def _floats(array, what="x"):
    """A C-contiguous float32 view of `array`, copied only when it is not one already."""
    return np.ascontiguousarray(array, dtype=np.float32)


def _samples(x, shape, what="x"):
    """`x` as float32 [N, C, H, W] whose sample shape is `shape` (C, H, W): the library reads N
    samples of that shape, so a smaller array would be read out of bounds."""
    x = _floats(x)
    if x.ndim != 4 or x.shape[1:] != tuple(shape):
        raise ShapeError(f"{what} has shape {x.shape}; expected [N, {', '.join(map(str, shape))}]")
    return x


def _labels(array, count, what="labels"):
    """`count` labels as int32, refusing values an int32 cannot hold (2**33 would become 0)."""
    values = np.asarray(array)
    if values.shape != (count,):
        raise ShapeError(f"{what} has shape {values.shape}; expected ({count},)")
    if values.size and values.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{what} must be integers, not {values.dtype}")
    if values.size and (values.min() < -2**31 or values.max() >= 2**31):
        raise InvalidArgumentError(f"{what} hold {values.max() if values.max() >= 2**31 else values.min()}, outside int32")
    return np.ascontiguousarray(values, dtype=np.int32)


def _fp(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _ip(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


class _Handle:
    _destroy = None
    _spec_fn = None

    def __init__(self, handle):
        self._handle = handle

    @property
    def handle(self):
        if self._handle is None:
            raise StateError(f"{type(self).__name__} is closed")
        return self._handle

    def close(self):
        """Releases the handle; calling it again does nothing."""
        if self._handle is not None:
            type(self)._destroy(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def spec(self):
        """The normalised spec: every key with its value, defaults filled in."""
        return type(self)._spec_fn(self.handle).decode()

    def __repr__(self):
        if self._handle is None:
            return f"<superconv.{type(self).__name__} (closed)>"
        return f"<superconv.{type(self).__name__} {self.spec}>"


def _create(function, *args):
    handle = ctypes.c_void_p()
    check(function(*args, ctypes.byref(handle)))
    return handle


class Model(_Handle):
    """A CIFAR ResNet, e.g. Model(depth=56, variant="caffe", input="3x32x32", classes=10)."""
    _destroy = LIB.sc_model_destroy
    _spec_fn = LIB.sc_model_spec

    def __init__(self, spec=None, **keys):
        super().__init__(_create(LIB.sc_model_create, _spec(spec, **keys)))

    @classmethod
    def from_checkpoint(cls, path):
        model = cls.__new__(cls)
        _Handle.__init__(model, _create(LIB.sc_model_create_from_checkpoint, str(path).encode()))
        return model

    def names(self):
        count = ctypes.c_int64()
        check(LIB.sc_model_param_count(self.handle, ctypes.byref(count)))
        result = []
        for i in range(count.value):
            name, rank, shape = ctypes.c_char_p(), ctypes.c_int32(), (ctypes.c_int64 * 4)()
            check(LIB.sc_model_param_info(self.handle, i, ctypes.byref(name), ctypes.byref(rank), shape))
            result.append((name.value.decode(), tuple(shape[: rank.value])))
        return result

    def state_dict(self):
        """Every named tensor (parameters and BN running statistics) as numpy arrays, by the
        names a PyTorch state_dict uses."""
        result = {}
        for name, shape in self.names():
            values = np.empty(shape, dtype=np.float32)
            check(LIB.sc_model_param_get(self.handle, name.encode(), _fp(values), values.size))
            result[name] = values
        return result

    def load_state_dict(self, tensors):
        for name, values in tensors.items():
            values = _floats(values)
            check(LIB.sc_model_param_set(self.handle, name.encode(), _fp(values), values.size))

    @property
    def input_shape(self):
        """The shape (C, H, W) of one sample, from the spec's input key."""
        return tuple(int(d) for d in dict(kv.split("=", 1) for kv in self.spec.split())["input"].split("x"))

    def __call__(self, x):
        """Inference-mode logits of a batch x [N, C, H, W]."""
        x = _samples(x, self.input_shape)
        classes = dict(self.names())["fc.bias"][0]
        logits = np.empty((x.shape[0], classes), dtype=np.float32)
        check(LIB.sc_model_forward(self.handle, _fp(x), x.shape[0], _fp(logits), logits.size))
        return logits


class Schedule(_Handle):
    """Learning rate and momentum per iteration, e.g. Schedule(policy="onecycle", max_lr=3)."""
    _destroy = LIB.sc_schedule_destroy
    _spec_fn = LIB.sc_schedule_spec

    def __init__(self, spec=None, **keys):
        super().__init__(_create(LIB.sc_schedule_create, _spec(spec, **keys)))

    def __call__(self, iteration):
        lr, momentum = ctypes.c_float(), ctypes.c_float()
        check(LIB.sc_schedule_at(self.handle, int(iteration), ctypes.byref(lr), ctypes.byref(momentum)))
        return lr.value, momentum.value

    def table(self, first, count):
        lr = np.empty(count, dtype=np.float32)
        momentum = np.empty(count, dtype=np.float32)
        check(LIB.sc_schedule_table(self.handle, first, count, _fp(lr), _fp(momentum), count))
        return lr, momentum


class Optimizer(_Handle):
    """An update rule on a host's own flat float32 parameters, updated in place."""
    _destroy = LIB.sc_optimizer_destroy
    _spec_fn = LIB.sc_optimizer_spec

    def __init__(self, n, spec=None, **keys):
        super().__init__(_create(LIB.sc_optimizer_create, _spec(spec, **keys), int(n)))

    def step(self, params, grads, lr, momentum=0.9):
        """Updates `params` in place; it must be a C-contiguous float32 array (no copy is made)."""
        if not (isinstance(params, np.ndarray) and params.dtype == np.float32 and params.flags.c_contiguous
                and params.flags.writeable):
            raise TypeError("params must be a writeable, C-contiguous float32 numpy array (it is updated in place)")
        grads = _floats(grads)
        if grads.size != params.size:
            raise ShapeError(f"grads has {grads.size} values, params {params.size}")
        check(LIB.sc_optimizer_step(self.handle, _fp(params), _fp(grads), params.size, float(lr), float(momentum)))

    @property
    def state(self):
        size, steps = ctypes.c_int64(), ctypes.c_int64()
        check(LIB.sc_optimizer_state_size(self.handle, ctypes.byref(size)))
        values = np.empty(size.value, dtype=np.float32)
        check(LIB.sc_optimizer_state_get(self.handle, _fp(values), size.value, ctypes.byref(steps)))
        return values, steps.value

    @state.setter
    def state(self, value):
        values, steps = value
        values = _floats(values)
        check(LIB.sc_optimizer_state_set(self.handle, _fp(values), values.size, int(steps)))


class RangeTest(_Handle):
    """Range-test records and their analysis (suggestions, super-convergence verdict)."""
    _destroy = LIB.sc_range_test_destroy
    _spec_fn = LIB.sc_range_test_spec
    VALUES = ("paper_max", "paper_min", "valley", "steep", "minimum", "slide", "steepest_gradient", "peak_lr",
              "peak_accuracy", "accuracy_rise", "plateau_low", "plateau_high", "plateau_width", "held_lr", "held_accuracy",
              "retention", "oscillation", "diverged_at")

    def __init__(self, spec=None, **keys):
        super().__init__(_create(LIB.sc_range_test_create, _spec(spec, **keys)))

    def record(self, lr, train_loss, train_acc=float("nan"), test_loss=float("nan"), test_acc=float("nan")):
        check(LIB.sc_range_test_record(self.handle, lr, train_loss, train_acc, test_loss, test_acc))

    def __len__(self):
        count = ctypes.c_int64()
        check(LIB.sc_range_test_count(self.handle, ctypes.byref(count)))
        return count.value

    def points(self):
        """The records as arrays: lr, train_loss, train_acc, test_loss, test_acc, smoothed_loss."""
        columns = {k: np.empty(len(self), dtype=np.float32)
                   for k in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "smoothed_loss")}
        for i in range(len(self)):
            cells = [ctypes.c_float() for _ in columns]
            check(LIB.sc_range_test_point(self.handle, i, *[ctypes.byref(c) for c in cells]))
            for column, cell in zip(columns.values(), cells):
                column[i] = cell.value
        return columns

    def value(self, name):
        result = ctypes.c_double()
        check(LIB.sc_range_test_value(self.handle, name.encode(), ctypes.byref(result)))
        return result.value

    def analysis(self):
        return {name: self.value(name) for name in self.VALUES}

    def verdict(self):
        verdict, evidence = ctypes.c_char_p(), ctypes.c_char_p()
        check(LIB.sc_range_test_verdict(self.handle, ctypes.byref(verdict), ctypes.byref(evidence)))
        return verdict.value.decode(), evidence.value.decode()


class LREstimator(_Handle):
    """The paper's Eq. 8 estimate of the optimal learning rate from parameter snapshots."""
    _destroy = LIB.sc_lr_estimator_destroy
    _spec_fn = LIB.sc_lr_estimator_spec

    def __init__(self, spec=None, **keys):
        super().__init__(_create(LIB.sc_lr_estimator_create, _spec(spec, **keys)))

    def observe(self, theta, lr_used):
        theta = _floats(theta).ravel()
        raw, smoothed = ctypes.c_float(), ctypes.c_float()
        check(LIB.sc_lr_estimator_observe(self.handle, _fp(theta), theta.size, float(lr_used),
                                          ctypes.byref(raw), ctypes.byref(smoothed)))
        return raw.value, smoothed.value


class Dataset(_Handle):
    """A labelled image data set: Dataset(format="idx", images=..., labels=...) or
    Dataset.from_arrays(x, y)."""
    _destroy = LIB.sc_dataset_destroy
    _spec_fn = LIB.sc_dataset_spec

    def __init__(self, spec=None, **keys):
        super().__init__(_create(LIB.sc_dataset_open, _spec(spec, **keys)))

    @classmethod
    def from_arrays(cls, x, labels):
        x = _floats(x)
        if x.ndim != 4:
            raise ShapeError(f"x has shape {x.shape}; expected [N, C, H, W]")
        labels = _labels(labels, x.shape[0])
        dataset = cls.__new__(cls)
        shape = "x".join(str(d) for d in x.shape[1:]).encode()
        _Handle.__init__(dataset, _create(LIB.sc_dataset_from_memory, _fp(x), _ip(labels), x.shape[0], shape))
        return dataset

    def info(self):
        count, c, h, w, classes = ctypes.c_int64(), ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        check(LIB.sc_dataset_info(self.handle, *[ctypes.byref(v) for v in (count, c, h, w, classes)]))
        return {"count": count.value, "shape": (c.value, h.value, w.value), "classes": classes.value}

    def __len__(self):
        return self.info()["count"]


class Loader(_Handle):
    """Batches of a Dataset: Loader(dataset, batch=128, augment="crop4,flip", normalize="channel").
    Iterating yields the (x, labels) batches of one epoch."""
    _destroy = LIB.sc_loader_destroy
    _spec_fn = LIB.sc_loader_spec

    def __init__(self, dataset, spec=None, **keys):
        super().__init__(_create(LIB.sc_loader_create, dataset.handle, _spec(spec, **keys)))
        self.dataset = dataset  # the Python object stays alive as long as the loader
        self._batch = int(dict(kv.split("=") for kv in self.spec.split())["batch"])
        self._shape = dataset.info()["shape"]

    def info(self):
        samples, batches = ctypes.c_int64(), ctypes.c_int64()
        check(LIB.sc_loader_info(self.handle, ctypes.byref(samples), ctypes.byref(batches)))
        return {"samples": samples.value, "batches": batches.value}

    @property
    def batch(self):
        """Samples per batch (the last batch of an epoch may have fewer)."""
        return self._batch

    def __len__(self):
        return self.info()["batches"]

    def __iter__(self):
        x = np.empty((self._batch,) + self._shape, dtype=np.float32)
        labels = np.empty(self._batch, dtype=np.int32)
        n, done = ctypes.c_int64(), ctypes.c_int32()
        while True:
            check(LIB.sc_loader_next(self.handle, _fp(x), _ip(labels), self._batch, ctypes.byref(n), ctypes.byref(done)))
            yield x[: n.value].copy(), labels[: n.value].copy()
            if done.value:
                return

    def take(self, count):
        """The next `count` samples as arrays (x, labels), across epochs if need be: host arrays
        for calls that take them, such as Trainer.range_test."""
        xs, ys, have = [], [], 0
        while have < count:
            for x, labels in self:
                xs.append(x)
                ys.append(labels)
                have += len(labels)
                if have >= count:
                    break
        return np.concatenate(xs)[:count], np.concatenate(ys)[:count]

    def copy_normalization(self, other):
        """Normalises with another loader's statistics (e.g. the training loader's)."""
        check(LIB.sc_loader_copy_normalization(self.handle, other.handle))

    def load_normalization(self, checkpoint):
        """Normalises with the training statistics saved in a checkpoint."""
        check(LIB.sc_loader_load_normalization(self.handle, str(checkpoint).encode()))


from .trainer import Trainer, load_checkpoint, save_checkpoint  # noqa: E402
