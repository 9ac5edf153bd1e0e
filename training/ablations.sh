#!/usr/bin/env bash
# Choices measured on NSMC dev with a reduced setting (4 layers, 1 epoch on 40,000 training
# reviews, 10,000 dev reviews): cleaning on/off, our WordPiece vocabulary vs the real
# KoELECTRA v1 vocabulary, and distillation from the TF-IDF baseline.
# Results: runs/ablation-*/best/dev_metrics.json
set -euo pipefail
DATA="${KOTEXT_DATA_DIR:-../shared/data}"
PY="${PYTHON:-.venv/bin/python}"
COMMON=(--task sentiment --num_layers 4 --epochs 1 --evals_per_epoch 1 --checkpoint_every 100000
        --max_train_examples 40000 --max_dev_examples 10000 --distill_weight 0)  # config: 0.5
"$PY" -m training.finetune "${COMMON[@]}" --out runs/ablation-wp32k-clean --tokenizer runs/tokenizer-wp32k --clean true
"$PY" -m training.finetune "${COMMON[@]}" --out runs/ablation-wp32k-raw --tokenizer runs/tokenizer-wp32k --clean false
"$PY" -m training.finetune "${COMMON[@]}" --out runs/ablation-kov1-clean --tokenizer "$DATA/vocab/koelectra-v1" --clean true
"$PY" -m training.finetune "${COMMON[@]}" --out runs/ablation-distill --tokenizer runs/tokenizer-wp32k --distill_weight 0.5
"$PY" -m training.finetune "${COMMON[@]}" --out runs/ablation-distill09 --tokenizer runs/tokenizer-wp32k --distill_weight 0.9
for run in runs/ablation-*/best; do echo "$run $(tr -d '\n ' < "$run/dev_metrics.json")"; done
