"""Makes the AdapterHub fixtures of tests/adapterhub/ with AdapterHub itself.

Run in the peer environment (torch, adapters 1.3.0, transformers 4.57.6;
`python benchmarks/peer_env.py` builds it), from the repository root:

    .peer_venv/bin/python tests/data/adapterhub/make_fixtures.py

It writes, next to itself:

- `base/`: a tiny random BERT in Hugging Face layout (hidden 32, 2 blocks,
  `hidden_act` "gelu", a 60-word uncased vocabulary);
- one AdapterHub folder per case (`CASES`), each an adapter and a
  classification head added by AdapterHub, trained for a few steps with
  `train_adapter` and saved with `save_adapter(..., with_head=True)`;
  `legacy_pfeiffer/` is rewritten as adapter-transformers wrote folders
  (old weight names, no `version`, "gelu" meaning the tanh GELU, an unused
  invertible-adapter entry, the legacy pickle format, `BertModelWithHeads`)
  and checked to load in AdapterHub 1.3.0 with unchanged logits;
- `expected.json`: the sentences, AdapterHub's token ids and, per folder,
  the logits AdapterHub computes after loading the folder back.

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

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "base")
SENTENCES = [
    "The cat sat on the mat.",
    "Him the ball gave she.",
    "We saw the film that you liked.",
    "Which book did you read it?",
    "She is taller than her brother.",
    "Books were by the students read.",
    "The old dog slept in the sun.",
    "What did the dog eat the bone?",
]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORD_PIECES = ["tall", "##er", "##s", "liked", "like"]
# name: (adapter config, weights format, head arguments, folder changes).
CASES = {
    "houlsby_bin": (
        DoubleSeqBnConfig(reduction_factor=4),
        "bin",
        {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}},
    ),
    "houlsby_safetensors": (
        DoubleSeqBnConfig(reduction_factor=4),
        "safetensors",
        {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}},
    ),
    "pfeiffer_bin": (
        SeqBnConfig(reduction_factor=4),
        "bin",
        {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}},
    ),
    "pfeiffer_safetensors": (
        SeqBnConfig(reduction_factor=4),
        "safetensors",
        {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}},
    ),
    # Adapters in the top block only, a one-layer head on the pooler,
    # three classes.
    "houlsby_leave_out_pooler": (
        DoubleSeqBnConfig(reduction_factor=8, leave_out=[0]),
        "safetensors",
        {
            "num_labels": 3,
            "layers": 1,
            "use_pooler": True,
            "id2label": {0: "a", 1: "b", 2: "c"},
        },
    ),
    "legacy_pfeiffer": (
        SeqBnConfig(reduction_factor=4, non_linearity="gelu_new"),
        "bin",
        {"num_labels": 2, "id2label": {0: "unacceptable", 1: "acceptable"}},
    ),
}
# What adapter-transformers 1.x wrote: the config keys it knew.
LEGACY_CONFIG_KEYS = (
    "original_ln_before",
    "original_ln_after",
    "residual_before_ln",
    "adapter_residual_before_ln",
    "ln_before",
    "ln_after",
    "mh_adapter",
    "output_adapter",
    "non_linearity",
    "reduction_factor",
    "leave_out",
)


def write_base():
    words = sorted(
        {
            piece
            for sentence in SENTENCES
            for piece in sentence.lower()
            .replace(".", " .")
            .replace("?", " ?")
            .split()
        }
        - {"taller", "books", "liked"}
    )
    vocab = SPECIAL + words + WORD_PIECES
    if os.path.isdir(BASE):
        shutil.rmtree(BASE)
    os.makedirs(BASE)
    with open(os.path.join(BASE, "vocab.txt"), "w") as handle:
        handle.write("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(
        os.path.join(BASE, "vocab.txt"), do_lower_case=True
    )
    tokenizer.save_pretrained(BASE)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_act="gelu",
    )
    model = transformers.BertModel(config)
    # Larger weights than BERT's 0.02 init, so that every part matters.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.2)
    model.save_pretrained(BASE)
    return tokenizer


def train(case, adapter_config, head, seed, batch):
    torch.manual_seed(seed)
    model = AutoAdapterModel.from_pretrained(BASE)
    model.add_adapter(case, config=adapter_config)
    model.add_classification_head(case, **head)
    model.train_adapter(case)
    model.set_active_adapters(case)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=2e-2
    )
    labels = torch.tensor([label % head["num_labels"] for label in LABELS])
    model.train()
    for _ in range(10):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def name_base_relatively(folder):
    """AdapterHub records the base's path as `model_name`; the fixtures
    record it relative to the repository, as on any machine."""
    for name in ("adapter_config.json", "head_config.json"):
        path = os.path.join(folder, name)
        with open(path) as handle:
            config = json.load(handle)
        config["model_name"] = os.path.relpath(BASE, os.getcwd())
        with open(path, "w") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)


def logits_after_loading(folder, batch, use_safetensors):
    model = AutoAdapterModel.from_pretrained(BASE).eval()
    name = model.load_adapter(
        folder, with_head=True, use_safetensors=use_safetensors
    )
    model.set_active_adapters(name)
    with torch.no_grad():
        return model(**batch).logits.numpy()


def make_legacy(folder):
    """Rewrites an AdapterHub 1.3.0 folder as adapter-transformers 1.x
    wrote it."""
    path = os.path.join(folder, "adapter_config.json")
    with open(path) as handle:
        config = json.load(handle)
    adapter = {key: config["config"][key] for key in LEGACY_CONFIG_KEYS}
    assert adapter["non_linearity"] == "gelu_new"
    adapter["non_linearity"] = "gelu"  # Read as gelu_new without version.
    adapter["invertible_adapter"] = {
        "block_type": "nice",
        "non_linearity": "relu",
        "reduction_factor": 2,
    }
    legacy = {
        "config": adapter,
        "hidden_size": config["hidden_size"],
        "model_name": "bert-base-uncased",
        "model_type": "bert",
        "name": config["name"],
        "type": "text_task",
    }
    with open(path, "w") as handle:
        json.dump(legacy, handle, indent=2, sort_keys=True)
    weights = os.path.join(folder, "pytorch_adapter.bin")
    state = torch.load(weights, weights_only=True)
    assert not any(".attention." in name for name in state)  # Pfeiffer.
    state = {
        name.replace(".adapters.", ".layer_text_task_adapters."): value
        for name, value in state.items()
    }
    torch.save(state, weights, _use_new_zipfile_serialization=False)
    head_path = os.path.join(folder, "head_config.json")
    with open(head_path) as handle:
        head = json.load(handle)
    head["config"] = {
        key: head["config"][key]
        for key in (
            "head_type",
            "num_labels",
            "layers",
            "activation_function",
            "label2id",
            "use_pooler",
        )
    }
    head["model_class"] = "BertModelWithHeads"
    del head["version"]
    with open(head_path, "w") as handle:
        json.dump(head, handle, indent=2, sort_keys=True)


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = write_base()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    expected = {
        "sentences": SENTENCES,
        "token_ids": batch["input_ids"].tolist(),
        "padding_mask": batch["attention_mask"].tolist(),
        "logits": {},
    }
    for seed, (case, (config, weights_format, head)) in enumerate(
        CASES.items()
    ):
        folder = os.path.join(HERE, case)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        model = train(case, config, head, seed, batch)
        use_safetensors = weights_format == "safetensors"
        model.save_adapter(
            folder, case, with_head=True, use_safetensors=use_safetensors
        )
        with torch.no_grad():
            trained = model(**batch).logits.numpy()
        name_base_relatively(folder)
        if case.startswith("legacy"):
            make_legacy(folder)
        logits = logits_after_loading(folder, batch, use_safetensors)
        np.testing.assert_allclose(logits, trained, rtol=0, atol=1e-6)
        expected["logits"][case] = logits.tolist()
        print(f"{case}: logits {np.round(logits[:2], 4).tolist()} ...")
    # An adapter saved without its head.
    folder = os.path.join(HERE, "houlsby_no_head")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    shutil.copytree(os.path.join(HERE, "houlsby_safetensors"), folder)
    for name in ("head_config.json", "model_head.safetensors"):
        os.remove(os.path.join(folder, name))
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)


if __name__ == "__main__":
    main()
