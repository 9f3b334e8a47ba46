"""AdapterHub folders of RoBERTa and DistilBERT give AdapterHub's logits.

The folders are AdapterHub's own (`tests/data/families/adapterhub`, made by
its `make_fixtures.py` with adapters 1.3.0) on the tiny Hugging Face
checkpoints of `tests/data/families`.
"""

import json
import os

import numpy as np
import pytest

import keras_adapters
from keras_adapters.models import AdapterHubTextClassifier

FAMILIES = os.path.join(os.path.dirname(__file__), "..", "data", "families")
HERE = os.path.join(FAMILIES, "adapterhub")
with open(os.path.join(HERE, "expected.json")) as handle:
    EXPECTED = json.load(handle)
CASES = {
    "roberta_houlsby": ("roberta", "AdapterRobertaBackbone"),
    "distilbert_pfeiffer": ("distilbert", "AdapterDistilBertBackbone"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_adapterhub_folder_gives_adapterhubs_logits(case):
    family, backbone_class = CASES[case]
    model = keras_adapters.load_adapters(
        os.path.join(HERE, case), os.path.join(FAMILIES, family)
    )
    assert isinstance(model, AdapterHubTextClassifier)
    assert type(model.backbone).__name__ == backbone_class
    expected = EXPECTED[case]
    inputs = {
        "token_ids": np.array(expected["token_ids"], "int32"),
        "padding_mask": np.array(expected["padding_mask"], "int32"),
    }
    # Hugging Face's tokenizer gives the same ids.
    tokens = model.preprocessor(EXPECTED["sentences"])["token_ids"]
    width = inputs["token_ids"].shape[1]
    np.testing.assert_array_equal(tokens[:, :width], inputs["token_ids"])
    logits = model.predict(inputs)
    np.testing.assert_allclose(logits, expected["logits"], rtol=0, atol=1e-4)


def test_a_folder_of_another_model_type_is_refused_in_one_line():
    with pytest.raises(keras_adapters.KerasAdaptersError) as info:
        keras_adapters.load_adapters(
            os.path.join(HERE, "roberta_houlsby"),
            os.path.join(FAMILIES, "distilbert"),
        )
    assert "holds an adapter of a 'roberta' model" in str(info.value)
    assert "\n" not in str(info.value)
