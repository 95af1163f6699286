"""The reproduction experiments in --quick mode (a smoke test: they run, write their run files,
and the report turns those into REPRODUCTION.md with a table and a finding per experiment)."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(script, *args):
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quick_experiments_and_the_report(tmp_path):
    runs = tmp_path / "runs"
    run("e1_range_test.py", "--quick", "--out", str(runs))
    run("e2_superconvergence.py", "--quick", "--out", str(runs))
    run("e5_bn_fraction.py", "--quick", "--out", str(runs))
    rt = json.loads((runs / "e1_range_test" / "range_test.json").read_text())
    assert len(rt["points"]["lr"]) == 30 and rt["verdict"] in ("likely", "unlikely", "inconclusive", "unknown")
    clr = json.loads((runs / "e2_superconvergence" / "one-cycle.json").read_text())
    pc = json.loads((runs / "e2_superconvergence" / "piecewise-constant.json").read_text())
    assert pc["iterations"] == 3 * clr["iterations"]  # the baseline gets three times the budget
    assert (runs / "e2_superconvergence" / "one-cycle.h5").exists()
    assert len(list((runs / "e5_bn_fraction").glob("*.json"))) == 5

    output = tmp_path / "REPRODUCTION.md"
    stdout = run("report.py", "--runs", str(runs), "--output", str(output))
    text = output.read_text()
    assert "wrote" in stdout
    for heading in ("## 1. LR range test", "## 2. Super-convergence", "## 5. BatchNorm"):
        assert heading in text
    assert "Not run yet" not in text and text.count("Finding") >= 3
    for figure in ("range_test.png", "superconvergence.png"):
        assert (tmp_path / "docs" / "reproduction" / figure).stat().st_size > 1000
