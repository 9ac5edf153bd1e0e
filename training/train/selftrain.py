"""The sentiment recipe end to end, sized to a time budget, resumable: e5 → NSMC → self-training.

    python -m training.train.selftrain                      # ~2.5 h on 2 CPU cores; run it again to resume
    python -m training.train.selftrain --hours 1 --runs /tmp/st   # a shorter budget, another directory

Steps, each skipped when its output is already there (so a run cut off continues where it stopped,
and a finished run is a no-op):
  1. import multilingual-e5-small into ELECTRA's classes (training.encoders.import_e5)
  2. the word + char n-gram teacher on the NSMC train split (training.train.ngram)
  3. round 0: fine-tune the encoder on the gold train split, one epoch (training.train.finetune)
  4. soft labels for a sample of the unlabeled reviews from the round-0 model + n-gram ensemble
     (training.train.pseudolabel); the sample is sized from round 0's measured throughput
  5. the student: round 0 continued on soft labels (a quarter) and the gold reviews round 0 did not reach;
     with --students 2 or more, each further student continues the last one, on fresh soft labels from
     it and the gold reviews it read least recently (the split's other end)
  6. per candidate: the n-gram member's weight chosen on dev, the release exported with it
     (training.release.export), and NSMC test scored once (training.evaluate.score)

bf16 autocast is used where the CPU has AMX or avx512_bf16 (training.train.precision), fp32 elsewhere.
Run directories live under --runs (default $KOTEXT_RUNS_DIR or ~/.cache/kotext/runs), outside
the checkout, so a fresh clone or `git clean` keeps them.
"""
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hardware
from model_files import CARD_FILE, DEV_METRICS_FILE, IMPORT_FILE
from training.arguments import parse_with_config
from training.paths import runs_dir
from training.train import precision

TRAIN_REVIEWS = 120_000  # the NSMC train split's 80% (sources.split_nsmc_train)
TEST_REVIEWS = 50_000
BATCH_SIZE = 32
PROBE_EXAMPLES = 640  # a throughput probe: 20 steps of 32, a minute or two
# Training steps also pay for dev evaluations and checkpoints: plan on this share of their time.
TRAINING_SHARE = 0.85
# Scoring runs about this much faster than training per review (no backward pass, no optimizer).
SCORING_SPEEDUP = 3.0
NGRAM_SECONDS = 600  # fitting and scoring the n-gram model, generously
MIN_ROUND0_EXAMPLES = 2_000
MIN_STUDENT_EXAMPLES = 8_000  # below this a student round is not worth its evaluation
STEPS = ("import", "probe", "round0", "ngram", "pseudolabel", "student", "test")


@dataclass
class SelftrainArgs:
    hours: float = field(default=2.5, metadata={"help": "Wall-clock budget for the whole recipe, resumes included."})
    runs: str = field(default=None, metadata={"help": "Run directory (default $KOTEXT_RUNS_DIR/selftrain or ~/.cache/kotext/runs/selftrain)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16 where the CPU or GPU has it, else no), no or bf16."})
    max_pseudo: int = field(default=40_000, metadata={"help": "Most unlabeled reviews to pseudo-label."})
    max_train_examples: int = field(default=0, metadata={"help": "Round 0 on exactly this many gold reviews instead of as many as the budget allows (smoke runs)."})
    max_length: int = field(default=64, metadata={"help": "Tokens per review in training: 94%% of the train split fit in 64 (serving reads up to 128)."})
    corpus_lines: int = field(default=0, metadata={"help": "Import: read only this many corpus lines for the vocabulary (0 = all)."})
    name: str = field(default="multilingual-e5-small-ko-nsmc-ngram", metadata={"help": "The released model's name (the app shows it; its evaluations carry it)."})
    encoder: str = field(default=None, metadata={"help": "Start from this encoder directory instead of importing e5 (step 1 skipped)."})
    corpus: str = field(default=None, metadata={"help": "Unlabeled reviews to pseudo-label (default <data>/pretrain/movie_reviews.txt)."})
    round0_share: float = field(default=0.55, metadata={"help": "Share of the training time for round 0; the students get the rest (1 = no student)."})
    students: int = field(default=1, metadata={"help": "Self-training rounds after round 0, each continuing the last and taught by it."})
    student_examples: int = field(default=0, metadata={"help": "Reviews per student round, a quarter soft labels (0 = as many as the budget allows)."})
    dev_examples: int = field(default=10_000, metadata={"help": "Dev reviews scored at each evaluation during training (0 = the whole 30,000)."})
    until: str = field(default="test", metadata={"help": f"Stop after this step ({', '.join(STEPS)})."})

    def __post_init__(self):
        if self.until not in STEPS:
            raise ValueError(f"--until must be one of {', '.join(STEPS)}")
        if not 0 < self.round0_share <= 1:
            raise ValueError("--round0_share must be in (0, 1]")
        if self.students < 0:
            raise ValueError("--students must be 0 or more")


class Recipe:
    """Runs the steps in order, each a `python -m` subprocess, with a log line per step."""

    def __init__(self, args: SelftrainArgs):
        self.args = args
        self.runs = Path(args.runs) if args.runs else runs_dir() / "selftrain"
        self.runs.mkdir(parents=True, exist_ok=True)
        self.state_path = self.runs / "recipe.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"seconds": 0.0}
        self.started = time.time()
        self.precision = precision.training_precision(args.mixed_precision)

    def spent(self) -> float:
        """Seconds of this recipe so far, earlier (resumed) runs included."""
        return self.state["seconds"] + time.time() - self.started

    def save_state(self, **updates):
        """Record step results and the time spent, so a resumed run sizes from the same facts."""
        self.state.update(updates)
        self.state_path.write_text(json.dumps({**self.state, "seconds": self.spent()}, indent=2))

    def step(self, name, output: Path, module, *arguments, stdout_to_output=False):
        """Run one step unless its output exists; print what it produced and how long it took.

        stdout_to_output: the step prints its result (evaluate's JSON), kept as the output file.
        """
        if output.exists():
            print(f"[selftrain] {name}: {output} already there, skipped", flush=True)
            return
        print(f"[selftrain] {name}: python -m {module} {' '.join(map(str, arguments))}", flush=True)
        started = time.time()
        command = [sys.executable, "-m", module, *map(str, arguments)]
        if stdout_to_output:
            printed = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
            partial = output.with_suffix(".partial")
            partial.write_text(printed)
            partial.replace(output)  # only a finished step leaves its output
        else:
            subprocess.run(command, check=True)
        seconds = time.time() - started
        print(f"[selftrain] {name}: {output} in {seconds / 60:.1f} min "
              f"(recipe {self.spent() / 3600:.2f} of {self.args.hours} h)", flush=True)
        self.save_state(**{f"{name}_seconds": round(seconds)})

    def data_options(self):
        """--data_dir when one was given (else each step finds the data itself)."""
        return ["--data_dir", self.args.data_dir] if self.args.data_dir else []

    def common(self, dev_examples=None):
        """Options every fine-tuning step shares."""
        return ["--task", "sentiment", "--max_length", self.args.max_length,
                "--mixed_precision", self.precision, *self.data_options(),
                "--max_dev_examples", dev_examples or self.args.dev_examples]

    def done(self, step) -> bool:
        """True once the step named --until has run: the recipe stops there."""
        return STEPS.index(step) >= STEPS.index(self.args.until)

    def run(self):
        """All steps up to --until; returns the best candidate's model directory."""
        print(f"[selftrain] runs in {self.runs}; precision {self.precision} "
              f"({hardware.describe_cpu()}); budget {self.args.hours} h", flush=True)
        ngram, round0 = self.runs / "ngram.safetensors", self.runs / "round0"
        encoder = Path(self.args.encoder) if self.args.encoder else self.runs / "e5-small-ko"
        if not self.args.encoder:
            import_args = ["--out", encoder, *self.data_options()] + (
                ["--corpus_lines", self.args.corpus_lines] if self.args.corpus_lines else [])
            self.step("import", encoder / IMPORT_FILE, "training.encoders.import_e5", *import_args)
        if self.done("import"):
            return encoder
        rate = self.measure_rate(encoder)
        if self.done("probe"):
            return encoder
        self.round0(encoder, round0, rate)
        if self.done("round0"):
            return round0 / "best"
        self.step("ngram", ngram, "training.train.ngram", "--out", ngram, *self.data_options(),
                  *(["--max_train_examples", self.args.max_train_examples] if self.args.max_train_examples else []))
        if self.done("ngram"):
            return round0 / "best"
        candidates, teacher = {"round0": round0}, round0
        for number in range(1, self.args.students + 1):
            student = self.student(number, teacher, ngram, rate)
            if student is None:
                break
            candidates[student.name] = teacher = student
        best = max(candidates.values(), key=dev_score)  # the first on ties: the fewer rounds
        print("[selftrain] dev: " + ", ".join(f"{name} {dev_score(run):.4f}" for name, run in candidates.items())
              + f" → best {best}", flush=True)
        if not self.done("student"):
            self.test(candidates, ngram)
        self.save_state(best=str(best / "best"))
        return best / "best"

    def measure_rate(self, encoder) -> float:
        """Training reviews per second on this machine, from a short run (kept in recipe.json)."""
        probe = self.runs / "probe"
        self.step("probe", probe / "done", "training.train.finetune", *self.common(dev_examples=32), "--init", encoder,
                  "--out", probe, "--epochs", 1, "--batch_size", BATCH_SIZE, "--mix", nsmc_mix(limit=PROBE_EXAMPLES),
                  "--evals_per_epoch", 1)
        if "rate" not in self.state:
            # The last evaluation's timestamp covers every step; the tiny dev set costs little.
            last = json.loads((probe / "history.json").read_text())[-1]
            self.save_state(rate=last["step"] * BATCH_SIZE / max(last["train_seconds"], 1))
        print(f"[selftrain] measured {self.state['rate']:.1f} training reviews/s", flush=True)
        return self.state["rate"]

    def training_seconds_left(self, rate) -> float:
        """Seconds of training the budget still allows, after scoring and the n-gram model."""
        candidates = 1 if self.args.round0_share == 1 else 1 + self.args.students
        tests = candidates * TEST_REVIEWS / (SCORING_SPEEDUP * rate) if self.args.until == "test" else 0
        left = self.args.hours * 3600 - self.spent() - tests - NGRAM_SECONDS
        return max(0.0, left) * TRAINING_SHARE

    def round0(self, encoder, round0, rate):
        """Fine-tune the encoder on as many gold reviews as round 0's share of the budget allows."""
        if "round0_examples" not in self.state:
            size = self.args.max_train_examples or min(
                TRAIN_REVIEWS, int(rate * self.training_seconds_left(rate) * self.args.round0_share))
            if size < MIN_ROUND0_EXAMPLES and not self.args.max_train_examples:
                raise SystemExit(f"[selftrain] {self.args.hours} h leaves time for {size} reviews in round 0: "
                                 f"give --hours more")
            print(f"[selftrain] round 0: {size} gold reviews, about {size / rate / 60:.0f} min", flush=True)
            self.save_state(round0_examples=size)
        self.step("round0", round0 / "done", "training.train.finetune", *self.common(), "--init", encoder,
                  "--out", round0, "--resume", "true", "--epochs", 1, "--batch_size", BATCH_SIZE,
                  "--learning_rate", 5e-5, "--evals_per_epoch", 2, "--checkpoint_every", 100,
                  "--mix", nsmc_mix(limit=self.state["round0_examples"]))

    def student(self, number, teacher, ngram, rate):
        """Student round `number`: soft labels for a fresh corpus sample from the teacher (the last
        round) and the n-gram model, then the teacher continued on them and gold reviews.

        Returns its run directory, or None when the budget leaves too little or the recipe stops
        after pseudo-labeling."""
        suffix = "" if number == 1 else str(number)  # the first keeps its earlier names: runs resume
        directory, pseudo = self.runs / f"student{suffix}", self.runs / f"pseudo{suffix}.tsv"
        key = f"student{suffix}_examples"
        if key not in self.state:
            rounds_left = self.args.students - number + 1
            self.save_state(**{key: self.args.student_examples
                               or int(rate * self.training_seconds_left(rate) / rounds_left)})
        size = self.state[key]
        if size < MIN_STUDENT_EXAMPLES and not (directory / "done").exists():
            print(f"[selftrain] no student {number}: {size} reviews is too few to pay for itself", flush=True)
            return None
        # A quarter soft labels, the rest gold: the gold reviews the teacher read least recently.
        # Round 0 reads the split from its start, so odd students read its end and even ones its start.
        pseudo_count = min(self.args.max_pseudo, size // 4)
        gold_count = min(size - pseudo_count, TRAIN_REVIEWS)
        skip = TRAIN_REVIEWS - gold_count if number % 2 else 0
        # The report is written after the TSV: its presence says the TSV is whole.
        self.step(f"pseudolabel{suffix}", pseudo.with_suffix(".json"), "training.train.pseudolabel",
                  "--teacher", teacher / "best", "--ngram", ngram, "--out", pseudo, "--max_lines", pseudo_count,
                  "--batch_size", 128, "--seed", 41 + number, *self.data_options(),
                  *(["--corpus", self.args.corpus] if self.args.corpus else []))
        if self.done("pseudolabel"):
            return None
        self.step(f"student{suffix}", directory / "done", "training.train.finetune", *self.common(),
                  "--init", teacher / "best", "--out", directory, "--resume", "true", "--epochs", 1,
                  "--batch_size", BATCH_SIZE, "--learning_rate", 3e-5, "--warmup_ratio", 0.05, "--seed", 42 + number,
                  "--evals_per_epoch", 1, "--checkpoint_every", 100,
                  "--mix", nsmc_mix(skip=skip, limit=gold_count, pseudo=pseudo))
        return directory

    def test(self, candidates, ngram):
        """Each candidate released with the n-gram member, then scored on NSMC test once: the
        ensemble, and each member alone (training.evaluate.score takes them apart from one pass)."""
        for name, candidate in candidates.items():
            release = self.release(name, candidate, ngram)
            self.step(f"test_{name}", self.runs / f"test-{name}.json", "training.evaluate.score",
                      "--task", "sentiment", "--model", release, "--data", nsmc_file(self.args, "test"),
                      "--save_outputs", self.runs / f"test-{name}-outputs.json",
                      "--plots", self.runs / f"plots-{name}", stdout_to_output=True)

    def release(self, name, candidate, ngram) -> Path:
        """The candidate with the n-gram member beside it, at the weight that scores best on dev."""
        draft, release, dev = self.runs / f"draft-{name}", self.runs / f"release-{name}", self.runs / f"dev-{name}.json"
        self.step(f"draft_{name}", draft / CARD_FILE, "training.release.export", "--model", candidate / "best",
                  "--quantize", "false", "--ngram", ngram, "--ngram_weight", 0.5, "--out", draft,
                  "--name", self.args.name)
        self.step(f"dev_{name}", dev, "training.evaluate.score", "--task", "sentiment", "--model", draft,
                  "--data", nsmc_file(self.args, "train"), "--held_out", "true",
                  "--limit", self.args.dev_examples, "--save_outputs", self.runs / f"dev-{name}-outputs.json",
                  stdout_to_output=True)
        weight = best_weight(json.loads(dev.read_text())["metrics"]["ensemble"]["weight_sweep"])
        print(f"[selftrain] {name}: n-gram weight {weight} (best of 0–0.9 on dev)", flush=True)
        member = ["--ngram", ngram, "--ngram_weight", weight] if weight else []  # 0: the model alone
        self.step(f"release_{name}", release / CARD_FILE, "training.release.export", "--model", candidate / "best",
                  "--quantize", "false", *member, "--out", release, "--name", self.args.name)
        return release


def nsmc_mix(skip=0, limit=0, pseudo=None) -> str:
    """A fine-tuning step's --mix (training.data.mix) as JSON text: NSMC train reviews from skip on,
    at most limit of them (0: all), then the pseudo-labeled reviews when given (weight 1, as gold)."""
    train = [{"source": "nsmc", "skip": skip, "limit": limit}]
    if pseudo:
        train.append({"source": "pseudo_labels", "path": str(pseudo), "weight": 1.0})
    return json.dumps({"train": train})


def best_weight(sweep) -> float:
    """The n-gram weight with the best dev accuracy (ties: the one nearest the mean, 0.5).

    1.0 (the n-gram model alone) is left out: a release always serves the fine-tuned model."""
    weights = [float(w) for w in sweep if float(w) < 1.0]
    return max(weights, key=lambda w: (sweep[f"{w:.1f}"], -abs(w - 0.5)))


def nsmc_file(args, part) -> Path:
    """NSMC's ratings_<part>.txt under the data root."""
    return Path(args.data_dir or default_data_dir()) / "nsmc" / f"ratings_{part}.txt"


def default_data_dir():
    from training.data.sources import data_dir
    return data_dir(None)


def dev_score(run_dir) -> float:
    """The dev selection score of a finished fine-tuning run."""
    return json.loads((Path(run_dir) / "best" / DEV_METRICS_FILE).read_text())["selection"]


def main(argv=None):
    """Run (or resume) the recipe and print the best model's directory."""
    args = parse_with_config(SelftrainArgs, argv)
    print(f"[selftrain] best model: {Recipe(args).run()}", flush=True)


if __name__ == "__main__":
    main()
