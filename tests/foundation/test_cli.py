"""The command line as an IT person meets it: real processes, real exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("hotel-operator")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    full_env.update(env)
    return subprocess.run(
        [str(EXE), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [[], ["serve"], ["demo"], ["config"], ["config", "show"], ["config", "check"], ["db"], ["db", "upgrade"],
     ["db", "seed"]],
)
def test_given_any_command_when_help_asked_then_it_prints_usage(args: list[str], tmp_path: Path) -> None:
    out = run([*args, "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_given_version_flag_when_run_then_version_printed(tmp_path: Path) -> None:
    out = run(["--version"], tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("hotel-operator 0.")


@pytest.mark.parametrize(
    ("toml", "env", "expect"),
    [
        ("[media]\nbogus = 1\n", {}, "media.bogus"),
        ('[media]\nport_min = "x"\n', {}, "media.port_min"),
        ("", {"HOTEL_OPERATOR_DATABASE__URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none"}, "cannot connect"),
        ("", {"HOTEL_OPERATOR_RECORDING__ENABLED": "true", "HOTEL_OPERATOR_RECORDING__DIRECTORY": "/proc/nope"},
         "recording.directory"),
    ],
    ids=["unknown-key", "wrong-type", "unreachable-db", "unwritable-recordings"],
)
def test_given_bad_input_when_config_check_then_one_line_and_exit_2(
    toml: str, env: dict[str, str], expect: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "hotel-operator.toml"
    cfg.write_text(toml)
    out = run(["--config", str(cfg), "config", "check"], tmp_path, **env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, out.stderr
    assert expect in lines[0]


def test_given_fresh_folder_when_upgrade_and_seed_then_database_has_the_demo_hotel(tmp_path: Path) -> None:
    env = {"HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}
    assert run(["config", "check"], tmp_path, **env).returncode == 0
    up = run(["db", "upgrade"], tmp_path, **env)
    assert up.returncode == 0, up.stderr
    seed = run(["db", "seed"], tmp_path, **env)
    assert seed.returncode == 0, seed.stderr
    again = run(["db", "seed"], tmp_path, **env)  # seeding twice must not duplicate
    assert again.returncode == 0, again.stderr
    import sqlite3

    con = sqlite3.connect(tmp_path / "h.db")
    assert con.execute("select count(*) from rooms").fetchone()[0] == 20
    assert con.execute("select count(*) from room_types").fetchone()[0] >= 3
    assert con.execute("select version_num from alembic_version").fetchone()[0]


def test_given_secret_in_env_when_config_show_then_it_is_masked(tmp_path: Path) -> None:
    out = run(["config", "show"], tmp_path, HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="sw0rdfish")
    assert out.returncode == 0, out.stderr
    assert "sw0rdfish" not in out.stdout
    assert '"ari_password": "**********"' in out.stdout
