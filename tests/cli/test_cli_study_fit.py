"""``birdkit study-fit``: the fit's files and tables from a rows CSV; a missing column in one line."""

from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app
from birdkit.io import read_csv, read_json, write_csv
from clitools import cli, one_line_error
from studyrows import study_rows as _rows

_register_commands()
runner = CliRunner()


def test_study_fit_writes_the_model_the_ranks_and_the_plot(tmp_path):
    write_csv(tmp_path / "study.csv", _rows())
    res = runner.invoke(app, ["study-fit", str(tmp_path / "study.csv")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "grouped 5-fold CV" in res.output and "leep" in res.output
    fit = read_json(tmp_path / "fit.json")
    assert fit["predictors"] == ["task_relevance", "complementary_knowledge", "behavioral_relevance"]
    assert [r["predictor"] for r in read_csv(tmp_path / "ranks.csv")] == [
        "task_relevance", "complementary_knowledge", "behavioral_relevance", "leep"]
    assert (tmp_path / "fit.png").stat().st_size > 1000
    one_line_error(cli("study-fit", str(tmp_path / "study.csv"), "--target", "pgr", "--out", str(tmp_path / "x")),
                   "no column 'pgr'")


def test_several_seeds_per_pair_report_reliability_and_can_be_averaged(tmp_path):
    rows = [{"student": "s", "layer": "pair", **r} for r in _rows()]
    write_csv(tmp_path / "study.csv", rows)
    res = runner.invoke(app, ["study-fit", str(tmp_path / "study.csv"), "--mean-seeds"], terminal_width=250)
    assert res.exit_code == 0, res.output
    assert "seed reliability over 12 pairs x 3 seeds" in res.output and "noise ceiling" in res.output
    rel = read_json(tmp_path / "reliability.json")
    assert rel["pairs"] == 12 and 0 < rel["ceiling"] <= 1
    assert read_json(tmp_path / "fit.json")["n"] == 12  # one row per pair
    write_csv(tmp_path / "plain.csv", _rows())
    one_line_error(cli("study-fit", str(tmp_path / "plain.csv"), "--mean-seeds"), "--mean-seeds needs the columns")
