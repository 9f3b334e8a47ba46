#!/bin/sh
# The GLUE accuracy sweep behind benchmarks/results/accuracy.md, in the
# order it ran (most informative first; every command resumes: a finished
# run's JSON is skipped). Wall time on 2 cores: see each JSON's per_epoch
# train_seconds and wall_seconds. Then:
#   python benchmarks/accuracy_report.py
#   python benchmarks/adapter_ablation.py \
#       --artifact /tmp/keras_adapters_keep/adapters-64_lr0.001_seed1_ep5/adapters
set -e
cd "$(dirname "$0")/.."
KEEP=${KEEP:-/tmp/keras_adapters_keep}
sweep() { python benchmarks/glue_accuracy.py --keep_dir "$KEEP" "$@"; }

sweep --task CoLA --epochs 5 --runs adapters-64:1e-3
sweep --task CoLA --epochs 3 --runs full:5e-5
sweep --task MRPC --epochs 5 --runs adapters-64:1e-3
sweep --task MRPC --epochs 3 --runs full:5e-5
sweep --task SST-2 --epochs 3 --max_train_examples 8000 --runs adapters-64:1e-3,full:5e-5
sweep --task CoLA --epochs 5 --runs adapters-64:3e-3,layer_norm:3e-3
sweep --task CoLA --epochs 3 --runs full:1e-4
sweep --task CoLA --epochs 5 --runs adapters-8:3e-3,adapters-256:1e-3,adapters-64+pooler:1e-3
sweep --task CoLA --epochs 3 --runs top_k-2:1e-4
sweep --task MRPC --epochs 5 --runs adapters-64:3e-3
sweep --task MRPC --epochs 3 --runs full:1e-4
