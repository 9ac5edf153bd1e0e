"""training.train.finetune and training.train.trainer: arguments, a tiny fine-tune's saved model, checkpoints
and resuming, --init from a saved model, an fp16 export or an NLI stage."""
import json

import pytest

from training.metrics import headline
import torch
from transformers import AutoModelForSequenceClassification

from models import load_predictor
from training.release import export
from training.train import finetune, trainer
from training_helpers import NO_EXTRA_PAIRS, TINY, mix_argv, run_finetune, tiny_finetune_argv


def test_missing_init_says_how_to_import_one():
    with pytest.raises(ValueError, match="python -m training.encoders.import_e5"):
        finetune.parse_args(["--task", "sentiment", "--init", "runs/no-such-model"])


def test_config_file_rejects_unknown_keys(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"task": "sentiment", "learning_rat": 1e-4}))
    with pytest.raises(ValueError, match="learning_rat"):
        finetune.parse_args(["--config", str(config)])


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_finetune_saves_a_complete_model_directory(trained, task):
    best = trained / task / "best"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "serving.json", "dev_metrics.json"):
        assert (best / name).is_file(), name
    serving = json.loads((best / "serving.json").read_text())
    assert serving["task"] == task and serving["clean"] is True
    assert (trained / task / "checkpoint" / trainer.TRAINER_STATE).is_file()


def test_resume_continues_from_the_checkpoint(data_root, tokenizer_dir, tmp_path):
    run_finetune("sentiment", data_root, tokenizer_dir, tmp_path, "--checkpoint_every", "5")
    args = finetune.parse_args(["--task", "sentiment", "--data_dir", str(data_root), "--init",
                                str(tokenizer_dir), "--out", str(tmp_path), "--epochs", "2",
                                "--resume", "true", *TINY])
    trainer = finetune.Trainer(args)
    trainer.load_checkpoint()
    assert trainer.step == trainer.steps_per_epoch  # the finished first epoch
    trainer.run()
    assert trainer.step == 2 * trainer.steps_per_epoch


def test_a_run_cut_off_and_resumed_ends_where_an_uninterrupted_one_does(data_root, tokenizer_dir, tmp_path,
                                                                        monkeypatch):
    def trainer(out, *extra):
        return finetune.Trainer(finetune.parse_args(
            tiny_finetune_argv(data_root, tokenizer_dir, out, "--checkpoint_every", "4", *extra)))
    whole = trainer(tmp_path / "whole")
    whole.run()
    cut = trainer(tmp_path / "cut")
    assert cut.steps_per_epoch > 6
    step = cut.train_step

    def killed_in_the_sixth_step(batch):
        if cut.step == 5:
            raise KeyboardInterrupt  # the last checkpoint is step 4's
        return step(batch)
    monkeypatch.setattr(cut, "train_step", killed_in_the_sixth_step)
    with pytest.raises(KeyboardInterrupt):
        cut.run()
    resumed = trainer(tmp_path / "cut", "--resume", "true")
    resumed.run()
    assert resumed.step == whole.step and resumed.history[-1]["step"] == whole.history[-1]["step"]
    for a, b in zip(whole.unwrapped.parameters(), resumed.unwrapped.parameters()):
        assert torch.equal(a, b)


def test_a_kill_between_the_checkpoint_renames_resumes_from_the_previous_one(data_root, tokenizer_dir, tmp_path):
    run_finetune("sentiment", data_root, tokenizer_dir, tmp_path)
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # the new one never got its name
    resumed = finetune.Trainer(finetune.parse_args(
        tiny_finetune_argv(data_root, tokenizer_dir, tmp_path, "--resume", "true")))
    resumed.run()
    assert resumed.step == resumed.steps_per_epoch and (tmp_path / "checkpoint").is_dir()
    assert not (tmp_path / "checkpoint.old").exists()


def test_init_from_a_saved_model_reuses_its_weights(trained, data_root, tmp_path):
    source = trained / "sentiment" / "best"
    run_finetune("similarity", data_root, source, tmp_path, "--init", str(source),
                 *mix_argv({"source": "korsts", "limit": 8}))
    predictor = load_predictor(tmp_path / "best", "similarity")
    assert predictor.config.num_labels == 1 and predictor.config.hidden_size == 16


def test_init_from_an_fp16_export_trains_in_fp32(trained, data_root, tmp_path):
    exported = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(exported)))
    assert next(AutoModelForSequenceClassification.from_pretrained(exported).parameters()).dtype == torch.float16
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), "--init", str(exported),
                                "--out", str(tmp_path / "run"), *NO_EXTRA_PAIRS])
    model = trainer.build_model(args)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def test_nli_stage_then_similarity_from_it(data_root, tokenizer_dir, tmp_path):
    run_finetune("nli", data_root, tokenizer_dir, tmp_path / "nli")
    nli = tmp_path / "nli" / "best"
    metrics = json.loads((nli / "dev_metrics.json").read_text())
    assert metrics["n"] == 12 and len(metrics["confusion_matrix"]) == 3
    assert json.loads((nli / "config.json").read_text())["id2label"]["2"] == "contradiction"
    run_finetune("similarity", data_root, nli, tmp_path / "sts", "--init", str(nli), *mix_argv("korsts", "klue_sts"))
    sts = tmp_path / "sts" / "best"
    metrics = json.loads((sts / "dev_metrics.json").read_text())
    assert metrics["klue_sts_heldout"]["n"] == 4  # the fixed tenth of 40 KLUE-STS pairs
    assert metrics["selection"] == pytest.approx(
        (headline("similarity", metrics) + headline("similarity", metrics["klue_sts_heldout"])) / 2)
    assert load_predictor(sts, "similarity").config.num_labels == 1  # the NLI head was replaced
