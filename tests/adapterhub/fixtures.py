"""The AdapterHub fixtures of tests/data/adapterhub/ (made by AdapterHub
1.3.0 with make_fixtures.py there) and helpers to read them."""

import json
import os
import shutil

import numpy as np

from tests.conftest import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "data", "adapterhub")
BASE = os.path.join(FIXTURES, "base")
with open(os.path.join(FIXTURES, "expected.json")) as _handle:
    EXPECTED = json.load(_handle)
SENTENCES = EXPECTED["sentences"]
CASES = sorted(EXPECTED["logits"])


def folder(case):
    return os.path.join(FIXTURES, case)


def expected_logits(case):
    """AdapterHub's logits on `SENTENCES` after loading the folder."""
    return np.array(EXPECTED["logits"][case], "float32")


def token_inputs():
    """AdapterHub's (Hugging Face tokenizer's) inputs for `SENTENCES`."""
    token_ids = np.array(EXPECTED["token_ids"], "int32")
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": np.array(EXPECTED["padding_mask"], "int32"),
    }


def copy_case(case, tmp_path):
    """A writable copy of a fixture folder."""
    target = str(tmp_path / case)
    shutil.copytree(folder(case), target)
    return target


def edit_json(path, edit):
    """Rewrites a JSON file with `edit(config)` applied in place."""
    with open(path) as handle:
        config = json.load(handle)
    edit(config)
    with open(path, "w") as handle:
        json.dump(config, handle)
