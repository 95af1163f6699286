"""The reproduction experiments in --quick mode (a smoke test: they run, write their run files,
and the report turns those into REPRODUCTION.md with a table, a figure and a finding per
experiment)."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXPERIMENTS = ("e1_range_test", "e2_superconvergence", "e3_cycle_length", "e4_limited_data", "e5_bn_fraction",
               "e6_estimated_lr", "e7_optimizers", "e8_verdict", "e9_time_to_accuracy")


def run(script, *args):
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def summaries(folder):
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_quick_experiments_and_the_report(tmp_path):
    runs = tmp_path / "runs"
    for experiment in EXPERIMENTS:
        run(f"{experiment}.py", "--quick", "--out", str(runs))
    rt = json.loads((runs / "e1_range_test" / "range_test.json").read_text())
    assert len(rt["points"]["lr"]) == 30 and rt["verdict"] in ("likely", "unlikely", "inconclusive", "unknown")

    e2 = summaries(runs / "e2_superconvergence")
    assert e2["piecewise-constant"]["iterations"] == 3 * e2["one-cycle"]["iterations"]  # three times the budget
    assert e2["piecewise-constant bn_maf=0.95"]["model"]["bn_maf"] == 0.95
    assert (runs / "e2_superconvergence" / "one-cycle.h5").exists()

    # Cycle lengths keep the paper's proportions (2k..20k) and its BN fractions.
    e3 = sorted(summaries(runs / "e3_cycle_length").values(), key=lambda s: s["iterations"])
    assert [s["iterations"] for s in e3] == [4, 8, 12, 16, 20, 40]
    assert [s["bn_maf"] for s in e3] == [0.8, 0.85, 0.9, 0.93, 0.95, 0.97]

    # Limited data: five set sizes, the same budgets whatever the size, the sizes as asked.
    e4 = summaries(runs / "e4_limited_data").values()
    assert sorted({s["train_samples"] for s in e4}) == [100, 200, 300, 400, 600]
    assert {s["iterations"] for s in e4 if s["schedule_name"] == "one-cycle"} == {8}
    assert all(s["batch_statistics_accuracy"] is not None for s in e4)

    assert len(summaries(runs / "e5_bn_fraction")) == 9
    e6 = summaries(runs / "e6_estimated_lr")
    assert sorted(s["inc"] for s in e6.values()) == [1, 2, 2]
    e7 = summaries(runs / "e7_optimizers")
    assert len(e7) == 20 and e7["batch=512"]["iterations"] < e7["batch=64"]["iterations"]
    e8 = json.loads((runs / "e8_verdict" / "verdicts.json").read_text())["rows"]
    gains = {row["configuration"]: [] for row in e8}
    for row in e8:
        gains[row["configuration"]].append(row["gain"])
    assert len(e8) == 8 and all(len(g) == 2 for g in gains.values())
    assert all(row["agrees"] == ((row["verdict"] == "likely") == (min(gains[row["configuration"]]) >= 2)) for row in e8)
    e9 = json.loads((runs / "e9_time_to_accuracy" / "time_to_accuracy.json").read_text())
    assert e9["epochs"] == 1 and len(e9["curve"]) == 1 and e9["command"].startswith("superconv train --depth 20")

    output = tmp_path / "REPRODUCTION.md"
    stdout = run("report.py", "--runs", str(runs), "--output", str(output))
    text = output.read_text()
    assert "wrote" in stdout
    for heading in ("## 1. LR range test", "## 2. Super-convergence", "## 3. Cycle length", "## 4. Limited training",
                    "## 5. BatchNorm", "## 6. Estimated learning rate", "## 7. Optimizers", "## 8. Does the verdict", "## 9. Time to 93%"):
        assert heading in text
    assert "Not run yet" not in text and text.count("Finding") >= 7
    for figure in ("range_test", "superconvergence", "cycle_length", "limited_data", "bn_fraction", "estimated_lr",
                   "regularisers"):
        assert (tmp_path / "docs" / "reproduction" / f"{figure}.png").stat().st_size > 1000


def test_a_diverging_run_is_recorded_and_the_experiment_goes_on(tmp_path):
    runs = tmp_path / "runs"
    run("e7_optimizers.py", "--quick", "--max-lr", "1e5", "--out", str(runs))
    e7 = summaries(runs / "e7_optimizers")
    assert len(e7) == 20
    diverged = [s for s in e7.values() if s["diverged_at"] is not None]
    assert diverged and all(s["diverged_at"] < s["iterations"] for s in diverged)
    output = tmp_path / "REPRODUCTION.md"
    run("report.py", "--runs", str(runs), "--output", str(output))
    assert "(diverged at " in output.read_text()


def test_skip_existing_keeps_recorded_runs(tmp_path):
    run("e5_bn_fraction.py", "--quick", "--out", str(tmp_path))
    before = summaries(tmp_path / "e5_bn_fraction")
    stdout = run("e5_bn_fraction.py", "--quick", "--out", str(tmp_path), "--skip-existing")
    assert stdout.count("kept from") == 9 and summaries(tmp_path / "e5_bn_fraction") == before


def test_report_lists_experiments_not_run(tmp_path):
    output = tmp_path / "REPRODUCTION.md"
    run("report.py", "--runs", str(tmp_path / "nothing"), "--output", str(output))
    assert output.read_text().count("Not run yet") == 9
