"""A checkpoint read by h5py, as a Python user without superconv would: a dict of numpy arrays
keyed by the names a PyTorch state_dict uses, equal to what the C ABI reports."""
import ctypes
import os
import pathlib

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = os.environ.get("SUPERCONV_LIBRARY", str(ROOT / ".build" / "release" / "libsuperconv.so"))


@pytest.fixture(scope="module")
def lib():
    lib = ctypes.CDLL(LIBRARY)
    handle = ctypes.c_void_p
    lib.sc_model_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.sc_trainer_create.argtypes = [handle, ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.sc_trainer_step.argtypes = [handle, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32),
                                    ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    lib.sc_checkpoint_save.argtypes = [handle, ctypes.c_char_p]
    lib.sc_model_param_count.argtypes = [handle, ctypes.POINTER(ctypes.c_int64)]
    lib.sc_model_param_info.argtypes = [handle, ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p),
                                        ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64 * 4)]
    lib.sc_model_param_get.argtypes = [handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
    lib.sc_model_spec.argtypes = [handle]
    lib.sc_model_spec.restype = ctypes.c_char_p
    lib.sc_last_error.restype = ctypes.c_char_p
    for name in ("sc_model_destroy", "sc_trainer_destroy"):
        getattr(lib, name).argtypes = [handle]
    return lib


def check(lib, status):
    assert status == 0, lib.sc_last_error().decode()


def test_checkpoint_reads_as_a_state_dict(lib, tmp_path):
    model, trainer = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib, lib.sc_model_create(b"depth=8 variant=caffe input=3x8x8 classes=5 seed=4", ctypes.byref(model)))
    check(lib, lib.sc_trainer_create(model, b"optimizer=adam", ctypes.byref(trainer)))
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((6, 3, 8, 8)), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 4, 0], dtype=np.int32)
    for _ in range(2):
        check(lib, lib.sc_trainer_step(trainer, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                       y.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), 6, None, None))
    path = tmp_path / "run.h5"
    check(lib, lib.sc_checkpoint_save(trainer, str(path).encode()))

    count = ctypes.c_int64()
    check(lib, lib.sc_model_param_count(model, ctypes.byref(count)))
    expected = {}
    for i in range(count.value):
        name, rank, shape = ctypes.c_char_p(), ctypes.c_int32(), (ctypes.c_int64 * 4)()
        check(lib, lib.sc_model_param_info(model, i, ctypes.byref(name), ctypes.byref(rank), ctypes.byref(shape)))
        values = np.empty(tuple(shape[: rank.value]), dtype=np.float32)
        check(lib, lib.sc_model_param_get(model, name.value, values.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                          values.size))
        expected[name.value.decode()] = values

    with h5py.File(path, "r") as f:
        assert f.attrs["format"].decode() == "superconv-checkpoint"
        assert f.attrs["format_version"].decode() == "1"
        assert f.attrs["model_spec"].decode() == lib.sc_model_spec(model).decode()
        state_dict = {name: f["model"][name][()] for name in f["model"]}
        assert len(f["optimizer"]) == 2 * sum(1 for n in state_dict if "running" not in n)  # adam: m and v
        assert f["counters"][0] == 2  # iteration

    assert set(state_dict) == set(expected)
    assert "layer2.0.bn1.running_mean" in state_dict and "fc.weight" in state_dict
    for name, values in expected.items():
        assert state_dict[name].dtype == np.float32
        assert state_dict[name].shape == values.shape, name
        np.testing.assert_array_equal(state_dict[name], values, err_msg=name)

    lib.sc_trainer_destroy(trainer)
    lib.sc_model_destroy(model)
