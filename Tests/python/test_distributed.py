"""Data-parallel training from Python: the open step through numpy, a Trainer over any object
with an all-reduce, and fit under mpirun -np 2 with mpi4py (Tests/python/mpi/fit_two_ranks.py)."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import superconv as sc

HERE = pathlib.Path(__file__).resolve().parent


def model():
    return sc.Model(depth=8, variant="caffe", input="1x8x8", classes=3, seed=4)


def data(n=32, seed=1):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.standard_normal((n, 1, 8, 8)).astype(np.float32) + y[:, None, None, None] * 0.5, y


class TwoEqualRanks:
    """A stand-in communicator: rank 0 of two ranks that hold the same arrays."""
    rank, size = 0, 2

    def __init__(self):
        self.calls = 0

    def allreduce(self, array):
        self.calls += 1
        return array * 2


class BrokenNetwork(TwoEqualRanks):
    def allreduce(self, array):
        raise ConnectionError("the network is down")


def test_open_step_equals_step_and_the_buffer_is_the_gradient():
    x, y = data()
    m1, m2 = model(), model()
    t1, t2 = sc.Trainer(m1, lr=0.05), sc.Trainer(m2, lr=0.05)
    for _ in range(3):
        assert t1.step(x, y) == t2.compute_gradients(x, y)
        t2.apply_gradients()
    for name, value in m1.state_dict().items():
        np.testing.assert_array_equal(value, m2.state_dict()[name], err_msg=name)
    t2.compute_gradients(x, y)
    g = t2.gradients()
    trainable = sum(np.prod(shape) for name, shape in m2.names() if "running_" not in name)
    assert g.dtype == np.float32 and g.size == trainable
    # The buffer is the trainer's own: zeroed through numpy, the step changes only by decay and momentum.
    before = m2.state_dict()["fc.bias"]
    g[:] = np.nan
    with pytest.raises(sc.NonFiniteError, match="conv1.weight"):
        t2.apply_gradients()
    np.testing.assert_array_equal(m2.state_dict()["fc.bias"], before)
    assert t2.iteration == 3


def test_a_trainer_over_an_allreduce_object_steps_as_alone_when_ranks_agree():
    x, y = data()
    alone, ranked = model(), model()
    ranks = TwoEqualRanks()
    t1, t2 = sc.Trainer(alone, lr=0.05), sc.Trainer(ranked, lr=0.05, comm=ranks)
    assert t2.rank == 0
    for _ in range(3):
        t1.step(x, y)
        t2.step(x, y)
    assert ranks.calls == 3
    for name, value in alone.state_dict().items():
        np.testing.assert_array_equal(value, ranked.state_dict()[name], err_msg=name)


def test_an_allreduce_that_raises_fails_the_step_with_its_error_and_changes_nothing():
    x, y = data()
    m = model()
    t = sc.Trainer(m, lr=0.05, comm=BrokenNetwork())
    before = m.state_dict()
    with pytest.raises(ConnectionError, match="network is down"):
        t.step(x, y)
    assert t.iteration == 0
    for name, value in before.items():
        np.testing.assert_array_equal(value, m.state_dict()[name], err_msg=name)


def test_fit_on_two_mpi_ranks(tmp_path):
    """mpirun -np 2: the ranks end with bit-identical weights equal to one process averaging both
    shards' gradients through the open step; only rank 0 prints and writes files."""
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (make test installs openmpi-bin)")
    pytest.importorskip("mpi4py")
    env = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    result = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", sys.executable, str(HERE / "mpi" / "fit_two_ranks.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **env})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ranks bit-identical: True" in output
    relative = float(output.split("relative to one process: ")[1].split()[0])
    assert relative <= 1e-5, output
    assert output.count("epoch 2 iteration") == 1, output  # fit's line, printed by rank 0 alone
    assert (tmp_path / "run-0.h5").exists() and (tmp_path / "checkpoint-0.h5").exists()
    assert not (tmp_path / "run-1.h5").exists() and not (tmp_path / "checkpoint-1.h5").exists()


def test_a_rank_that_raises_in_fit_ends_the_job(tmp_path):
    """Rank 1's evaluation data are bad (a label out of range): its fit raises while rank 0 waits
    to average the epoch's figures; fit ends the job through comm.Abort with a message, instead of
    leaving rank 0 waiting (a job still running after 120 s counts as hung)."""
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (make test installs openmpi-bin)")
    pytest.importorskip("mpi4py")
    script = tmp_path / "failing_rank.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(HERE.parents[1] / "bindings" / "python")!r})
import numpy as np
from mpi4py import MPI
import superconv as sc
comm = MPI.COMM_WORLD
y = np.arange(32) % 3
x = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
loader = sc.Loader(sc.Dataset.from_arrays(x, y), batch=8, shard=f"{{comm.rank}}/{{comm.size}}")
trainer = sc.Trainer(sc.Model(depth=8, input="1x8x8", classes=3), comm=comm)
bad = y.copy()
if comm.rank == 1:
    bad[0] = 7
trainer.fit(loader, epochs=2, eval_data=(x, bad), progress=False)
""")
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    result = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", sys.executable, str(script)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0
    assert "rank 1 of 2: InvalidArgumentError" in result.stderr and "ending the job" in result.stderr, result.stderr
