"""Installing the package with pip, and refusing a library of another ABI version."""
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import tomllib

import superconv._lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = ROOT / ".build" / "release" / "libsuperconv.so"


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


def test_pip_install_gives_an_importable_package(tmp_path, header_version):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # From a copy: pip's build leaves build/ and *.egg-info beside the sources.
    source = tmp_path / "package"
    shutil.copytree(ROOT / "bindings" / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)], check=True)
    script = textwrap.dedent("""
        import superconv
        assert "site-packages" in superconv.__file__, superconv.__file__
        with superconv.Model(depth=8, input="1x8x8") as m:
            print(superconv.version(), len(m.state_dict()))
    """)
    env = dict(os.environ, SUPERCONV_LIBRARY=str(LIBRARY))
    result = subprocess.run([str(python), "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [header_version[0], "44"]  # caffe depth 8: 6 + 3 x 12 + 2 named tensors
