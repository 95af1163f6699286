"""The `superconv` command: every subcommand on a tiny HDF5 data set, its exit codes and one-line
messages on bad flags and bad files, Ctrl-C saving a checkpoint that resumes bit-identically."""
import os
import pathlib
import signal
import subprocess

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("SUPERCONV_CLI", str(ROOT / ".build" / "release" / "superconv"))
TINY = ["--depth", "8", "--batch", "16", "--quiet"]


def run(*args, cwd=None):
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two HDF5 files of 1x8x8 images in 3 classes: 96 for training, 48 for testing."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    specs = []
    for name, n in (("train", 96), ("test", 48)):
        labels = np.arange(n) % 3
        images = rng.random((n, 1, 8, 8), dtype=np.float32) * 0.5 + labels[:, None, None, None] * 0.25
        with h5py.File(folder / f"{name}.h5", "w") as f:
            f["images"], f["labels"] = images, labels.astype(np.int32)
        specs += [f"--{name}-data", f"format=hdf5 path={folder / name}.h5"]
    return specs


def error_line(result):
    """The one line of a failure's message."""
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_info_names_the_library_threads_and_blas(header_version):
    result = run("info", "--threads", "1")
    assert result.returncode == 0
    version, abi = header_version
    assert f"superconv {version} (ABI {abi})" in result.stdout
    assert "threads   1" in result.stdout and "OpenBLAS" in result.stdout


def test_help_documents_the_spec_keys_as_flags():
    text = run("train", "--help").stdout
    for flag in ("--depth", "--variant", "--bn-maf", "--bn-stats", "--bn-eval", "--dropout", "--optimizer", "--form",
                 "--weight-decay", "--clip", "--policy", "--base-lr", "--max-lr", "--momentum", "--stepsize",
                 "--pct-start", "--annihilation", "--warmup", "--batch", "--augment", "--normalize", "--subset",
                 "--holdout", "--estimator-inc", "--estimator-norm", "--resume", "--out", "--threads", "--precise-bn"):
        assert flag in text, flag
    text = run("range-test", "--help").stdout
    for flag in ("--sweep", "--min-lr", "--max-lr", "--iterations", "--eval-every", "--stop", "--min-div",
                 "--plateau-tol", "--window-div", "--min-width", "--precise-bn"):
        assert flag in text, flag

def test_flag_help_is_the_schemas_description_and_default():
    text = " ".join(run("train", "--help").stdout.split())
    assert ("--bn-maf <bn-maf> BatchNorm moving-average fraction in (0, 1]; the paper uses 0.95 for short runs "
            "(Caffe's default is 0.999; PyTorch's momentum 0.1 is bn_maf=0.9) (default 0.95).") in text
    assert "--base-lr <base-lr> base (lowest) learning rate; the start of a ramp (default 0.1; multistep 0.35; " \
           "linear_ramp 0; exp_ramp 1e-05)." in text
    # The command's own default replaces the library's where the README says so.
    assert "without scaling (computed on the loader's samples). (default: pixel)" in text


def test_train_evaluate_and_the_run_folder(data, tmp_path):
    result = run("train", *data, *TINY, "--epochs", "2", "--max-lr", "0.3", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "final test accuracy" in result.stdout
    with h5py.File(tmp_path / "run" / "run.h5", "r") as f:
        assert list(f["iterations/iteration"][()]) == list(range(1, 13))  # 2 epochs of 6 batches
        assert f.attrs["schedule_spec"].decode().startswith("policy=onecycle ")
        assert "max_iter=12" in f.attrs["schedule_spec"].decode()  # derived from the budget
        final = float(f["evaluations/accuracy"][-1])
    evaluated = run("evaluate", str(tmp_path / "run" / "checkpoint.h5"), *data)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"accuracy {100 * final:.4g}%" in evaluated.stdout


def test_range_test_and_estimate_lr(data, tmp_path):
    result = run("range-test", *data, *TINY, "--iterations", "20", "--eval-every", "5", "--eval-samples", "48",
                 "--max-lr", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "super-convergence" in result.stdout and "paper's bounds" in result.stdout
    rows = (tmp_path / "range_test.csv").read_text().splitlines()
    assert rows[0].startswith("lr,train_loss") and 2 <= len(rows) - 1 <= 20
    assert float(rows[-1].split(",")[0]) > float(rows[1].split(",")[0])  # the sweep rises
    result = run("estimate-lr", *data, *TINY, "--iterations", "12", "--out", str(tmp_path / "est"))
    assert result.returncode == 0, result.stderr
    estimate = float(result.stdout.split("iterations: ")[1].split()[0])
    assert np.isfinite(estimate) and estimate > 0
    with h5py.File(tmp_path / "est" / "run.h5", "r") as f:
        assert np.isfinite(f["iterations/lr_estimate"][-1])


@pytest.mark.parametrize("args, code, words", [
    (["train", "--epochs", "x"], 64, "'--epochs <epochs>'"),
    (["train", "--no-such-flag"], 64, "Unknown option '--no-such-flag'"),
    (["train", "--epochs", "0"], 64, "--epochs must be at least 1"),
    (["train", "--variant", "resnext"], 64, "variant=resnext is invalid"),
    (["train", "--policy", "onecycle_cosine", "--stepsize", "3"], 64, "unknown key 'stepsize'"),
    (["train", "--dataset", "imagenet"], 64, "--dataset imagenet is not one of"),
    (["train", "--dataset", "cifar10"], 64, "needs --data-dir"),
    (["train", "--data-dir", "/nonexistent"], 74, "cannot open /nonexistent/train-images-idx3-ubyte.gz"),
    (["evaluate", "/nonexistent.h5"], 74, "cannot open /nonexistent.h5"),
    (["range-test", "--iterations", "1"], 64, "--iterations must be at least 2"),
])
def test_bad_flags_exit_with_their_class_and_one_line(args, code, words):
    result = run(*args)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert words in error_line(result)


def test_bad_files(data, tmp_path):
    (tmp_path / "garbage.h5").write_bytes(b"not an HDF5 file at all" * 10)
    result = run("evaluate", str(tmp_path / "garbage.h5"), *data)
    assert result.returncode == 65 and "not an HDF5 file" in error_line(result)
    labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
    result = run("train", "--train-data", f"format=idx images={labels} labels={labels}", *TINY)
    assert result.returncode == 65 and "magic number is 0x00000801" in error_line(result)
    result = run("train", *data, *TINY, "--resume", str(tmp_path / "garbage.h5"), "--out", str(tmp_path / "r"))
    assert result.returncode == 65 and "not an HDF5 file" in error_line(result)
    result = run("train", *data, *TINY, "--out", "/proc/no/such/folder")
    assert result.returncode == 73 and "cannot create the folder" in error_line(result)
    # A file where the folder should be: the folder cannot be made (73), not a failed write (74).
    result = run("train", *data, *TINY, "--out", str(tmp_path / "garbage.h5"))
    assert result.returncode == 73 and "something else of that name exists" in error_line(result)
    # A damaged HDF5 data set is a content error (65), not an I/O one (74).
    result = run("train", "--train-data", f"format=hdf5 path={tmp_path / 'garbage.h5'}", *TINY)
    assert result.returncode == 65 and "not an HDF5 file" in error_line(result)


def test_no_subcommand_is_a_usage_error():
    result = run()
    assert result.returncode == 64 and "SUBCOMMANDS" in result.stderr.upper()


def test_an_iteration_count_beyond_int32_is_refused(data):
    result = run("train", *data, *TINY, "--epochs", str(2**63 - 1))
    assert result.returncode == 64 and "more than 2147483647 iterations" in error_line(result)


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_identically(data, tmp_path):
    common = [*data, "--depth", "8", "--batch", "16", "--epochs", "4", "--max-lr", "0.3"]
    straight = run("train", *common, "--quiet", "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    folder = str(tmp_path / "stopped")
    process = subprocess.Popen([CLI, "train", *common, "--log-every", "1", "--out", folder],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # progress lines go to stderr when it is not a terminal
        if " it 9 " in line:
            process.send_signal(signal.SIGINT)
            break
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 130, stderr
    assert "checkpoint saved to" in stderr and "resume with: superconv train" in stderr
    stopped_at = int(stderr.split("interrupted at iteration ")[1].split(";")[0])
    assert 9 <= stopped_at < 24

    resumed = run("train", *common, "--quiet", "--out", folder, "--resume", folder + "/checkpoint.h5")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at iteration {stopped_at}" in resumed.stderr
    with h5py.File(tmp_path / "straight" / "run.h5", "r") as a, h5py.File(folder + "/run.h5", "r") as b:
        for column in ("iteration", "lr", "loss", "accuracy"):
            np.testing.assert_array_equal(a["iterations/" + column][()], b["iterations/" + column][()])
        np.testing.assert_array_equal(a["evaluations/accuracy"][-1], b["evaluations/accuracy"][-1])


def test_distributed_training_under_mpirun(data, tmp_path):
    """mpirun -np 2 superconv train --distributed: one run, reported and written by rank 0 alone,
    with the shards' batches (96 samples / 2 ranks / 16 = 3 per epoch); a rank's failure ends the
    job with the failure's exit code and the rank's message. Neither the command nor the library
    links MPI (it is loaded only for --distributed), so both run where none is installed."""
    library = ROOT / ".build" / "release" / "libsuperconv.so"
    for binary in (CLI, library):
        assert "libmpi" not in subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    if subprocess.run(["which", "mpirun"], capture_output=True).returncode != 0:
        pytest.skip("mpirun is not installed (make test installs openmpi-bin)")
    mpirun = ["mpirun", "--oversubscribe", "-np", "2", CLI]
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    result = subprocess.run([*mpirun, "train", "--distributed", *data, *TINY, "--threads", "1", "--epochs", "2",
                             "--max-lr", "0.3", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("final test accuracy") == 1, result.stdout
    assert result.stderr.count("on each of 2 MPI ranks") == 1 and result.stderr.count("epoch 2/2 iteration 6:") == 1, \
        result.stderr
    with h5py.File(tmp_path / "run" / "run.h5", "r") as f:
        assert list(f["iterations/iteration"][()]) == list(range(1, 7))
    failed = subprocess.run([*mpirun, "train", "--distributed", *data, *TINY, "--out", str(tmp_path / "failed"),
                             "--resume", str(tmp_path / "missing.h5")], capture_output=True, text=True, env=env,
                            timeout=600)
    assert failed.returncode == 74, failed.stdout + failed.stderr
    assert "of 2: Error: sc_checkpoint_load: cannot open" in failed.stderr, failed.stderr
