"""Run by test_distributed.py under mpirun -np 2: Trainer.fit data-parallel over mpi4py's
COMM_WORLD; rank 0 then replays the same steps in one process through the open step (both
shards' gradients averaged, applied once) and prints how far the weights are apart."""
import pathlib
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "bindings" / "python"))
import superconv as sc  # noqa: E402

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
folder = pathlib.Path(sys.argv[1])
sc.set_num_threads(1)
rng = np.random.default_rng(3)
y = np.arange(96) % 3
x = rng.standard_normal((96, 1, 8, 8)).astype(np.float32) + y[:, None, None, None] * 0.5
dataset = sc.Dataset.from_arrays(x, y)
MODEL = dict(depth=8, variant="caffe", input="1x8x8", classes=3, seed=5)


def loader(shard):
    return sc.Loader(dataset, batch=8, seed=2, augment="flip", shard=shard)


model = sc.Model(**MODEL)
trainer = sc.Trainer(model, lr=0.05, weight_decay=5e-4, comm=comm)
trainer.record(folder / f"run-{rank}.h5")
trainer.fit(loader(f"{rank}/{size}"), epochs=2, eval_data=(x[:30], y[:30]), checkpoint=folder / f"checkpoint-{rank}.h5")
trainer.record(None)
weights = np.concatenate([v.ravel() for k, v in model.state_dict().items() if "running_" not in k])
everyone = comm.allgather(weights)
if rank == 0:
    print("ranks bit-identical:", all(np.array_equal(everyone[0], w) for w in everyone))
    reference = sc.Model(**MODEL)
    alone = sc.Trainer(reference, lr=0.05, weight_decay=5e-4)
    shards = [loader(f"{r}/{size}") for r in range(size)]
    for _ in range(2):
        for batches in zip(*shards):
            total = None
            for bx, by in batches:
                alone.compute_gradients(bx, by)
                total = alone.gradients().copy() if total is None else total + alone.gradients()
            alone.gradients()[:] = total / size
            alone.apply_gradients()
    expected = np.concatenate([v.ravel() for k, v in reference.state_dict().items() if "running_" not in k])
    print("relative to one process:", np.linalg.norm(weights - expected) / np.linalg.norm(expected))
