"""The sentiment recipe (training.train.selftrain) end to end on a tiny corpus, and its precision choice."""
import json

import pytest
import torch

from test_selftrain import imported_encoder, planted_corpus  # noqa: F401
import hardware
from training.data import sources
from training.data.dedup import loose_key
from training.train import precision, selftrain


@pytest.mark.parametrize("flags, expected", [
    (["avx2", "fma"], "no"),  # an AMD EPYC of today's kind: bf16 would be emulated, slower
    (["avx512f", "avx512_bf16"], "bf16"),
    (["amx_bf16", "amx_tile"], "bf16"),
])
def test_training_precision_follows_the_cpus_bf16_support(monkeypatch, flags, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "cpu_info", lambda: {"model": "fake", "flags": flags})
    assert precision.training_precision("auto") == expected
    assert precision.training_precision("no") == "no"  # an explicit choice always wins


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="mixed precision"):
        precision.training_precision("int4")


def test_recipe_runs_end_to_end_then_resumes_as_a_no_op(data_root, imported_encoder, planted_corpus, tmp_path,
                                                        capsys):
    corpus, planted_test = planted_corpus
    argv = ["--runs", str(tmp_path), "--encoder", str(imported_encoder), "--data_dir", str(data_root),
            "--corpus", str(corpus), "--hours", "1", "--max_train_examples", "64", "--dev_examples", "32",
            "--max_pseudo", "8", "--students", "2"]
    selftrain.main(argv)
    state = json.loads((tmp_path / "recipe.json").read_text())
    assert state["rate"] > 0 and state["round0_examples"] == 64 and state["student_examples"] > 8
    for name in ("round0/done", "ngram.safetensors", "pseudo.json", "student/done", "test-round0.json",
                 "test-student.json", "release-round0/serving.json", "dev-student.json",
                 "pseudo2.json", "student2/done", "dev-student2.json", "test-student2.json"):
        assert (tmp_path / name).is_file(), name
    pseudo = sources.read_tsv(tmp_path / "pseudo.tsv")
    assert 0 < len(pseudo) <= 8
    assert not {loose_key(text) for text in pseudo["text"]} & {loose_key(text) for text in planted_test}
    tested = json.loads((tmp_path / "test-round0.json").read_text())
    assert tested["metrics"]["n"] == 41 and state["best"].endswith("/best")
    sweep = json.loads((tmp_path / "dev-round0.json").read_text())["metrics"]["ensemble"]["weight_sweep"]
    weight = json.loads((tmp_path / "release-round0" / "serving.json").read_text()).get("ngram_weight", 0.0)
    assert sweep[f"{weight:.1f}"] == max(value for key, value in sweep.items() if key != "1.0")
    capsys.readouterr()
    selftrain.main(argv)  # everything is there: each step says so and nothing runs again
    printed = capsys.readouterr().out
    assert printed.count("already there, skipped") == 19 and "python -m" not in printed


def test_best_weight_prefers_accuracy_then_the_mean_and_never_the_ngram_alone():
    assert selftrain.best_weight({"0.0": 0.8, "0.4": 0.9, "0.5": 0.85, "1.0": 0.95}) == 0.4
    assert selftrain.best_weight({"0.3": 0.9, "0.6": 0.9, "0.5": 0.9}) == 0.5
    assert selftrain.best_weight({"0.0": 0.9, "0.5": 0.8}) == 0.0


def test_each_student_reads_the_gold_reviews_its_teacher_read_least_recently(tmp_path, monkeypatch):
    recipe = selftrain.Recipe(selftrain.SelftrainArgs(runs=str(tmp_path), students=2, student_examples=40_000))
    mixes = []
    monkeypatch.setattr(recipe, "step", lambda name, output, module, *arguments, **options: mixes.append(
        json.loads(arguments[arguments.index("--mix") + 1])) if "--mix" in arguments else None)
    teacher = tmp_path / "round0"
    for number in (1, 2):
        teacher = recipe.student(number, teacher, tmp_path / "ngram.safetensors", rate=20.0)
        assert teacher.name == ("student" if number == 1 else "student2")
    first, second = ([entry for entry in mix["train"] if entry["source"] == "nsmc"][0] for mix in mixes)
    assert first == {"source": "nsmc", "skip": selftrain.TRAIN_REVIEWS - 30_000, "limit": 30_000}
    assert second == {"source": "nsmc", "skip": 0, "limit": 30_000}  # round 0 read these longest ago
    assert [mix["train"][1]["path"] for mix in mixes] == [str(tmp_path / "pseudo.tsv"), str(tmp_path / "pseudo2.tsv")]
