"""Make sure a system program a tox env needs is on this machine (install it from Debian if not).

Usage: python .ci/need.py PROGRAM [DEBIAN-PACKAGE ...]
Called by tox's commands_pre, so the README's one test command sets up a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: need.py PROGRAM [DEBIAN-PACKAGE ...]", file=sys.stderr)
        return 2
    program, packages = argv[0], argv[1:] or argv[:1]
    if shutil.which(program) or os.path.exists(program):
        return 0
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(
            f"need.py: {program} is not installed; install the Debian package(s) "
            f"{' '.join(packages)} (as root: apt-get install -y {' '.join(packages)})",
            file=sys.stderr,
        )
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # tox runs envs side by side: wait for another env's apt-get instead of failing on the lock
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    subprocess.run(["apt-get", *wait, "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    if shutil.which(program) or os.path.exists(program):
        return 0
    missing = f"need.py: installed {' '.join(packages)} but {program} is still missing"
    print(missing, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
