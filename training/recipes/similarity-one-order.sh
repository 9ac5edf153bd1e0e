#!/usr/bin/env bash
# One forward pass per pair: a student taught to read, in one pair order, what its teacher reads as
# the mean of both orders (training.train.pair_targets). The teacher is the similarity model served
# at commit $TEACHER_COMMIT (both orders, "symmetric": true); it scores 32,398 training pairs in both
# orders (KorSTS train, KLUE-STS train's 90%, 4,000 KLUE-NLI premises with an entailed and a
# contradicted hypothesis, contrast edits, question pairs; 14 min on 2 CPU cores). The student starts
# from the teacher's weights and trains one epoch on those scores, each pair in one order drawn at
# random (about 35 min). Resumable: run it again after an interruption.
#   training/recipes/similarity-one-order.sh       # RUNS=... another run directory
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-${KOTEXT_RUNS_DIR:-$HOME/.cache/kotext/runs}/similarity}
TEACHER_COMMIT=${TEACHER_COMMIT:-02a6f32}
TEACHER=$RUNS/teacher-$TEACHER_COMMIT
if [ ! -e "$TEACHER/serving.json" ]; then
    mkdir -p "$TEACHER"
    git archive "$TEACHER_COMMIT" running_model/similarity | tar -x -C "$TEACHER" --strip-components 2
fi
[ -s "$RUNS/pair-targets.tsv" ] || $PY -m training.train.pair_targets --teacher "$TEACHER" --out "$RUNS/pair-targets.tsv"
MIX="{\"train\": [{\"source\": \"teacher_pairs\", \"path\": \"$RUNS/pair-targets.tsv\"}, {\"source\": \"klue_sts\", \"train\": false}]}"
[ -e "$RUNS/one-order/done" ] || $PY -m training.train.finetune --task similarity --init "$TEACHER" --mix "$MIX" \
    --freeze_embeddings true --epochs 1 --batch_size 16 --learning_rate 2e-5 --warmup_ratio 0.05 \
    --evals_per_epoch 2 --checkpoint_every 200 --resume true --seed 42 --out "$RUNS/one-order" "$@"
# A draft served in one pair order ("symmetric": false), numbers aligned, fp32, scored through the
# serving predictor on KorSTS dev, the KLUE-STS held-out tenth, KLUE-NLI dev, the contrasts and the
# question-pair dev file, then compared with the teacher as it was served (training.evaluate.compare).
DATA=${KOTEXT_DATA_DIR:-../shared/data}
$PY -m training.release --model "$RUNS/one-order/best" --out "$RUNS/draft-one-order" \
    --name multilingual-e5-small-ko-sts --symmetric false --align_numbers true --quantize false
score() {
    local model=$1 name=$2; shift 2
    [ -s "$RUNS/$name.json" ] || $PY -m training.evaluate --task similarity --model "$model" "$@" \
        --save_outputs "$RUNS/$name-outputs.json" > "$RUNS/$name.json"
}
for who in teacher student; do
    model=$([ $who = teacher ] && echo "$TEACHER" || echo "$RUNS/draft-one-order")
    score "$model" $who-korsts-dev --data "$DATA/korsts/sts-dev.tsv"
    score "$model" $who-klue-sts-heldout --data "$DATA/klue-sts/klue-sts-v1.1_train.csv" --held_out true
    score "$model" $who-klue-nli-dev --data "$DATA/klue-nli/klue-nli-v1.1_dev.json"
    score "$model" $who-question-pair-dev --data "$DATA/extra/question-pair/dev.tsv"
    score "$model" $who-contrasts --data "$DATA/korsts/sts-dev.tsv" --contrasts true
done
for set in korsts-dev klue-sts-heldout klue-nli-dev question-pair-dev; do
    $PY -m training.evaluate.compare --a "$RUNS/teacher-$set-outputs.json" --b "$RUNS/student-$set-outputs.json" \
        > "$RUNS/compare-one-order-$set.json"
done
# To serve it, export the draft's weights into running_model/similarity the same way, with the
# evaluations, --plots, --summary_ko and --notes for its card (running_model/similarity/README.md).
