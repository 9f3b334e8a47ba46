"""AdapterHub's side of `adapterhub_exactness.py`, in this process.

Runs with `.peer_venv/bin/python` (made by `benchmarks/peer_env.py`):
torch 2.13.0 CPU, adapters 1.3.0, transformers 4.57.6.

    # Train an adapter + head a few steps, save the folder, give its logits:
    .peer_venv/bin/python benchmarks/peer_exactness.py --train \\
        --config=double_seq_bn --weights_format=bin --folder=DIR --preset=M
    # Load a folder written elsewhere (keras_adapters), give its logits:
    .peer_venv/bin/python benchmarks/peer_exactness.py --folder=DIR \\
        --weights_format=safetensors --preset=M

Training: `peer_model.adapter_classifier` with AdapterHub's own `--config`
and its default classification head (two dense layers on [CLS]),
`train_adapter`, `AdamW(lr=1e-3)`, `--train_examples` CoLA training
sentences in batches of `--batch` padded to their longest, one pass; then
`save_adapter(folder, name, with_head=True, use_safetensors=...)`. The
logits are always those of a fresh model that loaded the folder with
`load_adapter` (the path a user takes), on the first `--eval_examples` CoLA
dev sentences in file order, in batches of 64 padded to their longest.

Prints one line `RESULT {json}` with the logits (and, with `--train`, the
largest difference between the trained model's logits and the reloaded
one's).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--config", default="double_seq_bn")
    parser.add_argument(
        "--weights_format", choices=("bin", "safetensors"), required=True
    )
    parser.add_argument("--preset", required=True)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--train_examples", type=int, default=256)
    parser.add_argument("--eval_examples", type=int, default=1043)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


ARGS = parse_args()
_common.set_thread_env(ARGS.threads)

import torch  # noqa: E402
import transformers  # noqa: E402
from adapters import AutoAdapterModel  # noqa: E402
from peer_model import HEAD  # noqa: E402
from peer_model import adapter_classifier  # noqa: E402

torch.set_num_threads(ARGS.threads)


def logits_of(model, tokenizer, sentences, batch=64):
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(sentences), batch):
            inputs = tokenizer(
                sentences[start : start + batch],
                padding=True,
                return_tensors="pt",
            )
            outputs.append(model(**inputs).logits)
    return torch.cat(outputs).numpy()


def train(args, tokenizer):
    model = adapter_classifier(
        args.preset, 0, args.seed, config=args.config, head={}
    )
    sentences, labels = _common.read_cola(
        args.glue_dir, "train", args.train_examples
    )
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-3)
    model.train()
    for start in range(0, len(sentences), args.batch):
        batch = tokenizer(
            sentences[start : start + args.batch],
            padding=True,
            return_tensors="pt",
        )
        batch["labels"] = torch.tensor(labels[start : start + args.batch])
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()
    model.save_adapter(
        args.folder,
        HEAD,
        with_head=True,
        use_safetensors=args.weights_format == "safetensors",
    )
    return model, sum(p.numel() for p in trained)


def main():
    args = ARGS
    transformers.logging.set_verbosity_error()
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.preset)
    sentences, _ = _common.read_cola(args.glue_dir, "dev", args.eval_examples)
    result = {}
    if args.train:
        model, trained = train(args, tokenizer)
        result["trained_parameters"] = trained
        trained_logits = logits_of(model, tokenizer, sentences)
    model = AutoAdapterModel.from_pretrained(args.preset)
    name = model.load_adapter(
        args.folder,
        with_head=True,
        use_safetensors=args.weights_format == "safetensors",
    )
    model.set_active_adapters(name)
    logits = logits_of(model, tokenizer, sentences)
    if args.train:
        result["reload_max_abs_diff"] = float(
            abs(logits - trained_logits).max()
        )
    result["logits"] = logits.tolist()
    _common.emit(result)


if __name__ == "__main__":
    main()
