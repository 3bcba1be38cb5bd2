"""Fig. S.4 script at L = 3 (Bose-Hubbard chain, n_i <= 2, particle reservoirs), T = 2J."""

import csv

import numpy as np

from .test_examples import load


def test_figS4_reduced(tmp_path):
    """Local Redfield N = 4 is much closer to exact Redfield than N = 1, in the steady state and
    along the relaxation from the empty chain; the exact steady state is grand-canonical.
    Measured at L = 3, T = 2J: steady trace distance N=1 5.5e-2, N=4 1.2e-3; populations
    sum_k |p_k - p_k^exact| (max over t <= 10/J / steady) N=1 5.2e-2 / 5.5e-2,
    N=4 9.5e-4 / 1.0e-3; exact vs grand-canonical 6e-16. (~35 s CPU: three equations to
    compile, for the steady state and for mesolve.)"""
    L, d = 3, 3
    dist, (ts, E, pops) = load("figS4_bose_hubbard").main(
        ["--L", str(L), "--nT", "1", "--Tmin", "2", "--Tmax", "2", "--tmax", "10", "--nt", "6",
         "--out", str(tmp_path)])
    assert (tmp_path / "figS4_bose_hubbard.png").exists()
    with open(tmp_path / "figS4_bose_hubbard.csv") as f:
        rows = list(csv.DictReader(f))
    assert len([r for r in rows if r["panel"] == "a"]) == 3
    assert len([r for r in rows if r["panel"] == "b-e"]) == 3 * (6 + 1) * d**L
    (r,) = dist
    assert r["exact_vs_grand_canonical"] < 1e-12
    assert r["local_redfield_N4"] < 0.1 * r["local_redfield_N1"] and r["local_redfield_N4"] < 5e-3
    ex_t, ex_ss = pops["exact Redfield"]
    for name, (p, ss) in pops.items():  # the empty chain is an eigenstate of H_S
        assert abs(p[0].max() - 1) < 1e-12 and np.allclose(p.sum(1), 1) and abs(ss.sum() - 1) < 1e-10
    err = {N: (np.abs(pops[f"local Redfield N={N}"][0] - ex_t).sum(1).max(),
               np.abs(pops[f"local Redfield N={N}"][1] - ex_ss).sum()) for N in (1, 4)}
    assert err[4][0] < 0.1 * err[1][0] and err[4][1] < 0.1 * err[1][1]
    assert err[1][0] > 0.01  # N = 1 visibly off (not a test that cannot fail)
