"""Makes AdapterHub folders on the tiny RoBERTa and DistilBERT checkpoints.

Run in the peer environment (torch, adapters 1.3.0, transformers 4.57;
`python benchmarks/peer_env.py` builds it) after
`tests/data/families/make_fixtures.py`, from the repository root:

    .peer_venv/bin/python tests/data/families/adapterhub/make_fixtures.py

For each case of `CASES` it adds an adapter and a classification head to
the base folder with AdapterHub, trains them for a few steps with
`train_adapter`, saves them with `save_adapter(..., with_head=True)` into a
folder next to itself, and records in `expected.json` the token ids of
`SENTENCES` and the logits AdapterHub computes after loading the folder
back onto the base. Everything is seeded; a second run writes the same
numbers.
"""

import json
import os
import shutil

import numpy as np
import torch
import transformers
from adapters import AutoAdapterModel
from adapters import DoubleSeqBnConfig
from adapters import SeqBnConfig

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = os.path.dirname(HERE)
SENTENCES = [
    "The cat sat on the mat.",
    "He gave her the ball.",
    "We saw the film that you liked.",
    "The film was long and dull.",
]
LABELS = [1, 0, 1, 0]
# name: (base folder, adapter config).
CASES = {
    "roberta_houlsby": ("roberta", DoubleSeqBnConfig(reduction_factor=4)),
    "distilbert_pfeiffer": ("distilbert", SeqBnConfig(reduction_factor=4)),
}


def train(base, case, adapter_config, batch, seed):
    torch.manual_seed(seed)
    model = AutoAdapterModel.from_pretrained(base)
    model.add_adapter(case, config=adapter_config)
    model.add_classification_head(case, num_labels=2)
    model.train_adapter(case)
    model.set_active_adapters(case)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=2e-2
    )
    model.train()
    for _ in range(10):
        loss = model(**batch, labels=torch.tensor(LABELS)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def main():
    transformers.logging.set_verbosity_error()
    expected = {"sentences": SENTENCES}
    for seed, (case, (family, adapter_config)) in enumerate(CASES.items()):
        base = os.path.join(FAMILIES, family)
        tokenizer = transformers.AutoTokenizer.from_pretrained(base)
        batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
        batch.pop("token_type_ids", None)
        folder = os.path.join(HERE, case)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        model = train(base, case, adapter_config, batch, seed)
        model.save_adapter(folder, case, with_head=True, use_safetensors=True)
        for name in ("adapter_config.json", "head_config.json"):
            path = os.path.join(folder, name)
            with open(path) as handle:
                config = json.load(handle)
            # The base's path, relative to the repository.
            config["model_name"] = os.path.relpath(base, os.getcwd())
            with open(path, "w") as handle:
                json.dump(config, handle, indent=2, sort_keys=True)
        reloaded = AutoAdapterModel.from_pretrained(base).eval()
        name = reloaded.load_adapter(
            folder, with_head=True, use_safetensors=True
        )
        reloaded.set_active_adapters(name)
        with torch.no_grad():
            logits = reloaded(**batch).logits.numpy()
            trained = model(**batch).logits.numpy()
        np.testing.assert_allclose(logits, trained, rtol=0, atol=1e-6)
        expected[case] = {
            "token_ids": batch["input_ids"].tolist(),
            "padding_mask": batch["attention_mask"].tolist(),
            "logits": logits.tolist(),
        }
        print(f"{case}: logits {np.round(logits[:2], 4).tolist()}")
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)


if __name__ == "__main__":
    main()
