"""Fig. S.17 script at L = 3 (T_r = 3 T_l, T_l = 2.2h): panels (a), (c), (d)."""

import csv

import numpy as np

from .test_examples import load


def test_figS17_reduced(tmp_path):
    """With T_r = 3 T_l the exact Redfield steady state carries a current j_2; local Redfield
    N = 4 reproduces it and the magnetization profile, the standard local Lindblad equation
    does not; the steady-state ordering of Fig. 2(d) holds, and the local Redfield error is
    lower than at equilibrium at the same T_l (SM J). Measured at L = 3: j_2(t = 30/h) exact
    -0.16456, local Redfield N=4 -0.16495 (0.24 % off), local Lindblad N=4 -0.16679, standard
    -0.24614 (50 % off); max |<sigma^z_i> - exact| 6.7e-4 (local Redfield) vs 6.1e-2
    (standard); (a) 1.1e-3 < 2.8e-2 < 0.41 (local Redfield N=4 < local Lindblad N=4 <
    standard), at T_r = T_l 3.1e-3 (N=4) and 0.13 (N=1) instead of 1.1e-3 and 5.5e-2."""
    res = load("figS17_nonequilibrium").main(
        ["--L", "3", "--panels", "acd", "--nT", "1", "--Tmin", "2.2", "--Tmax", "2.2",
         "--tmax", "30", "--nt", "7", "--out", str(tmp_path)])
    assert (tmp_path / "figS17_nonequilibrium.png").exists()
    with open(tmp_path / "figS17_nonequilibrium.csv") as f:
        panels = [r["panel"] for r in csv.DictReader(f)]
    assert panels.count("a") == 5 and panels.count("c") == 4 * 3 and panels.count("d") == 4 * 7
    ts, out = res["cd"]
    ex_mag, ex_cur = out["exact Redfield"]
    lr_mag, lr_cur = out["local Redfield N=4"]
    sll_mag, sll_cur = out["standard local Lindblad"]
    assert abs(ex_cur[-1] - ex_cur[-2]) < 1e-6  # steady by t = 25/h
    assert abs(ex_cur[-1]) > 0.1  # a nonequilibrium current (equal T: < 1e-12)
    assert abs(lr_cur[-1] - ex_cur[-1]) < 0.01 * abs(ex_cur[-1])
    assert abs(sll_cur[-1] - ex_cur[-1]) > 0.3 * abs(ex_cur[-1])
    assert np.max(np.abs(lr_mag - ex_mag)) < 0.1 * np.max(np.abs(sll_mag - ex_mag))
    (a,) = res["a"]
    assert a["local_redfield_N4"] < a["local_lindblad_N4"] < a["standard_local_lindblad"]
    eq = load("fig2cd_trace_distance").distances(3, 1.0, 2.2)  # T_r = T_l
    assert a["local_redfield_N4"] < eq["local_redfield_N4"] and a["local_redfield_N1"] < eq["local_redfield_N1"]
