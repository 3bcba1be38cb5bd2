"""``jaxredfield run config.toml`` (jaxredfield.app.runconfig): runs agree with the Python API,
bad files exit with code 2, name the field and write nothing."""

import json
import pathlib

import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.app.cli import main

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "run_config.toml"


def small_config(out, L=4):
    """The shipped example, shortened to L sites."""
    text = EXAMPLE.read_text().replace("L = 6", f"L = {L}").replace("site = 5", f"site = {L - 1}")
    text = text.replace("tmax = 20.0", "tmax = 2.0").replace("nt = 41", "nt = 5")
    return text.replace('out = "results/run_config"', f'out = "{out}"')


def test_example_config_matches_python_api(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(small_config(tmp_path / "out"))
    assert main(["run", str(cfg)]) == 0
    out = tmp_path / "out"
    for f in ("steady.csv", "dynamics.csv", "run.png", "summary.json"):
        assert (out / f).exists(), f
    assert json.loads((out / "summary.json").read_text())["equation"] == "local_redfield(N=4)"
    rows = dict(line.split(",") for line in (out / "steady.csv").read_text().splitlines()[1:])
    model = jr.xxz_chain(4, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    rho = jr.steadystate(jr.local_redfield(system, 4))
    for i in range(4):
        ref = float(np.real(jr.expect(jr.operator_on(jr.sigmaz(), i, model), rho)))
        assert abs(float(rows[f"sigmaz_{i}"]) - ref) < 1e-10
    cur = [float(rows[f"current_{i}"]) for i in range(3)]
    # continuity: in a steady state the current is the same on every bond, and T_r > T_l drives one
    assert abs(cur[0]) > 1e-2 and np.ptp(cur) < 1e-8 * abs(cur[0])
    dyn = np.loadtxt(out / "dynamics.csv", delimiter=",", skiprows=1)
    assert dyn.shape == (5, 1 + 4 + 3)
    assert np.allclose(dyn[0, 1:5], 0.0, atol=1e-12)  # |+>^L: <sigma^z_i> = 0 at t = 0


def test_bose_hubbard_reservoir_config(tmp_path):
    """Particle reservoirs with equal T and mu on a Bose-Hubbard chain: the exact Redfield
    steady state is grand canonical (SM C), so <n_i> from the file's run equals that of
    exp(-(H - mu N)/T)."""
    cfg = tmp_path / "bh.toml"
    cfg.write_text(f"""
[model]
kind = "bose_hubbard"
L = 3
J = 1.0
U = 0.5
V = [0.1, 0.0, 0.3]
nmax = 2
[[baths]]
site = 0
kind = "particle_reservoir"
gamma = 0.25
T = 2.0
mu = -1.0
[[baths]]
site = 2
kind = "particle_reservoir"
gamma = 0.25
T = 2.0
mu = -1.0
[equation]
kind = "redfield"
[run]
observables = ["number", "current"]
out = "{tmp_path / 'o'}"
""")
    assert main(["run", str(cfg)]) == 0
    rows = dict(line.split(",") for line in (tmp_path / "o" / "steady.csv").read_text().splitlines()[1:])
    model = jr.bose_hubbard_chain(3, J=1.0, U=0.5, V=[0.1, 0.0, 0.3], nmax=2)
    H = np.asarray(model.dense())
    N = sum(np.asarray(jr.operator_on(jr.number(2), i, model).dense()) for i in range(3))
    w, V = np.linalg.eigh(H + 1.0 * N)  # H - mu N
    rho = (V * np.exp(-(w - w[0]) / 2.0)) @ V.conj().T
    rho /= np.trace(rho)
    for i in range(3):
        n_i = np.trace(rho @ np.asarray(jr.operator_on(jr.number(2), i, model).dense())).real
        assert abs(float(rows[f"number_{i}"]) - n_i) < 1e-8
        assert abs(float(rows.get(f"current_{min(i, 1)}"))) < 1e-8


GOOD = small_config("OUT")


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.replace("L = 4", "L = 4\nLL = 3"), "[model].LL"),
    (lambda s: s.replace("L = 4", "L = 1"), "[model].L"),
    (lambda s: s.replace("L = 4", "L = 14"), "[model].L"),
    (lambda s: s.replace("T = 6.6", "T = -1.0"), "baths[1].T"),
    (lambda s: s.replace('kind = "ohmic"\ngamma = 0.25\nT = 6.6', 'kind = "drude"\ngamma = 0.25\nT = 6.6'),
     "baths[1].E_D"),
    (lambda s: s.replace('kind = "ohmic"\ngamma = 0.25\nT = 6.6', 'kind = "particle_reservoir"\ngamma = 0.25\nT = 6.6'),
     "baths[1].kind"),
    (lambda s: s.replace("site = 3", "site = 4"), "baths[1].site"),
    (lambda s: s.replace('kind = "local_redfield"', 'kind = "local_redfeld"'), "[equation].kind"),
    (lambda s: s.replace("order = 4", "order = 2.5"), "[equation].order"),
    (lambda s: s.replace('"sigmaz", "current"', '"sigmaz", "number"'), "[run].observables"),
    (lambda s: s.replace('initial = "plus"', 'initial = "vacuum"'), "[run].initial"),
    (lambda s: s.replace("tmax = 2.0", "tmax = -2.0"), "[run].tmax"),
    (lambda s: s.replace("[equation]", "[equaton]"), "config.equaton"),
    (lambda s: s.replace("gamma = 0.25\nT = 2.2", "gamma = 0.25\nT = 2.2\nlam = 1.0"), "baths[0].lam"),
    (lambda s: s.replace("[model]", "[model"), "config"),
])
def test_bad_config_names_field_exits_2_writes_nothing(tmp_path, capsys, edit, field):
    out = tmp_path / "out"
    cfg = tmp_path / "bad.toml"
    text = edit(GOOD.replace("OUT", str(out)))
    assert text != GOOD.replace("OUT", str(out)), "the edit must change the file"
    cfg.write_text(text)
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{field}" in err and "invalid config" in err, err
    assert not out.exists()


def test_missing_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_help_lists_run(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "run" in capsys.readouterr().out
