"""Creates `.peer_venv`: the PyTorch AdapterHub side of the comparison.

    python benchmarks/peer_env.py [--check]

Pins: torch 2.13.0 (CPU build), adapters 1.3.0, transformers 4.57.6.
torch goes in first and alone, as `torch==2.13.0+cpu`: only the CPU wheel
on this machine's disk (`/opt/wheels`, on pip's `find-links`) carries that
version, so pip can never fall back to the multi-GB CUDA build from the
index. The other two are then installed under a constraint that holds torch
at the installed build. When the venv already has the three pins, nothing
is done. `--check` only reports. Errors are one line and exit code 2.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import venv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

TORCH = "2.13.0+cpu"
PINS = {"torch": TORCH, "adapters": "1.3.0", "transformers": "4.57.6"}
WHEEL_DIRS = ("/opt/wheels",)
PROBE = (
    "import json, importlib.metadata as m\n"
    "out = {}\n"
    "for name in %r:\n"
    "    try: out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError: out[name] = None\n"
    "print(json.dumps(out))\n"
)


def fail(message):
    sys.stderr.write(f"peer_env: {message}\n")
    sys.exit(2)


def installed_versions(python=_common.PEER_PYTHON):
    """`{package: version or None}` in the venv, or `None` without a venv."""
    if not os.path.exists(python):
        return None
    done = subprocess.run(
        [python, "-c", PROBE % (list(PINS),)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)


def is_ready(versions):
    return versions is not None and all(
        versions.get(name) == version for name, version in PINS.items()
    )


def torch_wheel_source():
    """`--find-links` flags for the CPU wheel, or a one-line error."""
    for folder in WHEEL_DIRS:
        if glob.glob(os.path.join(folder, f"torch-{TORCH}-*.whl")):
            return ["--find-links", folder]
    fail(
        f"no torch-{TORCH} wheel in {', '.join(WHEEL_DIRS)}; refusing to let "
        "pip fetch torch from the index (it would take the CUDA build). Put "
        "the CPU wheel there or install torch==2.13.0+cpu into .peer_venv "
        "by hand."
    )


def pip(python, *args):
    command = [python, "-m", "pip", "install", "--quiet", *args]
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        fail(
            f"pip install {' '.join(args)} failed: "
            f"{lines[-1] if lines else done.returncode}"
        )


def ensure(verbose=True):
    """Creates or completes `.peer_venv`; returns its python path."""
    python = _common.PEER_PYTHON
    versions = installed_versions(python)
    if is_ready(versions):
        if verbose:
            print(f"peer_env: {_common.PEER_VENV} ready: {versions}")
        return python
    if versions is None:
        print(f"peer_env: creating {_common.PEER_VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(_common.PEER_VENV)
        versions = {}
    if versions.get("torch") != TORCH:
        pip(python, *torch_wheel_source(), "--no-deps", f"torch=={TORCH}")
        # torch's own dependencies; it is already there, so nothing resolves
        # torch again.
        pip(python, *torch_wheel_source(), f"torch=={TORCH}")
    constraint = os.path.join(_common.PEER_VENV, "constraints.txt")
    with open(constraint, "w") as f:
        f.write(f"torch=={TORCH}\n")
    pip(
        python,
        *torch_wheel_source(),
        "--constraint",
        constraint,
        f"adapters=={PINS['adapters']}",
        f"transformers=={PINS['transformers']}",
    )
    versions = installed_versions(python)
    if not is_ready(versions):
        fail(f"{_common.PEER_VENV} has {versions}, expected {PINS}.")
    print(f"peer_env: {_common.PEER_VENV} ready: {versions}")
    return python


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="only report whether the venv is ready",
    )
    args = parser.parse_args()
    if args.check:
        versions = installed_versions()
        if not is_ready(versions):
            fail(
                f"{_common.PEER_VENV} not ready (has {versions}); run "
                "python benchmarks/peer_env.py"
            )
        print(f"peer_env: ready: {versions}")
        return
    ensure()


if __name__ == "__main__":
    main()
