"""Build each example plugin as a wheel, install it, and check it the way its author would.

For each folder under ``examples/`` with a ``pyproject.toml``:

1. build a wheel (``pip wheel --no-deps``) and check the package data went in;
2. install the wheel (into this environment, or with ``--target DIR`` into a folder put on
   ``PYTHONPATH``, which leaves the environment as it was);
3. run ``stridewise plugins --json`` and check the example's plugin is listed, loaded, with
   no error;
4. run the example's tests with ``pytest -p stridewise.testing`` against the installed wheel.

``tox -e examples`` runs this in a fresh environment that holds stridewise's own wheel.
Exit status 0 when every example passed; the failures are printed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def examples() -> list[Path]:
    return sorted(p.parent for p in HERE.glob("*/pyproject.toml"))


def _run(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


def _setuptools_builds_wheels() -> bool:
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except Exception:
        return False
    return (major, minor) >= (70, 1)


def check(example: Path, work: Path, target: Path | None) -> list[str]:
    """Problems found with one example (empty: it passed)."""
    meta = tomllib.loads((example / "pyproject.toml").read_text())
    project = meta["project"]
    plugin_names = list(project.get("entry-points", {}).get("stridewise", {}))
    data = meta.get("tool", {}).get("setuptools", {}).get("package-data", {})
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if target is not None:
        env["PYTHONPATH"] = str(target)
    problems: list[str] = []

    wheels = work / "wheels" / example.name
    # With a setuptools that builds wheels itself (70.1+) at hand, build with it (works
    # offline); else pip builds in an isolated environment with the one pyproject asks for.
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *isolation,
            "-q",
            "-w",
            str(wheels),
            str(example),
        ],
        env,
    )
    found = sorted(wheels.glob("*.whl"))
    if built.returncode != 0 or not found:
        return [f"{example.name}: the wheel did not build:\n{built.stderr[-2000:]}"]
    wheel = found[-1]
    names = zipfile.ZipFile(wheel).namelist()
    for package, patterns in data.items():
        for pattern in patterns:
            suffix = pattern.rsplit("*", 1)[-1]
            if not any(n.startswith(package + "/") and n.endswith(suffix) for n in names):
                problems.append(f"{wheel.name}: no {package}/{pattern} in the wheel")

    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--force-reinstall"]
    if target is not None:
        cmd += ["--target", str(target), "--upgrade"]
    installed = _run([*cmd, str(wheel)], env)
    if installed.returncode != 0:
        return [*problems, f"{wheel.name} did not install:\n{installed.stderr[-2000:]}"]

    listed = _run([sys.executable, "-m", "stridewise", "plugins", "--json"], env, cwd=work)
    if listed.returncode != 0:
        problems.append(f"stridewise plugins failed:\n{listed.stderr[-2000:]}")
    else:
        doc = json.loads(listed.stdout)
        plugins = {p["name"]: p for p in doc["plugins"]}
        for name in plugin_names:
            if plugins.get(name, {}).get("status") != "loaded":
                problems.append(f"stridewise plugins does not list {name!r} as loaded")
            elif plugins[name]["distribution"] != project["name"]:
                problems.append(f"{name!r} comes from {plugins[name]['distribution']!r}")
        problems += [f"plugin error: {e}" for e in doc["errors"] if e["name"] in plugin_names]

    tests = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "stridewise.testing",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(example),
            "-c",
            str(example / "pyproject.toml"),
            str(example / "tests"),
        ],
        env,
        cwd=work,
    )
    print(tests.stdout[-3000:], flush=True)
    if tests.returncode != 0:
        problems.append(f"{example.name}: its tests failed:\n{tests.stdout[-3000:]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="example folders to check (default: all)")
    parser.add_argument(
        "--target", type=Path, help="install into this folder (on PYTHONPATH) instead"
    )
    args = parser.parse_args(argv)
    chosen = [e for e in examples() if not args.names or e.name in args.names]
    if not chosen:
        print("no example found", file=sys.stderr)
        return 2
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stridewise-examples-") as tmp:
        for example in chosen:
            print(f"== {example.name}", flush=True)
            problems += check(example, Path(tmp), args.target)
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    print(f"{len(chosen)} example(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
