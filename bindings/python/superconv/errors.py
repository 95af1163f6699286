"""Exceptions mirroring sc_status; each carries the library's message (sc_last_error)."""
from ._lib import LIB


class SuperconvError(Exception):
    """A call into libsuperconv failed; `status` is the sc_status name."""

    status = "SC_ERR_INTERNAL"


class InvalidArgumentError(SuperconvError, ValueError):
    status = "SC_ERR_INVALID_ARGUMENT"


class ShapeError(SuperconvError, ValueError):
    status = "SC_ERR_SHAPE"


class SuperconvIOError(SuperconvError, OSError):
    status = "SC_ERR_IO"


class FormatError(SuperconvError, ValueError):
    status = "SC_ERR_FORMAT"


class NonFiniteError(SuperconvError, ArithmeticError):
    status = "SC_ERR_NONFINITE"


class OutOfMemoryError(SuperconvError, MemoryError):
    status = "SC_ERR_OUT_OF_MEMORY"


class StateError(SuperconvError, RuntimeError):
    status = "SC_ERR_STATE"


class UnsupportedError(SuperconvError, NotImplementedError):
    status = "SC_ERR_UNSUPPORTED"


class InternalError(SuperconvError):
    status = "SC_ERR_INTERNAL"


class Interrupted(SuperconvError):
    """A long call stopped early at Trainer.interrupt()'s request."""
    status = "SC_INTERRUPTED"


_BY_CODE = {1: InvalidArgumentError, 2: ShapeError, 3: SuperconvIOError, 4: FormatError, 5: NonFiniteError,
            6: OutOfMemoryError, 7: StateError, 8: UnsupportedError, 9: InternalError, 10: Interrupted}


def check(status):
    """Raises the exception of a non-zero sc_status with the library's message."""
    if status != 0:
        raise _BY_CODE.get(status, InternalError)(LIB.sc_last_error().decode())
