"""Example scripts run at reduced size and show the paper's qualitative behaviour."""

import csv
import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fig2cd_reduced(tmp_path):
    rows = load("fig2cd_trace_distance").main(["--L", "3", "--nT", "2", "--Tmin", "2.2", "--Tmax", "5",
                                               "--out", str(tmp_path)])
    assert (tmp_path / "fig2cd_trace_distance.csv").exists()
    with open(tmp_path / "fig2cd_trace_distance.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    for r in rows:  # Fig. 2(c,d) at T >= 2.2h: local Redfield N=4 < local Lindblad < standard
        assert r["local_redfield_N4"] < r["local_lindblad_N4"] < r["standard_local_lindblad"]
