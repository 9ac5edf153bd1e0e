#!/usr/bin/env bash
# The plain similarity recipe: multilingual-e5-small imported into ELECTRA's classes; one epoch of
# KLUE-NLI train (3-way entailment / neutral / contradiction; only its last checkpoint is kept,
# since KLUE-NLI dev measures the similarity model later); then two epochs on KorSTS train +
# KLUE-STS train's 90% (similarity-plain.json; the other tenth is scored at each evaluation and
# shares checkpoint selection with KorSTS dev); then one epoch of the ranking loss
# (similarity-plain-contrasts.json: a KLUE-NLI entailment above its contradiction, antonym and
# negation edits below the pair as written) and the 0.5/0.5 weight average of the last two stages.
# The NLI stage first beat the same STS stage straight from e5 on every figure; the average keeps
# that model's STS figures and adds KLUE-NLI AUC and the contrasts (docs/experiments.md,
# results/similarity-nli-first.json, results/similarity-nli-first-ranking.json).
# Resumable: run it again after an interruption. About two and a half hours on 2 CPU cores.
#   training/recipes/similarity.sh            # RUNS=... to use another run directory
# The served model comes from another lineage: training/recipes/similarity-served.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-${KOTEXT_RUNS_DIR:-$HOME/.cache/kotext/runs}/similarity}
[ -e "$RUNS/e5-small-ko" ] || $PY -m training.encoders.import_e5 --out "$RUNS/e5-small-ko"
[ -e "$RUNS/nli/done" ] || $PY -m training.train.finetune --task nli --init "$RUNS/e5-small-ko" \
    --freeze_embeddings true --epochs 1 --batch_size 16 --learning_rate 5e-5 --warmup_ratio 0.1 \
    --evals_per_epoch 1 --checkpoint_every 200 --resume true --seed 42 --out "$RUNS/nli"
[ -e "$RUNS/nli-plain/done" ] || $PY -m training.train.finetune --task similarity --init "$RUNS/nli/best" \
    --mix training/recipes/similarity-plain.json --freeze_embeddings true --epochs 2 --batch_size 16 \
    --learning_rate 4e-5 --warmup_ratio 0.1 --evals_per_epoch 2 --checkpoint_every 200 --resume true \
    --seed 42 --out "$RUNS/nli-plain" "$@"
[ -e "$RUNS/nli-plain-contrasts/done" ] || $PY -m training.train.finetune --task similarity \
    --init "$RUNS/nli-plain/best" --mix training/recipes/similarity-plain-contrasts.json --freeze_embeddings true \
    --epochs 1 --batch_size 16 --learning_rate 2e-5 --warmup_ratio 0.05 --evals_per_epoch 2 \
    --checkpoint_every 200 --resume true --seed 46 --out "$RUNS/nli-plain-contrasts"
[ -e "$RUNS/nli-plain-avg/config.json" ] || $PY -m training.release.average \
    --models "$RUNS/nli-plain/best" "$RUNS/nli-plain-contrasts/best" --out "$RUNS/nli-plain-avg"
# A draft as the app serves similarity (both pair orders averaged, a number spelt in words on one
# side read as digits, fp32: int8 costs the served model 0.006 KLUE-NLI AUC), scored through the
# serving predictor on KorSTS dev, the KLUE-STS held-out tenth, KLUE-NLI dev and the contrasts.
DATA=${KOTEXT_DATA_DIR:-../shared/data}
SERVE=(--name multilingual-e5-small-ko-sts --symmetric true --align_numbers true --quantize false)
$PY -m training.release --model "$RUNS/nli-plain-avg" --out "$RUNS/draft-plain" "${SERVE[@]}"
score() { local out=$1; shift; $PY -m training.evaluate --task similarity --model "$RUNS/draft-plain" "$@" > "$out"; }
score $RUNS/similarity-plain-korsts-dev.json --data "$DATA/korsts/sts-dev.tsv" --plots "$RUNS/plots-plain"
score $RUNS/similarity-plain-klue-sts-heldout.json --data "$DATA/klue-sts/klue-sts-v1.1_train.csv" --held_out true
score $RUNS/similarity-plain-klue-nli-dev.json --data "$DATA/klue-nli/klue-nli-v1.1_dev.json"
score $RUNS/similarity-plain-contrasts-korsts-dev.json --data "$DATA/korsts/sts-dev.tsv" --contrasts true
# Not served: against the served model (running_model/similarity, built by the stages its card
# lists, each a finetune with a mix file here) it grades the KLUE-STS tenth better (fine grading
# +0.041), but loses KLUE-NLI AUC (0.697 against 0.748; results/similarity-nli-first-ranking.json).
# To serve a model from this recipe, export it as the draft above into running_model/similarity
# with --summary_ko, --plots "$RUNS/plots-plain", --evaluations and --notes for its card.
