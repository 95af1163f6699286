"""A checkpoint read by h5py, as a Python user without superconv would: a dict of numpy arrays
keyed by the names a PyTorch state_dict uses, equal to what the C ABI reports, and the trainer's
counters by name. Files edited with h5py show what loading accepts: version 1 and 2, nothing else,
and no counters that no run can reach."""
import ctypes
import os
import pathlib
import shutil
import zlib

import h5py
import numpy as np
import pytest
from whole_file_checksum import reseal

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = os.environ.get("SUPERCONV_LIBRARY", str(ROOT / ".build" / "release" / "libsuperconv.so"))
FIXTURE_V1 = ROOT / "Tests" / "fixtures" / "checkpoint_v1.h5"
SC_ERR_FORMAT = 4


@pytest.fixture(scope="module")
def lib():
    lib = ctypes.CDLL(LIBRARY)
    handle = ctypes.c_void_p
    lib.sc_model_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.sc_trainer_create.argtypes = [handle, ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.sc_trainer_step.argtypes = [handle, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32),
                                    ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    lib.sc_checkpoint_save.argtypes = [handle, ctypes.c_char_p]
    lib.sc_checkpoint_load.argtypes = [handle, ctypes.c_char_p]
    lib.sc_trainer_iteration.argtypes = [handle, ctypes.POINTER(ctypes.c_int64)]
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
        assert f.attrs["format_version"].decode() == "2"
        assert f.attrs["model_spec"].decode() == lib.sc_model_spec(model).decode()
        state_dict = {name: f["model"][name][()] for name in f["model"]}
        assert len(f["optimizer"]) == 2 * sum(1 for n in state_dict if "running" not in n)  # adam: m and v
        assert f["trainer/iteration"][()] == 2
        assert f["trainer/optimizer_steps"][()] == 2
        assert f["trainer/estimator_start"][()] == 0
        assert f["trainer/dropout_rng_state"].shape == (4,) and f["trainer/dropout_rng_state"].dtype == np.int64
        assert "counters" not in f

    assert set(state_dict) == set(expected)
    assert "layer2.0.bn1.running_mean" in state_dict and "fc.weight" in state_dict
    for name, values in expected.items():
        assert state_dict[name].dtype == np.float32
        assert state_dict[name].shape == values.shape, name
        np.testing.assert_array_equal(state_dict[name], values, err_msg=name)

    lib.sc_trainer_destroy(trainer)
    lib.sc_model_destroy(model)


def fresh_trainer(lib, checkpoint):
    """A new model and trainer of the checkpoint's specs."""
    with h5py.File(checkpoint, "r") as f:
        model_spec, trainer_spec = f.attrs["model_spec"], f.attrs["trainer_spec"]
    model, trainer = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib, lib.sc_model_create(model_spec, ctypes.byref(model)))
    check(lib, lib.sc_trainer_create(model, trainer_spec, ctypes.byref(trainer)))
    return model, trainer


def iteration(lib, trainer):
    value = ctypes.c_int64()
    check(lib, lib.sc_trainer_iteration(trainer, ctypes.byref(value)))
    return value.value


def rewrite(dataset, values):
    """Replaces an int64 dataset's values and its checksum, as a deliberate edit would."""
    dataset[()] = values
    dataset.attrs["crc32"] = np.int64(zlib.crc32(np.ascontiguousarray(dataset[()], dtype=np.int64).tobytes()))


def resave_fixture(lib, path):
    """Loads the version-1 fixture into a fresh trainer and saves it at `path`."""
    model, trainer = fresh_trainer(lib, FIXTURE_V1)
    check(lib, lib.sc_checkpoint_load(trainer, str(FIXTURE_V1).encode()))
    check(lib, lib.sc_checkpoint_save(trainer, str(path).encode()))
    lib.sc_trainer_destroy(trainer)
    lib.sc_model_destroy(model)


def assert_load_fails(lib, path, needle):
    model, trainer = fresh_trainer(lib, FIXTURE_V1)
    check(lib, lib.sc_checkpoint_load(trainer, str(FIXTURE_V1).encode()))
    assert lib.sc_checkpoint_load(trainer, str(path).encode()) == SC_ERR_FORMAT
    message = lib.sc_last_error().decode()
    assert needle in message, message
    assert iteration(lib, trainer) == 5, "a failed load changed the trainer"
    lib.sc_trainer_destroy(trainer)
    lib.sc_model_destroy(model)


def test_version_1_fixture_loads_and_saves_as_version_2_with_the_same_state(lib, tmp_path):
    with h5py.File(FIXTURE_V1, "r") as f:
        assert f.attrs["format_version"].decode() == "1", "the fixture must stay a version-1 file"
        counters = f["counters"][()]
    # Made by Tests/fixtures/make_checkpoint_v1.c: 5 iterations, the estimator attached at 1.
    assert counters[0] == 5 and counters[1] == 5 and counters[6] == 1
    resaved = tmp_path / "v2.h5"
    resave_fixture(lib, resaved)

    def datasets(f):
        names = []
        f.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        return set(names)

    # A loaded loader position waits in the trainer for a loader and is saved again only once one
    # has taken it; Tests/c/test_checkpoint.c's transcript shows the fixture's position is used.
    loader_parts = {"loader_position", "normalization/mean", "normalization/inverse_std"}
    with h5py.File(FIXTURE_V1, "r") as old, h5py.File(resaved, "r") as new:
        assert new.attrs["format_version"].decode() == "2"
        unchanged = set(old.attrs) - {"format_version", "loader_spec", "trainer_spec"}
        assert {k: old.attrs[k] for k in unchanged} == {k: new.attrs[k] for k in unchanged}
        # The normalised trainer spec lists the keys added since, at their defaults.
        assert new.attrs["trainer_spec"].decode() == old.attrs["trainer_spec"].decode() + " precise_bn=0"
        state = datasets(old) - {"counters"} - loader_parts
        assert state == datasets(new) - {name for name in datasets(new) if name.startswith("trainer/")}
        assert {"estimator/latest", "optimizer/0", "model/fc.weight", "model_state/bn_weight"} <= state
        for name in state:
            assert old[name][()].tobytes() == new[name][()].tobytes(), name
        assert new["trainer/iteration"][()] == counters[0]
        assert new["trainer/optimizer_steps"][()] == counters[1]
        assert list(new["trainer/dropout_rng_state"][()]) == list(counters[2:6])
        assert new["trainer/estimator_start"][()] == counters[6]


def test_an_unknown_format_version_is_rejected_naming_it_and_the_readable_ones(lib, tmp_path):
    path = tmp_path / "v3.h5"
    shutil.copy(FIXTURE_V1, path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = np.bytes_(b"3")
    assert_load_fails(lib, path, "format version '3' is not supported; this library reads versions 1 and 2")


@pytest.mark.parametrize("counter, value", [("iteration", -1), ("optimizer_steps", -1), ("estimator_start", -1),
                                            ("estimator_start", 6)])
def test_impossible_counters_are_rejected_in_version_2(lib, tmp_path, counter, value):
    path = tmp_path / "v2.h5"
    resave_fixture(lib, path)
    with h5py.File(path, "r+") as f:
        rewrite(f["trainer/" + counter], value)
    reseal(path)
    assert_load_fails(lib, path, "the counters in group 'trainer' are impossible")


@pytest.mark.parametrize("position, value", [(0, -1), (1, -1), (6, -1), (6, 6)])
def test_impossible_counters_are_rejected_in_version_1(lib, tmp_path, position, value):
    path = tmp_path / "v1.h5"
    shutil.copy(FIXTURE_V1, path)
    with h5py.File(path, "r+") as f:
        counters = f["counters"][()]
        counters[position] = value
        rewrite(f["counters"], counters)
    assert_load_fails(lib, path, "the counters in dataset 'counters' are impossible")


def test_an_edit_that_keeps_every_dataset_checksum_is_refused_by_the_whole_file_checksum(lib, tmp_path):
    """Attributes such as schedule_spec carry no checksum of their own: the whole-file one holds them."""
    path = tmp_path / "edited.h5"
    resave_fixture(lib, path)
    with h5py.File(path, "r+") as f:
        f.attrs["schedule_spec"] = np.bytes_(b"policy=one_cycle max_lr=9")
    assert_load_fails(lib, path, "fails its whole-file checksum")


def replace(f, name, values, **options):
    """Replaces a dataset (with a valid checksum of the values given), as a deliberate edit would."""
    del f[name]
    f.create_dataset(name, data=values, **options)
    f[name].attrs["crc32"] = np.int64(zlib.crc32(np.ascontiguousarray(values).tobytes()))


def edited_fixture(lib, tmp_path, edit):
    """The fixture saved as version 2, edited with h5py, its whole-file checksum made valid again."""
    path = tmp_path / "edited.h5"
    resave_fixture(lib, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    reseal(path)
    return path


def test_an_iteration_beyond_int32_is_impossible(lib, tmp_path):
    path = edited_fixture(lib, tmp_path, lambda f: rewrite(f["trainer/iteration"], 2**63 - 1))
    assert_load_fails(lib, path, "the counters in group 'trainer' are impossible")


def nonfinite_weight(f):
    values = f["model/fc.weight"][()]
    values[1, 2] = np.nan
    replace(f, "model/fc.weight", values)


def negative_variance(f):
    values = f["model/bn1.running_var"][()]
    values[0] = -1
    replace(f, "model/bn1.running_var", values)


def nonfinite_optimizer_state(f):
    values = f["optimizer/0"][()]
    values[3] = np.inf
    replace(f, "optimizer/0", values)


@pytest.mark.parametrize("edit, needle", [
    (nonfinite_weight, "dataset 'model/fc.weight' holds nan at 66; values must be finite"),
    (negative_variance, "dataset 'model/bn1.running_var' holds the negative variance -1.0 at 0"),
    (nonfinite_optimizer_state, "dataset 'optimizer/0' holds inf at 3; values must be finite"),
])
def test_values_are_checked_as_the_setters_check_them(lib, tmp_path, edit, needle):
    assert_load_fails(lib, edited_fixture(lib, tmp_path, edit), needle)


def test_estimator_snapshots_of_another_length_are_refused(lib, tmp_path):
    """Loaded, they made every later step fail after it had updated the weights."""
    def shorten(f):
        for name in ("estimator/previous", "estimator/latest"):
            replace(f, name, f[name][()][:-1])
    assert_load_fails(lib, edited_fixture(lib, tmp_path, shorten), "dataset 'estimator/latest' has shape")


def test_a_declared_size_beyond_the_file_is_refused_before_anything_is_allocated(lib, tmp_path):
    """2^40 floats in a chunked dataset that stores none: the size is not trusted."""
    def enlarge(f):
        for name in ("estimator/previous", "estimator/latest"):
            del f[name]
            f.create_dataset(name, shape=(2**40,), maxshape=(None,), chunks=(1024,), dtype=np.float32)
            f[name].attrs["crc32"] = np.int64(0)
    assert_load_fails(lib, edited_fixture(lib, tmp_path, enlarge), "declares [1099511627776] values, more than the")


def test_values_from_other_files_are_refused(lib, tmp_path):
    """External links and external storage would let a checkpoint read any file of the system."""
    other = tmp_path / "other.h5"
    with h5py.File(FIXTURE_V1, "r") as f:
        count = f["model/fc.bias"].shape[0]
    with h5py.File(other, "w") as f:
        f["fc.bias"] = np.zeros(count, dtype=np.float32)
        f["fc.bias"].attrs["crc32"] = np.int64(zlib.crc32(bytes(4 * count)))

    def link(f):
        size = f["model/fc.bias"].shape
        del f["model/fc.bias"]
        f["model/fc.bias"] = h5py.ExternalLink(str(other), "/fc.bias")
        assert f["model/fc.bias"].shape == size
    assert_load_fails(lib, edited_fixture(lib, tmp_path, link), "links to another file")

    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 4)

    def external(f):
        count = f["model/fc.bias"].shape[0]
        del f["model/fc.bias"]
        f.create_dataset("model/fc.bias", shape=(count,), dtype=np.float32, external=[(str(secret), 0, 4 * count)])
        f["model/fc.bias"].attrs["crc32"] = np.int64(zlib.crc32(secret.read_bytes()[: 4 * count]))
    assert_load_fails(lib, edited_fixture(lib, tmp_path, external), "keeps dataset values in other files")
