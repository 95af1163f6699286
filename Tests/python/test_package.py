"""The Python package: objects over handles, errors as exceptions, no copies where none are
needed, closing twice, and the convenience layer (fit, range_test)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import superconv as sc


def small_model(**keys):
    return sc.Model(depth=8, variant="he-a", input="1x8x8", classes=3, **keys)


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) + y[:, None, None, None] * 0.5
    return x, y


def test_model_state_dict_round_trip_and_forward():
    with small_model() as m:
        state = m.state_dict()
        assert list(state)[0] == "conv1.weight" and state["conv1.weight"].shape == (16, 1, 3, 3)
        assert state["fc.weight"].shape == (3, 64) and "layer3.0.bn2.running_var" in state
        state["fc.bias"] = np.array([1, 2, 3], dtype=np.float32)
        m.load_state_dict({"fc.bias": state["fc.bias"]})
        np.testing.assert_array_equal(m.state_dict()["fc.bias"], [1, 2, 3])
        assert m(data()[0]).shape == (24, 3)
        assert "depth=8 variant=he-a" in repr(m)


def test_close_twice_and_use_after_close():
    m = small_model()
    m.close()
    m.close()
    assert "closed" in repr(m)
    with pytest.raises(sc.StateError):
        m.state_dict()


def test_errors_carry_the_library_message():
    with pytest.raises(sc.InvalidArgumentError, match="unknown key 'dept'") as info:
        sc.Model(dept=20)
    assert isinstance(info.value, ValueError)
    m = small_model()
    with pytest.raises(sc.ShapeError, match="'fc.bias' has 3 floats, len is 2"):
        m.load_state_dict({"fc.bias": np.zeros(2)})
    t = sc.Trainer(m)
    x, y = data()
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(sc.NonFiniteError, match="weights unchanged"):
        t.step(x, y)
    assert t.iteration == 0
    with pytest.raises(sc.SuperconvIOError, match="/nonexistent.h5"):
        sc.load_checkpoint(t, "/nonexistent.h5")


def test_host_arrays_are_checked_before_the_library_reads_them():
    """The C calls take a count, not a length: an array smaller than count samples of the model's
    shape would be read out of bounds (Model()(20000 one-pixel images) was a SIGSEGV)."""
    model = small_model()
    with pytest.raises(sc.ShapeError, match=r"x has shape \(20000, 1, 1, 1\); expected \[N, 1, 8, 8\]"):
        model(np.zeros((20000, 1, 1, 1), np.float32))
    trainer = sc.Trainer(model)
    x, y = data(6)
    with pytest.raises(sc.ShapeError, match=r"labels has shape \(3,\); expected \(6,\)"):
        trainer.step(x, y[:3])
    with pytest.raises(sc.ShapeError, match="labels has shape"):
        trainer.evaluate(x, y[:3])
    with pytest.raises(sc.ShapeError, match="labels has shape"):
        sc.Dataset.from_arrays(x, y[:3])
    with pytest.raises(sc.InvalidArgumentError, match="outside int32"):
        trainer.step(x, np.array([2**33, 0, 1, 2, 0, 1]))
    with pytest.raises(sc.ShapeError, match="x_eval has shape"):
        trainer.range_test(x, y, x_eval=np.zeros((6, 1, 4, 4), np.float32), labels_eval=y, iterations=2)
    assert trainer.iteration == 0
    optimizer = sc.Optimizer(10)
    params = np.zeros(10, np.float32)
    with pytest.raises(sc.ShapeError, match="grads has 3 values, params 10"):
        optimizer.step(params, np.zeros(3, np.float32), 0.1)


def test_keyword_values_cannot_inject_keys_or_end_the_spec():
    with pytest.raises(sc.InvalidArgumentError, match="a value may hold no spaces"):
        sc.Model(depth="8 classes=5")
    with pytest.raises(sc.InvalidArgumentError, match="a value may hold no spaces or NUL"):
        sc.Model(depth="8\0", classes=5)
    with pytest.raises(sc.InvalidArgumentError, match="holds a NUL character"):
        sc.Model("depth=8\0 classes=5")


def test_optimizer_updates_in_place_without_copies():
    w = np.ones(4, dtype=np.float32)
    address = w.ctypes.data
    with sc.Optimizer(4, optimizer="sgd", form="pytorch", weight_decay=0) as o:
        o.step(w, np.full(4, 2.0), lr=0.5, momentum=0.0)
        assert w.ctypes.data == address
        np.testing.assert_array_equal(w, np.zeros(4))
        with pytest.raises(TypeError, match="C-contiguous float32"):
            o.step(np.ones(8, dtype=np.float32)[::2], np.ones(4), lr=0.1)
        with pytest.raises(TypeError):
            o.step(np.ones(4, dtype=np.float64), np.ones(4), lr=0.1)
        state, steps = o.state
        assert state.shape == (4,) and steps == 1


def test_schedule_estimator_and_range_test():
    s = sc.Schedule(policy="triangular", base_lr=0.1, max_lr=3, stepsize=5000)
    assert s(5000)[0] == pytest.approx(3)
    lr, momentum = s.table(0, 3)
    assert lr.shape == (3,) and momentum[0] == pytest.approx(0.9)
    e = sc.LREstimator()
    theta = np.array([1.0, -2.0])
    for _ in range(3):
        raw, smoothed = e.observe(theta, 0.05)
        theta = theta - 0.05 * 4.0 * theta
    assert raw == pytest.approx(0.25, rel=1e-4)
    r = sc.RangeTest()
    for i in range(60):
        r.record(0.01 + 0.05 * i, 2.0 - 0.01 * i, test_acc=min(0.9, 0.1 + 0.05 * i) + (0.08 if i % 3 == 0 else -0.04))
    verdict, evidence = r.verdict()
    assert verdict == "likely" and "keeping" in evidence and "plateau" in evidence
    assert r.analysis()["retention"] > 0.8
    assert len(r) == 60 and r.points()["lr"].shape == (60,)
    assert math.isfinite(r.analysis()["valley"])


def test_dataset_loader_and_fit():
    x, y = data(40)
    d = sc.Dataset.from_arrays(x, y)
    assert d.info() == {"count": 40, "shape": (1, 8, 8), "classes": 3}
    loader = sc.Loader(d, batch=8, seed=1)
    seen = np.concatenate([labels for _, labels in loader])
    assert len(seen) == 40 and len(loader) == 5
    t = sc.Trainer(small_model(), weight_decay=0)
    t.set_schedule(policy="onecycle_cosine", max_lr=0.2, total_steps=10)
    history = t.fit(loader, epochs=2, eval_data=(x, y), progress=False)
    assert [h["iteration"] for h in history] == [5, 10]
    assert all(0 <= h["test_accuracy"] <= 1 for h in history)
    rt = t.range_test(x, y, x, y, max_lr=1, iterations=12, batch=8, eval_every=4)
    assert len(rt) == 12 and t.iteration == 10


def test_ctrl_c_in_a_callback_stops_the_epoch_after_the_step_and_resumes():
    x, y = data(40)
    loader = sc.Loader(sc.Dataset.from_arrays(x, y), batch=8, seed=1)
    t = sc.Trainer(small_model(), weight_decay=0)

    def press_ctrl_c(iteration, *_):
        if iteration == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        t.train_epoch(loader, press_ctrl_c)
    assert t.iteration == 2  # the two steps taken stay applied
    t.train_epoch(loader)  # finishes the same epoch: the three batches left
    assert t.iteration == 5


def test_callback_errors_propagate_and_interrupt_is_spent():
    x, y = data(40)
    loader = sc.Loader(sc.Dataset.from_arrays(x, y), batch=8, seed=1)
    t = sc.Trainer(small_model(), weight_decay=0)

    def fail(*_):
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        t.train_epoch(loader, fail)
    assert t.iteration == 1
    t.interrupt()  # no long call runs: the next one stops after one step
    with pytest.raises(sc.Interrupted, match="interrupted at iteration 2"):
        t.train_epoch(loader)
    t.train_epoch(loader)
    assert t.iteration == 5


def test_interrupted_evaluation_and_range_test_change_nothing():
    x, y = data(40)
    loader = sc.Loader(sc.Dataset.from_arrays(x, y), batch=8, shuffle=0)
    t = sc.Trainer(small_model(), weight_decay=0)
    whole = t.evaluate(loader)
    t.interrupt()
    with pytest.raises(sc.Interrupted):
        t.evaluate(loader)
    assert t.evaluate(loader) == whole  # the loader was put back at the epoch's start
    before = t.model.state_dict()

    def stop_at_5(index, *_):
        if index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        t.range_test(x, y, max_lr=1, iterations=12, batch=8, callback=stop_at_5)
    assert t.iteration == 0
    for name, value in t.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_blas_info_names_openblas():
    assert "OpenBLAS" in sc.blas_info() and "core" in sc.blas_info()


def test_instruction_set_follows_the_environment():
    chosen = sc.instruction_set()
    assert chosen.split()[0] in ("portable", "avx2", "avx512") and "supported: portable" in chosen
    code = "import superconv as sc; print(sc.instruction_set())"
    env = dict(os.environ, SUPERCONV_ISA="portable", PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("portable (supported: portable")
    env["SUPERCONV_ISA"] = "avx9000"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "SUPERCONV_ISA=avx9000 is not one of portable|avx2|avx512" in out.stdout


def test_checkpoint_keeps_the_training_normalization(tmp_path):
    x, y = data(40)
    d = sc.Dataset.from_arrays(x, y)
    train = sc.Loader(d, batch=8, seed=1, normalize="channel")
    t = sc.Trainer(small_model(), weight_decay=0)
    t.train_epoch(train)
    sc.save_checkpoint(t, tmp_path / "ckpt.h5")
    # A loader over other data, normalised with the checkpoint's statistics, equals one that
    # copies them from the training loader.
    other = sc.Dataset.from_arrays(x[:16] * 3 + 1, y[:16])
    from_file = sc.Loader(other, batch=16, shuffle=0, normalize="channel")
    from_file.load_normalization(tmp_path / "ckpt.h5")
    copied = sc.Loader(other, batch=16, shuffle=0, normalize="channel")
    copied.copy_normalization(train)
    np.testing.assert_array_equal(next(iter(from_file))[0], next(iter(copied))[0])
    with pytest.raises(sc.InvalidArgumentError, match="normalises differently"):
        sc.Loader(other, batch=16, normalize="pixel").load_normalization(tmp_path / "ckpt.h5")
    # A checkpoint whose statistics were emptied is refused, not read.
    import h5py
    import shutil
    from whole_file_checksum import reseal
    shutil.copy(tmp_path / "ckpt.h5", tmp_path / "emptied.h5")
    with h5py.File(tmp_path / "emptied.h5", "r+") as f:
        del f["normalization/mean"]
        f["normalization/mean"] = np.zeros(0, dtype=np.float32)
    reseal(tmp_path / "emptied.h5")
    with pytest.raises(sc.FormatError, match="normalization/mean' has shape \\[0\\]"):
        copied.load_normalization(tmp_path / "emptied.h5")
    untrained = sc.Trainer(small_model())
    sc.save_checkpoint(untrained, tmp_path / "fresh.h5")
    with pytest.raises(sc.StateError, match="holds no input statistics"):
        copied.load_normalization(tmp_path / "fresh.h5")


def test_precise_bn_evaluation_changes_nothing_and_recomputing_only_the_statistics():
    x, y = data(48, seed=5)
    with sc.Model(depth=8, input="1x8x8", classes=3, seed=2) as m, sc.Trainer(m, lr=0.5, precise_bn=2) as t, \
            sc.Model(depth=8, input="1x8x8", classes=3, seed=2) as m2, sc.Trainer(m2, lr=0.5) as twin:
        for b in range(3):
            t.step(x[16 * b:16 * b + 16], y[16 * b:16 * b + 16])
            twin.step(x[16 * b:16 * b + 16], y[16 * b:16 * b + 16])
        before = m.state_dict()
        precise = t.evaluate(x, y)
        assert all(np.array_equal(before[k], v) for k, v in m.state_dict().items())
        assert precise != twin.evaluate(x, y)
        t.step(x[:16], y[:16])
        twin.step(x[:16], y[:16])  # the optimizer state was untouched: the same step follows
        assert all(np.array_equal(m2.state_dict()[k], v) for k, v in m.state_dict().items())
        before = m2.state_dict()
        twin.recompute_statistics(np.concatenate([x[32:48], x[:16]]), batch=16)
        changed = {k for k, v in m2.state_dict().items() if not np.array_equal(before[k], v)}
        assert changed and all("running_" in k for k in changed)
        assert twin.evaluate(x, y) == t.evaluate(x, y)
        with pytest.raises(sc.ShapeError):
            twin.recompute_statistics(np.zeros((4, 1, 7, 7), np.float32))
