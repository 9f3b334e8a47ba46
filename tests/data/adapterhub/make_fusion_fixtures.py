"""Makes the AdapterFusion fixtures of tests/adapterhub/ with AdapterHub itself.

Run in the peer environment (torch, adapters 1.3.0, transformers 4.57.6),
from the repository root, after `make_fixtures.py` (it reuses its `base/`):

    .peer_venv/bin/python tests/data/adapterhub/make_fusion_fixtures.py

For each case of `CASES` it writes, next to itself, `<case>/`: two adapters
(`<case>/a`, `<case>/b`, saved with `save_adapter`, no head,
safetensors) trained one
after the other, and `<case>/fusion`: the AdapterFusion over both with its
head, trained a few steps with `train_adapter_fusion`, its value matrix
then moved off the identity so that every part of the layer matters, saved
with `save_adapter_fusion(..., with_head=True)`; and `fusion_expected.json`:
the logits AdapterHub computes after loading the three folders back.

Everything is seeded; a second run writes the same numbers.
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
from adapters.composition import Fuse
from make_fixtures import BASE
from make_fixtures import HERE
from make_fixtures import LABELS
from make_fixtures import SENTENCES
from make_fixtures import train

ADAPTERS = ("a", "b")
HEAD = {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}}
CASES = {
    "fusion_pfeiffer": SeqBnConfig(reduction_factor=16),
    "fusion_houlsby": DoubleSeqBnConfig(reduction_factor=16),
}


def train_fusion(folder, adapter_config, batch):
    os.makedirs(folder)
    model = AutoAdapterModel.from_pretrained(BASE)
    for seed, name in enumerate(ADAPTERS):
        single = train(name, adapter_config, HEAD, seed + 10, batch)
        single.save_adapter(
            os.path.join(folder, name),
            name,
            with_head=False,
            use_safetensors=True,
        )
        name_relatively(os.path.join(folder, name), ("adapter_config.json",))
        model.load_adapter(
            os.path.join(folder, name), with_head=False, use_safetensors=True
        )
    torch.manual_seed(3)
    fuse = Fuse(*ADAPTERS)
    model.add_adapter_fusion(fuse, "dynamic")
    model.add_classification_head("a,b", **HEAD)
    model.train_adapter_fusion(fuse)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=2e-2
    )
    labels = torch.tensor(LABELS)
    model.train()
    for _ in range(10):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "adapter_fusion_layer" in name and name.endswith("value.weight"):
                parameter.add_(torch.randn_like(parameter) * 0.2)
    model.eval()
    target = os.path.join(folder, "fusion")
    model.save_adapter_fusion(
        target, "a,b", with_head=True, use_safetensors=True
    )
    name_relatively(target, ("adapter_fusion_config.json", "head_config.json"))
    with torch.no_grad():
        return model(**batch).logits.numpy()


def name_relatively(folder, names):
    """AdapterHub records the base's path as `model_name`; the fixtures
    record it relative to the repository, as `make_fixtures.py` does."""
    for name in names:
        path = os.path.join(folder, name)
        with open(path) as handle:
            config = json.load(handle)
        if "model_name" in config:
            config["model_name"] = os.path.relpath(BASE, os.getcwd())
        with open(path, "w") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)


def logits_after_loading(folder, batch):
    model = AutoAdapterModel.from_pretrained(BASE).eval()
    for name in ADAPTERS:
        model.load_adapter(
            os.path.join(folder, name), with_head=False, use_safetensors=True
        )
    model.load_adapter_fusion(
        os.path.join(folder, "fusion"), with_head=True, use_safetensors=True
    )
    model.set_active_adapters(Fuse(*ADAPTERS))
    model.active_head = "a,b"
    with torch.no_grad():
        return model(**batch).logits.numpy()


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = transformers.BertTokenizer.from_pretrained(BASE)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    expected = {}
    for case, adapter_config in CASES.items():
        folder = os.path.join(HERE, case)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        trained = train_fusion(folder, adapter_config, batch)
        logits = logits_after_loading(folder, batch)
        np.testing.assert_allclose(logits, trained, rtol=0, atol=1e-6)
        expected[case] = logits.tolist()
        print(f"{case}: logits {np.round(logits[:2], 4).tolist()} ...")
    with open(os.path.join(HERE, "fusion_expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)


if __name__ == "__main__":
    main()
