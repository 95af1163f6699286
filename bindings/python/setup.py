"""The wheel carries libsuperconv.so: building the package runs `swift build -c release` in the
superconv repository (two folders up, or SUPERCONV_SOURCE) and copies the library into the
package, where superconv._lib looks for it before the build folder and the system. SwiftPM
builds incrementally in the repository's own .build folder, so a wheel built after `make build`
only relinks what changed. The wheel is tagged py3-none-<platform>: the library is loaded
through ctypes, so it fits any Python 3 on the platform it was built for."""
import atexit
import os
import pathlib
import shutil
import subprocess
import tempfile

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py


def repository():
    given = os.environ.get("SUPERCONV_SOURCE")
    root = pathlib.Path(given) if given else pathlib.Path(__file__).resolve().parents[2]
    if not (root / "Package.swift").is_file():
        raise SystemExit(f"superconv: no Package.swift in {root}; building the wheel needs the superconv repository "
                         "(bindings/python inside it, or SUPERCONV_SOURCE=its folder)")
    return root


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        root = repository()
        swift = os.environ.get("SWIFT", "swift")
        print(f"superconv: {swift} build -c release in {root}", flush=True)
        subprocess.run([swift, "build", "-c", "release"], cwd=root, check=True)
        library = root / ".build" / "release" / "libsuperconv.so"
        target = pathlib.Path(self.build_lib) / "superconv" / "libsuperconv.so"
        shutil.copyfile(library, target)
        os.chmod(target, 0o755)


class WithLibrary(Distribution):
    """A distribution with a native library: installed and packed as platform files."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        return "py3", "none", super().get_tag()[2]


# A fresh build folder every time: setuptools would pack whatever an earlier build left in build/.
build_base = tempfile.mkdtemp(prefix="superconv-build-")
atexit.register(shutil.rmtree, build_base, True)
setup(distclass=WithLibrary, cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel},
      options={"build": {"build_base": build_base}})
