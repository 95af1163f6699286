"""Run records read with h5py: one row per step and per evaluation, flushed as the run goes, so
that a run killed midway keeps its records up to the last flush."""
import ctypes
import os
import shutil
import signal
import time

import h5py
import numpy as np

from test_checkpoint_h5py import ROOT, SC_ERR_FORMAT, lib  # noqa: F401  (the fixture)
from whole_file_checksum import reseal


def setup(lib):
    handle = ctypes.c_void_p
    lib.sc_trainer_record.argtypes = [handle, ctypes.c_char_p, ctypes.c_char_p]
    lib.sc_trainer_evaluate.argtypes = [handle, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32),
                                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    lib.sc_schedule_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.sc_schedule_at.argtypes = [handle, ctypes.c_int64, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.sc_trainer_set_schedule.argtypes = [handle, handle]
    model, trainer, schedule = handle(), handle(), handle()
    assert lib.sc_model_create(b"depth=8 variant=he-a input=1x8x8 classes=3", ctypes.byref(model)) == 0
    assert lib.sc_trainer_create(model, b"", ctypes.byref(trainer)) == 0
    assert lib.sc_schedule_create(b"policy=triangular base_lr=0.01 max_lr=0.1 stepsize=4", ctypes.byref(schedule)) == 0
    assert lib.sc_trainer_set_schedule(trainer, schedule) == 0
    x = np.ascontiguousarray(np.random.default_rng(1).standard_normal((6, 1, 8, 8)), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2], dtype=np.int32)
    args = (x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), y.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), 6)
    return model, trainer, schedule, args, (x, y)


def test_rows_per_step_and_evaluation(lib, tmp_path):
    model, trainer, schedule, args, keep = setup(lib)
    path = str(tmp_path / "run.h5").encode()
    assert lib.sc_trainer_record(trainer, path, b"flush_every=1000") == 0
    for _ in range(7):
        assert lib.sc_trainer_step(trainer, *args, None, None) == 0
    assert lib.sc_trainer_evaluate(trainer, *args, None, None) == 0  # rewrites the file
    with h5py.File(path, "r") as f:
        assert f.attrs["format"].decode() == "superconv-run"
        assert f.attrs["schedule_spec"].decode().startswith("policy=triangular")
        assert list(f["iterations/iteration"][()]) == [1, 2, 3, 4, 5, 6, 7]
        for i, lr in enumerate(f["iterations/lr"][()]):
            expected = ctypes.c_float()
            lib.sc_schedule_at(schedule, i, ctypes.byref(expected), None)
            assert lr == expected.value
        assert np.all(np.isfinite(f["iterations/loss"][()]))
        assert np.all(np.isnan(f["iterations/lr_estimate"][()]))
        assert list(f["evaluations/iteration"][()]) == [7]
        assert 0 <= f["evaluations/accuracy"][0] <= 1
    assert lib.sc_trainer_record(trainer, None, None) == 0  # stop: a final flush
    assert lib.sc_trainer_record(trainer, b"/nonexistent-folder/run.h5", None) == 3  # SC_ERR_IO, at once


def test_killed_run_keeps_flushed_records(lib, tmp_path):
    path = str(tmp_path / "killed.h5").encode()
    child = os.fork()
    if child == 0:
        model, trainer, schedule, args, keep = setup(lib)
        lib.sc_trainer_record(trainer, path, b"flush_every=3")
        while True:
            lib.sc_trainer_step(trainer, *args, None, None)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with h5py.File(path, "r") as f:
                if len(f["iterations/iteration"]) >= 9:
                    break
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    with h5py.File(path, "r") as f:
        rows = list(f["iterations/iteration"][()])
    assert len(rows) >= 9 and len(rows) % 3 == 0, rows
    assert rows == list(range(1, len(rows) + 1))


def test_append_keeps_the_rows_up_to_a_resumed_iteration(lib, tmp_path):
    model, trainer, schedule, args, keep = setup(lib)
    run, checkpoint = str(tmp_path / "run.h5").encode(), str(tmp_path / "ckpt.h5").encode()
    lib.sc_checkpoint_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.sc_checkpoint_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    assert lib.sc_trainer_record(trainer, run, b"flush_every=1") == 0
    for _ in range(4):
        assert lib.sc_trainer_step(trainer, *args, None, None) == 0
    assert lib.sc_checkpoint_save(trainer, checkpoint) == 0
    for _ in range(3):  # steps the resumed run will not contain
        assert lib.sc_trainer_step(trainer, *args, None, None) == 0
    assert lib.sc_trainer_record(trainer, None, None) == 0
    with h5py.File(run, "r") as f:
        times = f["iterations/time"][()]
        assert list(f["iterations/iteration"][()]) == [1, 2, 3, 4, 5, 6, 7]

    # A fresh trainer resumed from the checkpoint continues the record after iteration 4.
    resumed = ctypes.c_void_p()
    assert lib.sc_trainer_create(model, b"", ctypes.byref(resumed)) == 0
    assert lib.sc_checkpoint_load(resumed, checkpoint) == 0
    assert lib.sc_trainer_record(resumed, run, b"append=1 flush_every=1") == 0
    assert lib.sc_trainer_step(resumed, *args, None, None) == 0
    assert lib.sc_trainer_record(resumed, None, None) == 0
    with h5py.File(run, "r") as f:
        assert list(f["iterations/iteration"][()]) == [1, 2, 3, 4, 5]
        kept = f["iterations/time"][()]
        np.testing.assert_array_equal(kept[:4], times[:4])
        assert kept[4] >= kept[3]

    # append=1 on a file that is not a run file is refused and leaves it alone.
    assert lib.sc_trainer_record(resumed, checkpoint, b"append=1") == 4  # SC_ERR_FORMAT
    assert b"not a superconv run file" in lib.sc_last_error()
    lib.sc_trainer_destroy(resumed)


def test_a_run_file_declaring_more_than_it_holds_is_refused_before_the_host_allocates(lib, tmp_path):
    """Fuzzing's 9.7 KB run file (Tests/fuzz/crashes/run_record/local-heap-4GiB), resealed as a
    crafted file would be: a group's local heap declares 4 GiB, which libhdf5 allocates before
    reading it. The probe child, whose address space may grow by a few times the file's size,
    runs out and the append is refused; before, the child's walk stopped at an earlier failure
    and the host itself asked for the 4 GiB, then reported a missing dataset."""
    model, trainer, schedule, args, keep = setup(lib)
    run = tmp_path / "run.h5"
    shutil.copy(ROOT / "Tests" / "fuzz" / "crashes" / "run_record" / "local-heap-4GiB", run)
    reseal(run)
    before = run.read_bytes()
    assert lib.sc_trainer_record(trainer, str(run).encode(), b"append=1") == SC_ERR_FORMAT
    assert b"declares a structure larger than its 9680 bytes can hold" in lib.sc_last_error()
    assert run.read_bytes() == before
