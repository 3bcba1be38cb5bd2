"""Fig. 3(a) script at L = 3: the relaxation-averaged error of local Redfield vs tau_B/tau_S."""

import csv

import numpy as np
import pytest

from .test_examples import load


# ~35 s; the error's power law in tau_B/tau_S is the default run's
# tests/test_paper_claims.py::test_fig3a_error_scaling_with_bath_memory_time (the script: `-m slow`)
@pytest.mark.slow
def test_fig3a_reduced(tmp_path):
    """Between T = 4h and 16h (tau_B/tau_S = 0.040 .. 0.0099) the error falls with the order N
    at each T and as a power law in tau_B/tau_S whose exponent grows with N: N+1 for odd N,
    N+2 for even N >= 2 (odd Bernoulli numbers vanish), about 1 for N = 0.
    Measured at L = 3: d_tau_R = 0.30, 3.1e-2, 1.7e-3, 6.4e-4, 7.8e-5 (T = 4h) and
    9.7e-2, 1.7e-3, 7.2e-6, 2.3e-6, 2.1e-8 (T = 16h); slopes 0.81, 2.11, 3.94, 4.06, 5.92."""
    orders = [0, 1, 2, 3, 4]
    mod = load("fig3a_memory_time")
    rows = mod.main(["--L", "3", "--Tmin", "4", "--Tmax", "16", "--nT", "2", "--nt", "21",
                     "--out", str(tmp_path)])
    assert (tmp_path / "fig3a_memory_time.png").exists()
    with open(tmp_path / "fig3a_memory_time.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert [r["tau_B/tau_S"] for r in rows] == [1 / (2 * np.pi * 4), 1 / (2 * np.pi * 16)]
    for r in rows:
        d = [r[f"N{N}"] for N in orders]
        assert all(b < a for a, b in zip(d, d[1:])), d
    s = mod.slopes(rows, orders)
    expected = {0: 1, 1: 2, 2: 4, 3: 4, 4: 6}
    for N in orders:
        assert abs(s[N] - expected[N]) < 0.35, (N, s)
    assert s[0] < s[1] < s[2] and s[3] < s[4] and s[2] > s[1] + 1.5
