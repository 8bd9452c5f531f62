"""A plain (non-editable) install carries the Asterisk templates: `conf render` works from a wheel.

The wheel is built offline from a copy of the sources (``--no-build-isolation``: setuptools and
wheel come with the dev extras), then `conf render` runs from the unpacked wheel alone, with no
HOTEL_OPERATOR_CONF_TEMPLATES and no checkout next to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "ari_app" / "asterisk_conf" / "templates"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import setuptools
        import wheel as _wheel  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"building a wheel offline needs setuptools and wheel (pip install -e '.[dev]'): {exc}")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip(f"setuptools {setuptools.__version__} is older than the build-system's >= 68")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ari_app", "agi", "models"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheels = list(out.glob("hotel_operator-*.whl"))
    assert len(wheels) == 1, built.stdout + built.stderr
    return wheels[0]


def test_given_the_wheel_when_opened_then_every_template_is_inside(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "ari_app/asterisk_conf/templates/" + str(p.relative_to(TEMPLATES))
        for p in TEMPLATES.rglob("*.tmpl")
    }
    assert len(expected) > 20
    assert expected <= names, sorted(expected - names)


def test_given_the_unpacked_wheel_alone_when_conf_render_runs_then_it_writes_the_files(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
    env.update(
        PYTHONPATH=str(site),
        HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="Wheel-Ari-Pass-71",
        HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD="Wheel-Ami-Pass-72",
        HOTEL_OPERATOR_PHONES__PASSWORD="Wheel-Phone-Seed-73",
    )
    code = (
        "import sys, ari_app; assert ari_app.__file__.startswith(sys.argv[1]), ari_app.__file__;"
        "sys.argv = ['hotel-operator', 'conf', 'render', '--out', sys.argv[2]];"
        "from ari_app.cli import main; main()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(site), str(tmp_path / "conf")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "conf" / "pjsip.conf").is_file() and (tmp_path / "conf" / "extensions.conf").is_file()
