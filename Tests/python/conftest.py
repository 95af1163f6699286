import pathlib
import sys

# The tests use the package from the source tree and the library from the build folder.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bindings" / "python"))
