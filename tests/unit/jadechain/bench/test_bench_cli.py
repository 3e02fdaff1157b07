"""``jadechain bench`` command surface (no runs: help and argument checks only)."""

from typer.testing import CliRunner

from jadechain.cli.bench import bench_app

runner = CliRunner()


def test_every_command_is_there_and_accepts_quick():
    for command in ("tps", "scale", "soak", "raft"):
        result = runner.invoke(bench_app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--quick" in result.output


def test_bad_choices_are_refused_before_anything_starts():
    assert runner.invoke(bench_app, ["tps", "--crypto", "rsa"]).exit_code != 0
    assert runner.invoke(bench_app, ["tps", "--workload", "kv-delete"]).exit_code != 0
    assert runner.invoke(bench_app, ["tps", "--transport", "udp"]).exit_code != 0
    assert runner.invoke(bench_app, ["scale", "--nodes", "1,x"]).exit_code != 0
