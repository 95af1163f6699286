"""Loading libsuperconv and declaring its C functions for ctypes.

The library is looked up in SUPERCONV_LIBRARY, then next to this package (where a wheel built
from the repository puts it: setup.py), then in the build folder of a source checkout (around
the package, or the working directory), then where the system finds libraries (e.g. after `make
install`); a library whose ABI version differs from ABI_VERSION is refused, naming what was
found and where.
"""
import ctypes
import ctypes.util
import os
import pathlib

ABI_VERSION = 1

_h = ctypes.c_void_p
_p_h = ctypes.POINTER(ctypes.c_void_p)
_s = ctypes.c_char_p
_i64 = ctypes.c_int64
_i32 = ctypes.c_int32
_f = ctypes.c_float
_d = ctypes.c_double
_pf = ctypes.POINTER(ctypes.c_float)
_pi32 = ctypes.POINTER(ctypes.c_int32)
_pi64 = ctypes.POINTER(ctypes.c_int64)
_pd = ctypes.POINTER(ctypes.c_double)
_ps = ctypes.POINTER(ctypes.c_char_p)

PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_float, ctypes.c_float)
ALLREDUCE = ctypes.CFUNCTYPE(ctypes.c_int, _pf, ctypes.c_int64, ctypes.c_void_p)

# name: (restype, argtypes); restype None means sc_status (int).
SIGNATURES = {
    "sc_version": (_s, []), "sc_abi_version": (ctypes.c_int, []), "sc_last_error": (_s, []),
    "sc_status_name": (_s, [ctypes.c_int]), "sc_set_num_threads": (None, [ctypes.c_int]),
    "sc_get_num_threads": (ctypes.c_int, []), "sc_blas_info": (_s, []), "sc_instruction_set": (_s, []),
    "sc_model_create": (None, [_s, _p_h]), "sc_model_destroy": ("void", [_h]), "sc_model_spec": (_s, [_h]),
    "sc_model_forward": (None, [_h, _pf, _i64, _pf, _i64]), "sc_model_param_count": (None, [_h, _pi64]),
    "sc_model_param_info": (None, [_h, _i64, _ps, _pi32, _pi64]),
    "sc_model_param_get": (None, [_h, _s, _pf, _i64]), "sc_model_param_set": (None, [_h, _s, _pf, _i64]),
    "sc_model_create_from_checkpoint": (None, [_s, _p_h]),
    "sc_model_set_profiling": (None, [_h, ctypes.c_int]), "sc_model_profile": (None, [_h, _ps]),
    "sc_trainer_create": (None, [_h, _s, _p_h]), "sc_trainer_destroy": ("void", [_h]), "sc_trainer_spec": (_s, [_h]),
    "sc_trainer_step": (None, [_h, _pf, _pi32, _i64, _pf, _pi64]),
    "sc_trainer_evaluate": (None, [_h, _pf, _pi32, _i64, _pf, _pi64]),
    "sc_trainer_compute_gradients": (None, [_h, _pf, _pi32, _i64, _pf, _pi64]),
    "sc_trainer_gradients": (None, [_h, ctypes.POINTER(_pf), _pi64]), "sc_trainer_apply_gradients": (None, [_h]),
    "sc_trainer_set_allreduce": (None, [_h, ALLREDUCE, ctypes.c_void_p, ctypes.c_int]),
    "sc_trainer_average_statistics": (None, [_h]),
    "sc_trainer_recompute_statistics": (None, [_h, _pf, _i64, _i64]),
    "sc_trainer_iteration": (None, [_h, _pi64]), "sc_trainer_interrupt": (None, [_h]), "sc_trainer_set_schedule": (None, [_h, _h]),
    "sc_trainer_set_progress": (None, [_h, PROGRESS, ctypes.c_void_p]),
    "sc_trainer_train_epoch": (None, [_h, _h, _pf, _pd]), "sc_trainer_evaluate_loader": (None, [_h, _h, _pf, _pd]),
    "sc_trainer_evaluate_dataset": (None, [_h, _h, _s, _pf, _pd]),
    "sc_trainer_range_test": (None, [_h, _pf, _pi32, _i64, _pf, _pi32, _i64, _s, _h]),
    "sc_trainer_attach_lr_estimator": (None, [_h, _s]), "sc_trainer_lr_estimate": (None, [_h, _pf, _pf]),
    "sc_trainer_record": (None, [_h, _s, _s]),
    "sc_checkpoint_save": (None, [_h, _s]), "sc_checkpoint_load": (None, [_h, _s]),
    "sc_schedule_create": (None, [_s, _p_h]), "sc_schedule_destroy": ("void", [_h]), "sc_schedule_spec": (_s, [_h]),
    "sc_schedule_at": (None, [_h, _i64, _pf, _pf]), "sc_schedule_table": (None, [_h, _i64, _i64, _pf, _pf, _i64]),
    "sc_optimizer_create": (None, [_s, _i64, _p_h]), "sc_optimizer_destroy": ("void", [_h]),
    "sc_optimizer_spec": (_s, [_h]), "sc_optimizer_step": (None, [_h, _pf, _pf, _i64, _f, _f]),
    "sc_optimizer_state_size": (None, [_h, _pi64]), "sc_optimizer_state_get": (None, [_h, _pf, _i64, _pi64]),
    "sc_optimizer_state_set": (None, [_h, _pf, _i64, _i64]),
    "sc_range_test_create": (None, [_s, _p_h]), "sc_range_test_destroy": ("void", [_h]),
    "sc_range_test_spec": (_s, [_h]), "sc_range_test_record": (None, [_h, _f, _f, _f, _f, _f]),
    "sc_range_test_count": (None, [_h, _pi64]),
    "sc_range_test_point": (None, [_h, _i64, _pf, _pf, _pf, _pf, _pf, _pf]),
    "sc_range_test_value": (None, [_h, _s, _pd]), "sc_range_test_verdict": (None, [_h, _ps, _ps]),
    "sc_lr_estimator_create": (None, [_s, _p_h]), "sc_lr_estimator_destroy": ("void", [_h]),
    "sc_lr_estimator_spec": (_s, [_h]), "sc_lr_estimator_observe": (None, [_h, _pf, _i64, _f, _pf, _pf]),
    "sc_dataset_open": (None, [_s, _p_h]), "sc_dataset_from_memory": (None, [_pf, _pi32, _i64, _s, _p_h]),
    "sc_dataset_destroy": ("void", [_h]), "sc_dataset_spec": (_s, [_h]),
    "sc_dataset_info": (None, [_h, _pi64, _pi32, _pi32, _pi32, _pi32]),
    "sc_dataset_get": (None, [_h, _i64, _i64, _pf, _i64, _pi32]),
    "sc_loader_create": (None, [_h, _s, _p_h]), "sc_loader_destroy": ("void", [_h]), "sc_loader_spec": (_s, [_h]),
    "sc_loader_info": (None, [_h, _pi64, _pi64]), "sc_loader_next": (None, [_h, _pf, _pi32, _i64, _pi64, _pi32]),
    "sc_loader_copy_normalization": (None, [_h, _h]), "sc_loader_load_normalization": (None, [_h, _s]),
}


def _candidates():
    if os.environ.get("SUPERCONV_LIBRARY"):
        yield pathlib.Path(os.environ["SUPERCONV_LIBRARY"])
    here = pathlib.Path(__file__).resolve().parent
    yield from sorted(here.glob("libsuperconv.so*"))
    for parent in list(here.parents) + [pathlib.Path.cwd()]:
        yield parent / ".build" / "release" / "libsuperconv.so"
    system = ctypes.util.find_library("superconv")
    if system:
        yield pathlib.Path(system)


def load():
    tried = []
    for path in _candidates():
        if not path.exists() and "/" in str(path):
            tried.append(str(path))
            continue
        lib = ctypes.CDLL(str(path))
        lib.sc_abi_version.restype = ctypes.c_int
        found = lib.sc_abi_version()
        if found != ABI_VERSION:
            raise ImportError(f"{path} has ABI version {found}; this superconv package needs {ABI_VERSION}")
        for name, (restype, argtypes) in SIGNATURES.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = None if restype == "void" else (ctypes.c_int if restype is None else restype)
        return lib, path
    raise ImportError("libsuperconv.so not found; install the package from the repository (pip install "
                      "./bindings/python builds it in), set SUPERCONV_LIBRARY or build it (swift build -c release). Tried: "
                      + ", ".join(tried))


LIB, LIBRARY_PATH = load()
