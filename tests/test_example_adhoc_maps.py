"""Figs. S.3 / S.5 script (ad-hoc local Redfield / Lindblad error maps) at L = 3, T = 5h."""

import csv

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

from .test_examples import load

ARGS = ["--L", "3", "--nT", "1", "--Tmin", "5", "--Tmax", "5", "--neps", "3", "--epsmin", "-1",
        "--epsmax", "1", "--orders", "1", "2", "4"]


def test_figS3_S5_reduced(tmp_path):
    mod = load("figS3_S5_adhoc_maps")
    red = mod.main(ARGS + ["--out", str(tmp_path)])
    lin = mod.main(ARGS + ["--equation", "lindblad", "--out", str(tmp_path)])
    for eq in ("redfield", "lindblad"):
        assert (tmp_path / f"figS3_S5_adhoc_{eq}_ohmic_L3.png").exists()
        with open(tmp_path / f"figS3_S5_adhoc_{eq}_ohmic_L3.csv") as f:
            assert len(list(csv.DictReader(f))) == 3 * 1 * 3  # orders x T x eps0
    dr, dl = red["d"][:, 0, :], lin["d"][:, 0, :]  # (N = 1, 2, 4) x (eps0 = -1, 0, 1)
    # Fig. S.3 (SM F): at high T the ad-hoc Redfield error falls fast with N for eps0 near 0.
    # Measured d at eps0 = -1, 0, 1:  N=1: 8.0e-2 4.4e-2 1.2e-2;  N=2: 7.4e-4 9.8e-4 9.0e-4;
    # N=4: 1.3e-5 4.0e-5 3.6e-5.
    assert np.all(dr[1] < dr[0] / 10) and np.all(dr[2] < dr[1] / 10)
    assert np.all(dr[2] < 1e-4)
    # Fig. S.5: the ad-hoc Lindblad equation (L_- dropped, correct to N = 1 only) is much better
    # than ad-hoc Redfield at N = 1 but saturates: N = 4 is not much better than N = 1.
    # Measured: N=1: 1.8e-2 1.8e-2 2.0e-2;  N=2: 3.1e-2 1.4e-2 1.1e-2;  N=4: 3.0e-2 1.4e-2 1.2e-2.
    assert dl[0, 1] < dr[0, 1] / 2
    assert np.all(dl[2] > dl[0] / 3) and np.all(dl[2] > 100 * dr[2])


def test_fast_steadystate_matches_dense():
    """paper.fast_steadystate (eigen-preconditioned GMRES, dense fallback) = the dense solve."""
    s = paper.xxz_system(3, 1.0, 2.0)
    eq = jr.adhoc_redfield(s, 1, 0.5)
    dense = np.asarray(jr.steadystate(eq, method=jr.Direct()))
    gmres = np.asarray(paper.fast_steadystate(eq, dense_max_dim=4))  # D = 8: GMRES path
    fallback = np.asarray(paper.fast_steadystate(eq, maxiter=1, dense_max_dim=4))
    assert np.abs(gmres - dense).max() < 1e-10 and np.abs(fallback - dense).max() < 1e-13
