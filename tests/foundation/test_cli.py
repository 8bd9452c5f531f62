"""The command line as an IT person meets it: real processes, real exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("hotel-operator")


def _env(env: dict[str, str]) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    full_env.update(env)
    return full_env


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args], cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=120, check=False
    )


def run_together(commands: list[list[str]], cwd: Path, **env: str) -> list[subprocess.CompletedProcess[str]]:
    """Commands that do not depend on each other, run at once: each start costs a second of imports."""
    procs = [
        subprocess.Popen(
            [str(EXE), *args], cwd=cwd, env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in commands
    ]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


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


def test_given_a_password_in_the_database_url_when_config_show_then_it_is_masked(tmp_path: Path) -> None:
    out = run(
        ["config", "show"],
        tmp_path,
        HOTEL_OPERATOR_DATABASE__URL="postgresql://hotel:S3cretPW@127.0.0.1:5999/hotel",
    )
    assert out.returncode == 0, out.stderr
    assert "S3cretPW" not in out.stdout
    assert '"url": "postgresql+asyncpg://hotel:***@127.0.0.1:5999/hotel"' in out.stdout


def test_given_the_templates_variable_the_dockerfile_used_to_set_when_a_command_runs_then_it_works(
    tmp_path: Path,
) -> None:
    out = run(["config", "show"], tmp_path, HOTEL_OPERATOR_CONF_TEMPLATES=str(tmp_path))
    assert out.returncode == 0, out.stderr


def test_given_an_empty_folder_when_config_check_then_no_database_is_created_and_the_missing_schema_is_said(
    tmp_path: Path,
) -> None:
    out = run(
        ["config", "check"],
        tmp_path,
        HOTEL_OPERATOR_ASTERISK__ARI_URL="http://127.0.0.1:9",
        HOTEL_OPERATOR_ASTERISK__AMI_PORT="9",
    )
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "hotel-operator.db").exists()
    assert "warn: database file hotel-operator.db does not exist yet" in out.stdout
    assert "db upgrade" in out.stdout
    # folders are printed, ARI/AMI reachability is checked (a warning: serve retries a down Asterisk)
    assert "ok: speech.prompt_cache_dir" in out.stdout and "recording.directory" in out.stdout
    assert "warn: ARI pbx1 at http://127.0.0.1:9 is not reachable" in out.stdout
    assert "warn: AMI at 127.0.0.1:9 is not reachable" in out.stdout
    assert out.stdout.rstrip().endswith("configuration is valid, with 3 warning(s) above")
    assert not (tmp_path / "var").exists()  # config check looks, it doesn't create folders either


def test_given_an_empty_database_file_without_auto_migrate_when_config_check_then_missing_schema_fails(
    tmp_path: Path,
) -> None:
    (tmp_path / "hotel-operator.db").write_bytes(b"")
    env = {"HOTEL_OPERATOR_DATABASE__AUTO_MIGRATE": "false", "HOTEL_OPERATOR_ASTERISK__AMI_ENABLED": "false",
           "HOTEL_OPERATOR_ASTERISK__ARI_URL": "http://127.0.0.1:9"}
    out = run(["config", "check"], tmp_path, **env)
    assert out.returncode == 2, out.stdout
    assert "database schema is missing" in out.stderr and "Traceback" not in out.stderr
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    again = run(["config", "check"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "ok: database schema is up to date" in again.stdout


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["conf", "check", "--help"]])
def test_given_help_when_printed_then_flags_show_no_python_types(args: list[str], tmp_path: Path) -> None:
    out = run(args, tmp_path)
    assert out.returncode == 0, out.stderr
    for noise in ("<bool>", "<list[str]>", "{conf_dir}", "<str>"):
        assert noise not in out.stdout, out.stdout


def test_given_the_default_password_when_serve_starts_then_it_refuses_in_one_line(tmp_path: Path) -> None:
    out = run(["serve"], tmp_path, HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="hotel-secret")
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "asterisk.ari_password" in lines[0] and "default password" in lines[0]
    assert "hotel-secret" not in out.stderr


@pytest.mark.parametrize("which", ["http", "agi"])
def test_given_a_busy_port_when_serve_starts_then_one_line_and_exit_2(which: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        with socket.socket() as spare:  # a port that is free now, for the listener not under test
            spare.bind(("127.0.0.1", 0))
            free = str(spare.getsockname()[1])
        env = {"HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD": "a-strong-ari-pw-1", "HOTEL_OPERATOR_HTTP__PORT": free,
               "HOTEL_OPERATOR_ASTERISK__AGI_PORT": free}
        env["HOTEL_OPERATOR_HTTP__PORT" if which == "http" else "HOTEL_OPERATOR_ASTERISK__AGI_PORT"] = port
        out = run(["serve"], tmp_path, **env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, out.stderr
    setting = "http.port" if which == "http" else "asterisk.agi_port"
    assert f"{setting}: 127.0.0.1:{port} is already in use" in lines[0]


def test_given_caller_numbers_when_blocked_allowed_listed_and_unblocked_then_the_lists_follow(
    tmp_path: Path,
) -> None:
    env = {"HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}
    # the first command alone makes the database; after it, what does not depend on each other runs at once
    assert run(["callers", "block", "+1 555-010-0177", "--note", "robocaller"], tmp_path, **env).returncode == 0
    allowed, bad = run_together(
        [["callers", "allow", "+15550100100", "--note", "night manager"], ["callers", "block", "anonymous"]],
        tmp_path,
        **env,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert bad.returncode == 2 and "no digits" in bad.stderr
    listed, only_blocked = run_together([["callers", "list"], ["callers", "list", "--list", "block"]], tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("allow") and "night manager" in lines[0]
    assert lines[1].startswith("block") and "+1 555-010-0177" in lines[1] and "robocaller" in lines[1]
    assert only_blocked.returncode == 0, only_blocked.stderr
    blocked_lines = only_blocked.stdout.splitlines()
    assert len(blocked_lines) == 1 and blocked_lines[0].startswith("block")
    assert run(["callers", "unblock", "15550100177"], tmp_path, **env).returncode == 0
    again = run(["callers", "unblock", "15550100177"], tmp_path, **env)
    assert again.returncode == 1 and "neither list" in again.stderr
