"""Writes the seed corpora of the fuzz harnesses (Tests/fuzz/corpus/<harness>/): small valid
inputs of each reader, made with the library itself (checkpoints, run files), h5py (HDF5 data
sets) and by hand (IDX, CIFAR, specs). Run from the repository root after `make build`:
python3 Tests/fuzz/make_seeds.py"""
import gzip
import os
import pathlib
import struct
import sys
import zlib

import h5py
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import superconv as sc  # noqa: E402

CORPUS = ROOT / "Tests" / "fuzz" / "corpus"


def seed(harness, name, data):
    folder = CORPUS / harness
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def trainer(optimizer):
    model = sc.Model(depth=8, variant="he-a", input="1x8x8", classes=3, seed=1)
    t = sc.Trainer(model, optimizer=optimizer, momentum=0) if optimizer == "sgd" else sc.Trainer(model, optimizer=optimizer)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    t.step(x, np.array([0, 1, 2, 0]))
    return t, x


def main(scratch=pathlib.Path("/tmp/superconv-seeds")):
    scratch.mkdir(exist_ok=True)
    t, x = trainer("sgd")
    sc.save_checkpoint(t, scratch / "sgd.h5")
    seed("checkpoint", "sgd.h5", (scratch / "sgd.h5").read_bytes())
    t.record(scratch / "run.h5")
    t.step(x, np.array([0, 1, 2, 0]))
    t.evaluate(x, np.array([0, 1, 2, 0]))
    t.record(None)
    seed("run_record", "run.h5", (scratch / "run.h5").read_bytes())

    # What sc_loader_load_normalization reads of a checkpoint, and no more (a whole one is 600 KB).
    with h5py.File(scratch / "normalized.h5", "w", userblock_size=512) as f:
        for key, value in {"format": "superconv-checkpoint", "format_version": "2",
                           "loader_spec": "batch=2 normalize=channel"}.items():
            f.attrs[key] = np.bytes_(value.encode())
        for name, values in {"mean": [0.5], "inverse_std": [2.0]}.items():
            values = np.array(values, dtype=np.float32)
            f["normalization/" + name] = values
            f["normalization/" + name].attrs["crc32"] = np.int64(zlib.crc32(values.tobytes()))
    data = bytearray((scratch / "normalized.h5").read_bytes())
    line = f"superconv-crc32 {zlib.crc32(bytes(data[512:])):08x} {len(data) - 512}\n".encode()
    data[:512] = line + bytes(512 - len(line))
    seed("normalization", "normalized.h5", bytes(data))

    images = struct.pack(">IIII", 0x803, 2, 3, 3) + bytes(range(18))
    labels = struct.pack(">II", 0x801, 2) + bytes([0, 1])
    for name, (a, b) in {"plain": (images, labels), "gzip": (gzip.compress(images), gzip.compress(labels))}.items():
        seed("idx", name, bytes([round(255 * len(a) / (len(a) + len(b)))]) + a + b)

    record = bytes([3]) + bytes(3072)
    seed("cifar", "cifar10", bytes([0]) + record * 2)
    seed("cifar", "cifar100", bytes([3]) + (bytes([4, 40]) + bytes(3072)) * 2)

    for layout, shape in (("nchw", (2, 1, 4, 4)), ("nhwc", (2, 4, 4, 1))):
        with h5py.File(scratch / "data.h5", "w") as f:
            f["images"] = np.arange(32, dtype=np.uint8).reshape(shape)
            f["labels"] = np.array([0, 1], dtype=np.int32)
        seed("hdf5_dataset", layout, (scratch / "data.h5").read_bytes())
    with h5py.File(scratch / "data.h5", "w") as f:
        f.create_dataset("images", data=np.ones((2, 1, 4, 4), np.float32), chunks=(1, 1, 4, 4), compression="gzip")
        f["labels"] = np.array([1, 0], dtype=np.int64)
    seed("hdf5_dataset", "float-gzip", (scratch / "data.h5").read_bytes())

    for i, spec in enumerate(["optimizer=adam lr=0.1 weight_decay=1e-4", "policy=onecycle base_lr=0.1 max_lr=3 stepsize=10",
                              "batch=2 shuffle=1 normalize=channel augment=crop2,flip", "alpha=0.1 norm=l2 inc=5",
                              "optimizer=nesterov form=caffe", "diverge=4 beta=0.98", "classes=4 seed=3 dropout=0.5"]):
        seed("spec", f"spec{i}", bytes([i]) + spec.encode())


if __name__ == "__main__":
    main()
