"""tox inline plugin: let tox see every pyenv-installed interpreter.

pyenv's shims hide `python3.12` unless that version is active, so tox would report the py312
env as missing. When pyenv is present and the user has not chosen versions themselves, expose
all installed versions before tox looks for interpreters. Elsewhere this does nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tox.plugin import impl


@impl
def tox_add_option(parser: object) -> None:  # runs early, before interpreter discovery
    if "PYENV_VERSION" in os.environ or shutil.which("pyenv") is None:
        return
    try:
        out = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    versions = [v.strip() for v in out.splitlines() if v.strip() and "/" not in v]
    current = subprocess.run(
        ["pyenv", "version-name"], capture_output=True, text=True, check=False, timeout=20
    ).stdout.strip()
    # Keep the user's current version first so plain `python3` still means what it meant.
    versions = [v for v in current.split(":") if v] + [v for v in versions if v not in current]
    if versions:
        os.environ["PYENV_VERSION"] = ":".join(versions)
