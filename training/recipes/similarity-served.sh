#!/usr/bin/env bash
# Rebuilds running_model/similarity, the served model (weights of 2026-12-01), with today's tools:
# e5 imported; stage 1 (KorSTS + KLUE-STS 90%, train/configs/similarity.json) and stage 2; the
# paraphrase stage (similarity-paraphrases.json) and the 0.3/0.7 average with stage 2 (the
# 2026-11-25 model, "before"); stage D (similarity-ranking.json: + numeral variants and the
# KLUE-NLI ranking loss) and its 0.5/0.5 average with "before" (ranksoup); stages I and J
# (similarity-contrasts.json: + antonym and negation edits in the ranking loss, from "before"
# and from ranksoup); then 0.4 ranksoup + 0.3 I + 0.3 J, scored as served and exported.
# The stages' options are the card's, as run at the time with one switch per source
# (test_mix checks that those switches read as these mix files). A rebuild repeats the recipe,
# not the bytes: checkpoints are now chosen on the mean of overall and fine-grading Spearman.
# Resumable: run it again after an interruption. 5–6 hours on 2 CPU cores (estimated from the
# stages' logged training times: stages I and J took 73 and 47 minutes; never run end to end).
#   training/recipes/similarity-served.sh            # RUNS=... to use another run directory
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-${KOTEXT_RUNS_DIR:-$HOME/.cache/kotext/runs}/similarity-served}
DATA=${KOTEXT_DATA_DIR:-../shared/data}
STAGE=(--freeze_embeddings true --epochs 1 --batch_size 16 --learning_rate 2e-5 --warmup_ratio 0.05
       --evals_per_epoch 4 --checkpoint_every 200)
train() { local out=$1; shift; [ -e "$RUNS/$out/done" ] || $PY -m training.train.finetune --task similarity \
    --resume true --out "$RUNS/$out" "$@"; }
average() { local out=$1; shift; [ -e "$RUNS/$out/config.json" ] || $PY -m training.release.average \
    --out "$RUNS/$out" "$@"; }

[ -e "$RUNS/e5-small-ko" ] || $PY -m training.encoders.import_e5 --out "$RUNS/e5-small-ko"
train stage1 --init "$RUNS/e5-small-ko"
train stage2 --init "$RUNS/stage1/best" --epochs 1 --learning_rate 2e-5 --warmup_ratio 0.05 --seed 43
train paraphrases --init "$RUNS/stage1/best" --mix training/recipes/similarity-paraphrases.json "${STAGE[@]}" --seed 43
average before --models "$RUNS/stage2/best" "$RUNS/paraphrases/best" --weights 0.3 0.7
train ranking --init "$RUNS/before" --mix training/recipes/similarity-ranking.json "${STAGE[@]}" --seed 46
average ranksoup --models "$RUNS/before" "$RUNS/ranking/best" --weights 0.5 0.5
train contrasts-i --init "$RUNS/before" --mix training/recipes/similarity-contrasts.json "${STAGE[@]}" --seed 46
train contrasts-j --init "$RUNS/ranksoup" --mix training/recipes/similarity-contrasts.json "${STAGE[@]}" --seed 47
average lsoup --models "$RUNS/ranksoup" "$RUNS/contrasts-i/best" "$RUNS/contrasts-j/best" --weights 0.4 0.3 0.3

# Scored as the app serves it: both pair orders averaged, a number spelt in words on one side read
# as digits; fp32 and int8 on the attention projections (export keeps int8 only within 0.002).
SERVE=(--symmetric true --align_numbers true)
$PY -m training.release.export --model "$RUNS/lsoup" --out "$RUNS/draft" --name multilingual-e5-small-ko-sts \
    "${SERVE[@]}" --quantize false
score() { local out=$1; shift; [ -s "$out" ] || $PY -m training.evaluate --task similarity --model "$RUNS/draft" \
    "$@" > "$out"; }
for precision in fp32 int8; do
    q=(--quantize false); [ $precision = int8 ] && q=(--quantize true --int8_layers attention)
    plots=(); [ $precision = fp32 ] && plots=(--plots "$RUNS/plots")
    score "$RUNS/korsts-dev-$precision.json" --data "$DATA/korsts/sts-dev.tsv" "${q[@]}" "${plots[@]}"
    score "$RUNS/klue-sts-heldout-$precision.json" --data "$DATA/klue-sts/klue-sts-v1.1_train.csv" --held_out true "${q[@]}"
    score "$RUNS/klue-nli-dev-$precision.json" --data "$DATA/klue-nli/klue-nli-v1.1_dev.json" "${q[@]}"
    score "$RUNS/contrasts-$precision.json" --data "$DATA/korsts/sts-dev.tsv" --contrasts true "${q[@]}"
done
$PY -m training.release.export --model "$RUNS/lsoup" --out running_model/similarity \
    --name multilingual-e5-small-ko-sts "${SERVE[@]}" --int8_layers attention --plots "$RUNS/plots" \
    --summary_ko training/recipes/similarity.summary_ko.json \
    --evaluations "$RUNS"/{korsts-dev,klue-sts-heldout,klue-nli-dev,contrasts}-{fp32,int8}.json \
    --command "training/recipes/similarity-served.sh   # the stages, scoring and this export" \
    --notes "$(cat training/recipes/similarity.notes.md)"
