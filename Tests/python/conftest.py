import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The tests use the package from the source tree and the library from the build folder.
sys.path.insert(0, str(ROOT / "bindings" / "python"))


@pytest.fixture(scope="session")
def header_version():
    """The version as include/superconv.h, its one source, writes it: ("0.1.0", 1)."""
    text = (ROOT / "include" / "superconv.h").read_text()
    define = {name: int(value) for name, value in re.findall(r"^#define SC_(\w+) (\d+)$", text, re.MULTILINE)}
    return f"{define['VERSION_MAJOR']}.{define['VERSION_MINOR']}.{define['VERSION_PATCH']}", define["ABI_VERSION"]
