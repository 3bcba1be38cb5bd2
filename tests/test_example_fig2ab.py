"""Fig. 2(a,b) script at L = 4: eigenstate populations along the relaxation and in the steady state."""

import csv

import numpy as np
import pytest

from .test_examples import load


# ~35 s; the Fig. 2 ordering of the equations is the default run's
# tests/test_paper_claims.py::test_fig2_ordering_at_T_2p2 (the script: `-m slow`)
@pytest.mark.slow
def test_fig2ab_reduced(tmp_path):
    L = 4
    ts, E, res = load("fig2ab_populations").main(["--L", str(L), "--tmax", "20", "--nt", "11",
                                                  "--out", str(tmp_path)])
    assert (tmp_path / "fig2ab_populations.png").exists()
    with open(tmp_path / "fig2ab_populations.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * (11 + 1) * 2**L + 2**L  # four equations (11 times + steady), Gibbs
    assert np.all(np.diff(E) >= 0)  # k in ascending energy
    ex_t, ex_ss = res["exact Redfield"]
    # (b) equal temperatures: the exact Redfield steady state is the Gibbs state (measured 1.6e-15)
    assert np.abs(ex_ss - res["Gibbs"][1]).sum() < 1e-10
    # populations are a probability distribution at every time, starting from |+>^L
    for name, (pops, ss) in res.items():
        assert abs(ss.sum() - 1) < 1e-10, name
        if pops is not None:
            assert np.allclose(pops.sum(1), 1, atol=1e-8) and pops.min() > -1e-8, name
    # the t = 20/h populations have relaxed to the steady state (measured <= 7e-6)
    for name in ("exact Redfield", "local Redfield N=4", "standard local Lindblad"):
        pops, ss = res[name]
        assert np.abs(pops[-1] - ss).sum() < 1e-4, name
    # (a),(b): local Redfield N=4 follows exact Redfield closely, local Lindblad less, the standard
    # local Lindblad equation poorly. Measured sum_k |p_k - p_k^exact|, max over t / steady:
    # local Redfield 4.9e-3 / 4.9e-3, local Lindblad 3.2e-2 / 2.0e-2, standard 0.63 / 0.63.
    err = {n: (np.abs(res[n][0] - ex_t).sum(1).max(), np.abs(res[n][1] - ex_ss).sum())
           for n in ("local Redfield N=4", "local Lindblad N=4", "standard local Lindblad")}
    lr, ll, sll = err["local Redfield N=4"], err["local Lindblad N=4"], err["standard local Lindblad"]
    assert lr[0] < 1e-2 and lr[1] < 1e-2
    assert lr[0] < ll[0] < sll[0] and lr[1] < ll[1] < sll[1]
    assert sll[1] > 0.3 and sll[1] > 50 * lr[1]
