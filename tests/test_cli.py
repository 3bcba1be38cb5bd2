import io

import pytest

from jaxredfield.cli import demo, main


def test_demo_small_chain():
    out = io.StringIO()
    res = demo(L=4, T=2.2, orders=(1, 4), out=out)
    text = out.getvalue()
    assert "standard local Lindblad" in text
    assert res["local Redfield N=4"] < res["local Lindblad N=1"] < res["standard local Lindblad"]


def test_bad_cli_args():
    with pytest.raises(SystemExit) as e:
        main(["demo", "--L", "12"])
    assert e.value.code == 2
