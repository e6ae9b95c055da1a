"""The real ``birdkit`` entry point in a subprocess, and the one-line error check, for CLI tests."""

import subprocess
import sys

from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app


def cli(*args, cwd=None):
    """The real entry point in a subprocess: what a user's terminal shows (stdout, stderr, status)."""
    return subprocess.run([sys.executable, "-c", "from birdkit.cli.main import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line_error(res, *needles):
    """A refusal as birdkit prints it: exit status 2, one line on stderr starting with ``error:``, no traceback."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr + res.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:"), err
    for n in needles:
        assert n in err, err


def invoke_ok(args: list[str], width: int | None = None) -> str:
    """The command run in this process (typer's CliRunner, ``width`` columns for its tables);
    asserts status 0, returns its output."""
    _register_commands()
    res = CliRunner().invoke(app, args, catch_exceptions=False, terminal_width=width)
    assert res.exit_code == 0, res.output
    return res.output
