#!/usr/bin/env bash
# The plain similarity recipe: multilingual-e5-small imported into ELECTRA's classes, then two
# epochs on KorSTS train + KLUE-STS train's 90% (similarity-plain.json; the other tenth is scored
# at each evaluation and shares checkpoint selection with KorSTS dev). Resumable: run it again
# after an interruption. About an hour on 2 CPU cores.
#   training/recipes/similarity.sh            # RUNS=... to use another run directory
# The served model's later stages are the same command with another mix and start
# (running_model/similarity/README.md): similarity-paraphrases.json (stage "paraqu"),
# similarity-ranking.json (stage D), similarity-contrasts.json (stages I and J).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-${KOTEXT_RUNS_DIR:-$HOME/.cache/kotext/runs}/similarity}
[ -e "$RUNS/e5-small-ko" ] || $PY -m training.encoders.import_e5 --out "$RUNS/e5-small-ko"
$PY -m training.train.finetune --task similarity --init "$RUNS/e5-small-ko" \
    --mix training/recipes/similarity-plain.json --freeze_embeddings true --epochs 2 --batch_size 16 \
    --learning_rate 4e-5 --warmup_ratio 0.1 --evals_per_epoch 2 --checkpoint_every 200 --resume true \
    --seed 42 --out "$RUNS/plain" "$@"
# TODO (export): evaluate $RUNS/plain/best through the predictor (training.evaluate.score, both pair
# orders) and release it with training.release.export --symmetric true, as the sentiment recipe does.
