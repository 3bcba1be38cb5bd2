"""Method objects (jaxredfield/method.py): validated options, a full repr, the refusal of
methods a solver does not support."""

import diffrax as dfx
import pytest

import jaxredfield as jr
from jaxredfield.method import check_method


def test_options_and_repr_show_every_field():
    m = jr.Diffrax(solver=dfx.Dopri5(), rtol=1e-6)
    assert m.options() == {"solver": "Dopri5", "rtol": 1e-6, "atol": 1e-10, "max_steps": 1_000_000}
    assert repr(m) == "Diffrax(solver='Dopri5', rtol=1e-06, atol=1e-10, max_steps=1000000)"
    assert repr(jr.GMRES(preconditioner="eigen")) == (
        "GMRES(tol=1e-12, restart=30, maxiter=20000, preconditioner='eigen')")
    assert jr.Direct().options() == {} and jr.Chebyshev(atol=1e-6).options() == {"atol": 1e-6}


@pytest.mark.parametrize("make, match", [
    (lambda: jr.Diffrax(rtol=0.0), r"Diffrax\(rtol=...\)` must be > 0"),
    (lambda: jr.Diffrax(solver="tsit5"), "must be a diffrax solver"),
    (lambda: jr.Chebyshev(atol=-1e-9), r"Chebyshev\(atol=...\)` must be > 0"),
    (lambda: jr.GMRES(restart=0), "positive integer"),
    (lambda: jr.GMRES(maxiter=2.5), "positive integer"),
    (lambda: jr.GMRES(preconditioner="ilu"), "None or 'eigen'"),
])
def test_bad_options_are_refused_by_name(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_check_method_lists_the_supported_methods():
    assert check_method(None, (jr.Direct, jr.GMRES), "steadystate", "auto") == "auto"
    g = jr.GMRES()
    assert check_method(g, (jr.Direct, jr.GMRES), "steadystate", None) is g
    with pytest.raises(TypeError, match=r"mesolve supports method=jr.Diffrax\(\); got Direct"):
        check_method(jr.Direct(), (jr.Diffrax,), "mesolve", None)
    with pytest.raises(TypeError, match="method object.*got the string 'dense'"):
        check_method("dense", (jr.Direct, jr.GMRES), "steadystate", None)
