"""Example scripts run at reduced size and show the paper's qualitative behaviour."""

import csv
import importlib.util
import pathlib
import sys

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def load(name):
    """Import examples/<name>.py (examples/ on sys.path: scripts may import their siblings)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
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


def test_fig3d_fig4_reduced_matches_mesolve(tmp_path):
    """The trajectory example at L = 4 (both equations) against the density-matrix solution."""
    import numpy as np

    import jaxredfield as jr

    L = 4
    ts, res = load("fig3d_fig4_trajectories").main(
        ["--L", str(L), "--ntraj", "300", "--tmax", "2", "--nt", "3", "--batch-size", "100",
         "--out", str(tmp_path), "--no-progress"])
    for f in ("fig3d_fig4.csv", "fig3d_magnetization.png", "fig4_currents.png"):
        assert (tmp_path / f).exists()
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    e_ops += [jr.spin_current(model, i) for i in range(L - 1)]
    psi0 = np.zeros(2**L)
    psi0[0] = 1.0
    for name, eq in (("local_lindblad_N1", jr.local_lindblad(system, 1)),
                     ("standard_local_lindblad", jr.standard_local_lindblad(system))):
        ref = np.asarray(jr.mesolve(eq, psi0, ts, e_ops=e_ops, save_states=False).expect)
        mean, se = res[name]
        # t = 0: |up...up> is an eigenstate of H: sigma^z = 1, no current, no spread
        assert np.allclose(mean[:, 0], ref[:, 0], atol=1e-12) and np.all(se[:, 0] < 1e-12)
        z = (mean - ref)[:, 1:] / se[:, 1:]
        assert np.all(np.abs(z) < 5), (name, z)
        assert np.max(np.abs(ref[:L, -1] - 1)) > 10 * np.max(se[:L, -1])  # it relaxes visibly


def test_fig3bc_reduced(tmp_path):
    """Fig. 3(b,c) at L = 4: the local Lindblad magnetization profile is closer to exact
    Redfield than the standard local Lindblad one (main text), and only the standard local
    Lindblad equation keeps a current at equal temperatures."""
    import numpy as np

    ts, res = load("fig3bc_magnetization_current").main(["--L", "4", "--tmax", "30", "--nt", "7",
                                                          "--out", str(tmp_path)])
    assert (tmp_path / "fig3bc.csv").exists() and (tmp_path / "fig3bc.png").exists()
    ex_mag, ex_cur = res["exact Redfield"]
    loc_mag, _ = res["local Lindblad N=4"]
    red_mag, _ = res["local Redfield N=4"]
    std_mag, std_cur = res["standard local Lindblad"]
    assert np.max(np.abs(red_mag - ex_mag)) < np.max(np.abs(loc_mag - ex_mag)) < np.max(np.abs(std_mag - ex_mag))
    assert abs(ex_cur[-1]) < 1e-3 < abs(std_cur[-1])


def test_mps_long_chain_reduced_matches_mesolve(tmp_path):
    """The MPS example at L = 5 (exact bond dimension): its time averages of the profile and
    the currents against mesolve of the same equations, within the statistical errors."""
    import numpy as np

    import jaxredfield as jr

    L, ts = 5, np.linspace(0.0, 2.0, 5)
    tw, res = load("mps_long_chain").main(
        ["--L", str(L), "--ntraj", "64", "--tmax", "2", "--nt", "5", "--tavg", "1", "--max-bond", "16",
         "--out", str(tmp_path), "--no-progress"])
    assert (tmp_path / "mps_long_chain.csv").exists() and np.allclose(tw, ts[2:])
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    e_ops = jr.magnetization(model) + [jr.spin_current(model, i) for i in range(L - 1)]
    psi0 = jr.product_state(model, 0)
    for name, eq in (("local_lindblad_N1", jr.local_lindblad(system, 1)),
                     ("standard_local_lindblad", jr.standard_local_lindblad(system))):
        ref = np.asarray(jr.mesolve(eq, psi0, ts, e_ops=e_ops, save_states=False).expect).real[:, 2:].mean(axis=1)
        mean, se, w = res[name]
        # bond 16 is exact at L = 5 (also for the doubled chain of the density run, d^2 = 4):
        # only the default cutoff cuts, at most 1e-10 of the weight
        # per truncation; < 1000 truncations per trajectory (40 steps and their save points
        # and root-finding trials, 8 SVDs each; a few jumps)
        assert w < 1000 * jr.MPS().cutoff
        z = (mean - ref) / se
        assert np.all(np.abs(z) < 5) and np.mean(np.abs(z) < 3) >= 0.85, (name, z)
        # the density matrix as an MPS (same time averages, no statistical error): the TEBD
        # step's O(dt^2) error only (measured 6.9e-4 / 6.5e-4 at dt = 0.05 here)
        dmean, dw, dvals = res["density", name]
        assert dvals.shape == (2 * L - 1, len(ts)) and dw < 1e-6
        assert np.abs(dmean - ref).max() < 2e-3, (name, np.abs(dmean - ref).max())


def test_mps_long_chain_density_checkpoint_resumes(tmp_path, monkeypatch):
    """The density run writes its state per segment; a rerun with the same arguments reads it
    back without integrating again, and a run stopped after its first segment continues to the
    same values as an uninterrupted one."""
    import numpy as np

    import jaxredfield as jr

    ex = load("mps_long_chain")
    kw = dict(L=4, tmax=1.2, nt=13, tavg=0.6, max_bond=16, dt=0.05, progress=False)
    tw, full = ex.simulate_density(out=None, **kw)
    calls = []
    real = jr.mesolve

    class Killed(Exception):
        pass

    def stop_after_one(*a, **k):  # the first segment (10 save intervals), then "killed"
        if calls:
            raise Killed
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(ex.jr, "mesolve", stop_after_one)
    import pytest

    with pytest.raises(Killed):  # stopped in the first equation's second segment
        ex.simulate_density(out=str(tmp_path), **kw)
    # the rerun resumes the first equation from its checkpoint, runs the second from scratch
    monkeypatch.setattr(ex.jr, "mesolve", real)
    _, resumed = ex.simulate_density(out=str(tmp_path), **kw)
    for name in full:
        assert np.abs(resumed[name][2] - full[name][2]).max() < 1e-12
    monkeypatch.setattr(ex.jr, "mesolve", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    _, again = ex.simulate_density(out=str(tmp_path), **kw)
    for name in full:
        assert np.array_equal(again[name][2], resumed[name][2])


def test_ness_long_chain_reduced_matches_dense_and_reads_its_checkpoints(tmp_path, monkeypatch):
    """The steady-state example at L = 3 (bond 8 is exact there): profile and currents of two
    equations against the dense direct steady state of the same equations, within 1e-4 (the
    error tol = 1e-5 per unit time leaves: measured 4.4e-6 / 6.8e-6 for local Lindblad N = 1,
    7.8e-7 / 5.2e-6 for the standard local Lindblad equation), and for the latter equal
    currents on every bond; run again, every result comes from its checkpoint without
    evolving (the solver's resume itself: tests/test_steadystate_mps.py)."""
    import numpy as np

    import jaxredfield as jr
    import jaxredfield.solvers._steadystate_mps as ssm

    L, args = 3, ["--L", "3", "--bonds", "8", "--dt", "0.1", "--tol", "1e-5", "--no-progress",
                  "--equations", "local_lindblad_N1", "standard_local_lindblad", "--out", str(tmp_path)]
    ex = load("ness_long_chain")
    res = ex.main(args)
    assert (tmp_path / "ness_long_chain.csv").exists() and (tmp_path / "ness_long_chain.png").exists()
    s = ex.system(L)
    for name in ("local_lindblad_N1", "standard_local_lindblad"):
        z, j, st = res[name, 8]
        assert st["converged"] and st["resumed_phase"] is None
        rho = jr.steadystate(ex.EQUATIONS[name](s), method=jr.Direct())
        zr = [float(np.real(jr.expect(o, rho))) for o in jr.magnetization(s.model)]
        jr_ = [float(np.real(jr.expect(jr.spin_current(s.model, i), rho))) for i in range(L - 1)]
        assert np.abs(z - zr).max() < 1e-4 and np.abs(j - jr_).max() < 1e-4, (name, z - zr, j - jr_)
        assert abs(jr_[0]) > 1e-2  # a real current
        if name == "standard_local_lindblad":  # jumps on the end sites only: the same current on
            assert np.ptp(j) < 1e-4  # every bond (local Lindblad's L_+ act on two sites, so the
            # bath also feeds site 1 and L - 2: 0.035 apart at L = 3, as in the dense state)
    monkeypatch.setattr(ssm, "_advance", lambda *a: (_ for _ in ()).throw(AssertionError("evolved again")))
    again = ex.main(args)
    for key, (z, j, st) in again.items():
        assert st["resumed_phase"] == 2 and np.array_equal(z, res[key][0]) and np.array_equal(j, res[key][1])
