import io

import pytest

from jaxredfield.app.cli import demo, main


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


def test_reproduce_runs_a_figure_script(tmp_path, capsys):
    rc = main(["reproduce", "fig3d", "--L", "4", "--ntraj", "8", "--tmax", "1", "--nt", "2",
               "--batch-size", "8", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    for f in ("fig3d_fig4.csv", "fig3d_magnetization.png", "fig4_currents.png"):
        assert (tmp_path / f).exists()
    assert main(["reproduce", "--list"]) == 0
    assert "fig2d" in capsys.readouterr().out


def test_reproduce_unknown_figure(capsys):
    assert main(["reproduce", "fig99"]) == 2
    assert "unknown figure" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["demo", "--bogus"])
    assert e.value.code == 2


def test_reproduce_lists_population_memory_bose_hubbard_nonequilibrium_figures(capsys):
    """Figs. 2(a,b), 3(a), S.4 and S.17 are registered, and their scripts exist."""
    from jaxredfield.app.cli import FIGURES, _examples_dir

    assert main(["reproduce", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    for fig in ("fig2a", "fig2b", "fig3a", "figS4", "figS17"):
        assert fig in listed
        assert (_examples_dir() / f"{FIGURES[fig][0]}.py").exists()


def test_reproduce_lists_supplemental_error_figures(capsys):
    assert main(["reproduce", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    for fig in ("figS3", "figS5", "figS8", "figS9", "figS12", "figS13", "figS14", "figS15"):
        assert fig in listed, fig
    from jaxredfield.app.cli import FIGURES, _examples_dir

    for fig in ("figS3", "figS5", "figS8", "figS9", "figS12", "figS13", "figS14", "figS15"):
        assert (_examples_dir() / f"{FIGURES[fig][0]}.py").exists(), fig
