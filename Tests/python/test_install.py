"""Installing the package with pip (a wheel that carries the library), and refusing a library of
another ABI version."""
import os
import pathlib
import subprocess
import sys
import textwrap
import tomllib
import zipfile

import superconv._lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_library_of_another_abi_is_refused(tmp_path, header_version):
    source = tmp_path / "fake.c"
    source.write_text("int sc_abi_version(void) { return 99; }\n")
    fake = tmp_path / "libfake.so"
    subprocess.run(["cc", "-shared", "-fPIC", str(source), "-o", str(fake)], check=True)
    env = dict(os.environ, SUPERCONV_LIBRARY=str(fake), PYTHONPATH=str(ROOT / "bindings" / "python"))
    result = subprocess.run([sys.executable, "-c", "import superconv"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"has ABI version 99; this superconv package needs {header_version[1]}" in result.stderr
    assert str(fake) in result.stderr


def test_the_package_carries_the_headers_version(header_version):
    project = tomllib.loads((ROOT / "bindings" / "python" / "pyproject.toml").read_text())["project"]
    assert (project["version"], superconv._lib.ABI_VERSION) == header_version


def test_the_wheel_carries_the_library_into_a_fresh_environment(tmp_path, header_version):
    # Built from the repository, as users build it: the build step runs swift build (up to date
    # after `make build`, so it only checks) and puts the library inside the package.
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT / "bindings" / "python")], check=True)
    wheel, = wheels.glob("*.whl")
    assert wheel.name == f"superconv-{header_version[0]}-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert "superconv/libsuperconv.so" in archive.namelist()
    # A virtual environment of its own (numpy from PyPI), used from a folder with no repository
    # on the path and no SUPERCONV_LIBRARY.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import superconv
        assert not any("bindings" in entry for entry in sys.path), sys.path
        with superconv.Model(depth=8, input="1x8x8", classes=4) as m, superconv.Trainer(m, lr=0.1) as t:
            x = np.random.default_rng(1).standard_normal((8, 1, 8, 8), dtype=np.float32)
            loss, correct = t.step(x, np.arange(8) % 4)
            print(superconv.LIBRARY_PATH, superconv.version(), t.iteration, loss, "torch" in sys.modules)
    """)
    env = {name: value for name, value in os.environ.items() if name not in ("SUPERCONV_LIBRARY", "PYTHONPATH")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run([str(python), "-c", script], env=env, capture_output=True, text=True, cwd=work)
    assert result.returncode == 0, result.stderr
    library, version, iteration, loss, imported_torch = result.stdout.split()
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    assert library == f"{site_packages}/superconv/libsuperconv.so"
    assert (version, iteration, imported_torch) == (header_version[0], "1", "False")
    assert 0 < float(loss) < 10
