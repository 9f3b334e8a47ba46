#!/bin/sh
# The GLUE accuracy sweep behind benchmarks/results/accuracy.md, in the
# order it ran (every command resumes: a finished run's JSON is skipped).
# Training wall time on 2 cores: each JSON's per_epoch train_seconds and
# wall_seconds. Then:
#   python benchmarks/accuracy_report.py
#   python benchmarks/adapter_ablation.py --artifact "$KEEP/<run>/adapters"
set -e
cd "$(dirname "$0")/.."
KEEP=${KEEP:-/tmp/keras_adapters_keep}
sweep() { python benchmarks/glue_accuracy.py --keep_dir "$KEEP" "$@"; }

# The original recipe (frozen pooler), then full fine-tuning:
sweep --task CoLA --epochs 5 --runs adapters-64:1e-3
sweep --task CoLA --epochs 3 --runs full:5e-5
# MiniLM's pooler was never trained (weights std 0.009, pooled outputs ~0.05):
# does training it help?
sweep --task CoLA --epochs 5 --runs adapters-64+pooler:1e-3
# Adapter gradients of MiniLM are ~1e-7 (median), below the original Adam
# epsilon of 1e-6: the same recipe with epsilon 1e-8.
sweep --task CoLA --epochs 5 --adam_epsilon 1e-8 --runs adapters-64:1e-3
# The other tasks, with the original recipe:
sweep --task SST-2 --epochs 3 --max_train_examples 8000 --runs adapters-64:1e-3,full:5e-5
sweep --task MRPC --epochs 5 --runs adapters-64:1e-3
sweep --task MRPC --epochs 3 --runs full:5e-5
