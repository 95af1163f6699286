"""Figures drawn to PNG files without a display."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import superconv as sc

pytest.importorskip("matplotlib")
from superconv import plot  # noqa: E402


def is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_range_test_figure(tmp_path):
    r = sc.RangeTest()
    for i in range(80):
        lr = 0.01 + 0.04 * i
        r.record(lr, 2.2 - min(lr, 1.5), test_loss=1.0 + 0.1 * lr, test_acc=min(0.9, 0.2 + lr))
    plot.range_test(r, tmp_path / "range.png")
    assert is_png(tmp_path / "range.png")


def test_run_file_figures_from_the_command_line(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(12) % 3
    x = rng.standard_normal((12, 1, 8, 8)).astype(np.float32)
    runs = []
    for name, schedule in (("clr", dict(policy="triangular", base_lr=0.05, max_lr=0.5, stepsize=3)),
                           ("fixed", dict(policy="fixed", base_lr=0.1))):
        t = sc.Trainer(sc.Model(depth=8, variant="he-a", input="1x8x8", classes=3))
        t.set_schedule(**schedule)
        t.attach_lr_estimator()
        path = tmp_path / f"{name}.h5"
        t.record(path)
        for _ in range(6):
            t.step(x, y)
            t.evaluate(x, y)
        t.record(None)
        runs.append(str(path))
    out = tmp_path / "figures"
    result = subprocess.run([sys.executable, "-m", "superconv.plot", *runs, "-o", str(out)],
                            capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(pathlib.Path(sc.__file__).parents[1])))
    assert result.returncode == 0, result.stderr
    for name in ("curves.png", "lr.png", "estimate.png"):
        assert is_png(out / name), name
