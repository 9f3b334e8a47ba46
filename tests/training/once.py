"""Work that several tests read, done once per test session.

pytest-xdist hands a module's tests to whichever worker is free, so a
module-scoped fixture runs again on every worker that gets one of them.
`once` does its work once for the whole session: the first worker to ask
does it in a folder all workers share, under a lock; any other worker
waits for it (idle, not computing) and reads the same folder.
"""

import fcntl
import json
import os
import shutil


def session_folder(tmp_path_factory):
    """The temporary folder of the whole session (all xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # Each worker's own folder lies in it.
    return base


def once(tmp_path_factory, name, make):
    """Runs `make(folder)` once per session; returns `(folder, value)`.

    `folder` is a fresh folder named `name`, shared by every worker;
    `value` is what `make` returned (JSON: strings, numbers, lists, dicts).
    When `make` fails, the next test that asks runs it again. Tests that
    change the folder must copy it first.
    """
    root = session_folder(tmp_path_factory) / "once"
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Released when closed.
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            value = make(folder)
            done.write_text(json.dumps(value))
    return folder, json.loads(done.read_text())
