#!/bin/sh
# The GLUE accuracy runs behind benchmarks/results/accuracy.md, in the order
# they ran on 2 cores (2026-11-26). Every command resumes: a run whose JSON
# exists is skipped. Training wall time: each JSON's per_epoch train_seconds
# (runs marked "alongside" shared the cores with another run, so their
# times are inflated). Then:
#   python benchmarks/accuracy_report.py
#   python benchmarks/adapter_ablation.py \
#       --artifact "$KEEP/adapters-64_lr0.001_seed1_ep3_keras_adamw/adapters"
set -e
cd "$(dirname "$0")/.."
KEEP=${KEEP:-/tmp/keras_adapters_keep}
sweep() { python benchmarks/glue_accuracy.py --keep_dir "$KEEP" "$@"; }

# CoLA, the original recipe (frozen pooler, AdamWeightDecay eps 1e-6,
# warm-up 10 % + linear decay), then full fine-tuning:
sweep --task CoLA --epochs 5 --runs adapters-64:1e-3
sweep --task CoLA --epochs 3 --runs full:5e-5
# MiniLM's pooler was never trained (weights std 0.009): does training it help?
sweep --task CoLA --epochs 5 --runs adapters-64+pooler:1e-3
# Adapter gradients of MiniLM are ~1e-7 (median), below the original
# epsilon of 1e-6: the same recipe with epsilon 1e-8.
sweep --task CoLA --epochs 5 --adam_epsilon 1e-8 --runs adapters-64:1e-3
# Keras' AdamW (bias-corrected), no warm-up (alongside the next runs):
sweep --task CoLA --epochs 3 --optimizer keras_adamw --runs adapters-64:1e-3
# A lower rate with the original optimizer (alongside the SST-2 runs):
sweep --task CoLA --epochs 5 --runs adapters-64:3e-4
# The other tasks, original recipe (SST-2: first 8,000 training rows):
sweep --task SST-2 --epochs 3 --max_train_examples 8000 --runs adapters-64:1e-3,full:5e-5
# MRPC at 1e-3 (5 epochs) sat at the majority class after 2 epochs (F1 81.2,
# accuracy 68.4) and was stopped; 3e-4, as on CoLA, alongside full:
sweep --task MRPC --epochs 3 --runs adapters-64:3e-4
sweep --task MRPC --epochs 3 --runs full:5e-5
# Second session (2026-11-26, each run alone on the cores): the adapter
# runs at 3e-4 were still rising at their last epoch, so 10 epochs (the
# paper trains small tasks up to 20); then the other tuning modes and sizes.
sweep --task CoLA --epochs 10 --runs adapters-64:3e-4
sweep --task MRPC --epochs 10 --runs adapters-64:3e-4
sweep --task CoLA --epochs 5 --runs layer_norm:1e-3,top_k-2:5e-5
sweep --task CoLA --epochs 5 --runs adapters-8:3e-4,adapters-256:3e-4
# Full fine-tuning at the top of its grid (after the SQuAD runs):
sweep --task CoLA --epochs 3 --runs full:1e-4
# LayerNorm-only on MRPC (3 epochs; the session ended before longer runs):
sweep --task MRPC --epochs 3 --runs layer_norm:1e-3
# Third session (2026-11-26): the other tuning modes on the other tasks, a
# second seed on CoLA, and the top of the adapters' grid. Each run alone on
# the cores, except that the MRPC and SST-2 LayerNorm runs shared them with
# a few minutes of tests (their minutes are slightly inflated).
sweep --task MRPC --epochs 3 --runs top_k-2:5e-5
sweep --task SST-2 --epochs 3 --max_train_examples 8000 --runs layer_norm:1e-3,top_k-2:5e-5
sweep --task CoLA --epochs 10 --seeds 2 --runs adapters-64:3e-4
sweep --task CoLA --epochs 3 --seeds 2 --runs full:5e-5
sweep --task CoLA --epochs 5 --runs adapters-64:3e-3
