#!/usr/bin/env bash
# Issue 12's recipe: the imported e5 encoder fine-tuned on NSMC, then self-training on the 629k
# unlabeled reviews, in order:
#   0. (GPU) domain-adaptive masked-LM training of the encoder on the reviews    training.dapt
#   1. the word + char n-gram teacher, fitted on the train split                  training.ngram
#   2. round 0: fine-tune the encoder on gold labels (GPU: + n-gram distillation) training.finetune
#   3. score the teacher ensemble (model + n-gram) on dev                         training.teacher
#   4. pseudo-label the corpus with the ensemble                                  training.pseudolabel
#   5. a student on gold + soft labels (GPU: from the encoder; CPU: from its teacher) training.finetune
#   6. repeat 4–5 with the student as the next teacher while dev improves
#   7. test, once per kept candidate                                              training.evaluate / teacher
#
#   MODE=cpu training/selftrain.sh     # 2 cores: the run measured in the README, ~2 h a round
#   MODE=gpu training/selftrain.sh     # one or more GPUs (accelerate launch; bf16 where supported)
#
# Knobs (environment): ROUNDS (3), RUNS (runs/selftrain), RESULTS (results), ENCODER
# (runs/e5-small-ko, or the DAPT encoder), DAPT (GPU: 1 runs step 0), FINETUNE, PSEUDO and STUDENT
# (the settings below), EXTRA (added to every fine-tuning run, e.g. to shrink a smoke run),
# KOTEXT_DATA_DIR (the data root, as everywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-cpu}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-runs/selftrain}
ENCODER=${ENCODER:-runs/e5-small-ko}
EXTRA=${EXTRA:-}
PY=${PY:-.venv/bin/python}
RESULTS=${RESULTS:-results}
mkdir -p "$RUNS" "$RESULTS"

if [ "$MODE" = gpu ]; then
    RUN=".venv/bin/accelerate launch -m"     # one process per visible GPU (accelerate config or defaults)
    FINETUNE=${FINETUNE:-"--batch_size 32 --learning_rate 5e-5 --epochs 3 --evals_per_epoch 4 --checkpoint_every 1000"}
    DISTILL=${DISTILL:-"--distill_weight 0.5 --distill_teacher word_char"}
    PSEUDO=${PSEUDO:-"--batch_size 256"}     # every review: the soft labels carry the doubt
    STUDENT=${STUDENT:-"--epochs 2"}
    STUDENT_FROM=encoder                     # each student starts again from the encoder
    if [ "${DAPT:-1}" = 1 ]; then
        $RUN training.dapt --init "$ENCODER" --out "$RUNS/dapt" --max_steps 10000 --batch_size 64
        ENCODER="$RUNS/dapt/encoder"         # keep only if round 0 from it beats round 0 from e5 on dev
    fi
else
    RUN="$PY -m"
    # What ran on 2 cores (README): bf16 autocast (~47 reviews/s), one epoch of the 120k-review
    # train split in ~45 min; no n-gram distillation (its out-of-fold fits would add five n-gram fits).
    FINETUNE=${FINETUNE:-"--batch_size 32 --learning_rate 5e-5 --epochs 1 --max_length 128 --mixed_precision bf16 --evals_per_epoch 2 --checkpoint_every 500"}
    DISTILL=${DISTILL:-"--distill_weight 0"}
    PSEUDO=${PSEUDO:-"--max_lines 40000 --batch_size 128"}     # a 40k sample, all kept with soft labels
    # A fresh student epoch would cost the whole budget again, so on a CPU the student continues
    # from its teacher (one more epoch over gold + soft labels, a lower learning rate).
    STUDENT=${STUDENT:-"--learning_rate 3e-5 --warmup_ratio 0.05 --seed 43 --evals_per_epoch 1 --pseudo_weight 1.0"}
    STUDENT_FROM=teacher
fi
COMMON="--task sentiment $DISTILL $FINETUNE $EXTRA"

dev_score() {  # the dev selection score of a finished run
    $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['selection'])" "$1/best/dev_metrics.json"
}

# 1. The n-gram teacher (minutes on a CPU).
$PY -m training.ngram --out "$RUNS/ngram.joblib" | tee "$RESULTS/selftrain-ngram-dev.json"

# 2. Round 0: fine-tune alone (gold labels; on a GPU also n-gram distillation out of fold).
$RUN training.finetune $COMMON --init "$ENCODER" --out "$RUNS/round0" --resume true
teacher="$RUNS/round0"
best=$(dev_score "$teacher")

# 3. The teacher ensemble on dev: is the mean better than the model alone?
$PY -m training.teacher --teacher "$teacher/best" --ngram "$RUNS/ngram.joblib" --data dev \
    | tee "$RESULTS/selftrain-round0-ensemble-dev.json"

for round in $(seq 1 "$ROUNDS"); do
    # 4. Soft labels for the corpus from the current teacher ensemble.
    # (a new --max_lines sample each round: seed 42, 43, …)
    $RUN training.pseudolabel --teacher "$teacher/best" --ngram "$RUNS/ngram.joblib" \
        --out "$RUNS/pseudo$round.tsv" --seed $((41 + round)) $PSEUDO
    # 5. A student on gold + soft labels, from the encoder or (CPU) from its teacher.
    if [ "$STUDENT_FROM" = teacher ]; then init="$teacher/best"; else init="$ENCODER"; fi
    $RUN training.finetune $COMMON --pseudo_weight 0.5 $STUDENT --init "$init" \
        --pseudo_labels "$RUNS/pseudo$round.tsv" --out "$RUNS/round$round" --resume true
    score=$(dev_score "$RUNS/round$round")
    echo "round $round: dev $score (teacher $best)"
    # 6. Keep going only while dev improves.
    if ! $PY -c "import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))" "$score" "$best"; then
        break
    fi
    best=$score
    teacher="$RUNS/round$round"
done

# 7. Test, once, for the kept candidates: round 0 alone, its ensemble, the best student.
test_file="$($PY -c 'from training.data import data_dir; print(data_dir() / "nsmc" / "ratings_test.txt")')"
$PY -m training.evaluate --task sentiment --model "$RUNS/round0/best" --data "$test_file" \
    | tee "$RESULTS"/selftrain-round0-nsmc-test.json
$PY -m training.teacher --teacher "$RUNS/round0/best" --ngram "$RUNS/ngram.joblib" --data "$test_file" \
    | tee "$RESULTS"/selftrain-round0-ensemble-nsmc-test.json
if [ "$teacher" != "$RUNS/round0" ]; then
    $PY -m training.evaluate --task sentiment --model "$teacher/best" --data "$test_file" \
        | tee "$RESULTS"/selftrain-student-nsmc-test.json
fi
echo "best: $teacher/best (dev $best)"
