"""A teacher's mean of both pair orders as one-order training targets (training.train.pair_targets)."""
import json

import numpy as np
import pandas as pd
import pytest

from models import load_predictor
from training.data import mix, sources
from training.evaluate.score import raw_pair_scores
from training.train import finetune, pair_targets
from training_helpers import write_tsv


@pytest.fixture(scope="module")
def targets(pair_order_models, data_root, tmp_path_factory):
    """pair_targets run on the miniature data with the symmetric tiny model as teacher."""
    out = tmp_path_factory.mktemp("pair-targets") / "targets.tsv"
    pair_targets.main(["--teacher", str(pair_order_models["symmetric"]), "--out", str(out),
                       "--data_dir", str(data_root), "--nli_premises", "0"])
    return out


def test_each_target_is_the_teachers_mean_of_both_orders(targets, pair_order_models):
    frame = sources.load_pairs(targets)
    pairs = list(zip(frame["sentence1"], frame["sentence2"]))
    one_order = load_predictor(pair_order_models["plain"], "similarity", quantize=False)
    forward = raw_pair_scores(one_order, pairs)
    backward = raw_pair_scores(one_order, [(b, a) for a, b in pairs])
    assert np.abs(forward - backward).max() > 1e-3  # the tiny model does read the orders differently
    np.testing.assert_allclose(frame["score"], (forward + backward) / 2, atol=1e-5)


def test_every_kind_of_pair_is_scored_once_in_a_random_order(targets, data_root):
    frame = pd.read_csv(targets, sep="\t", quoting=3)
    assert {"sts", "nli_entailed", "nli_contradicted", "contrast_contradicted", "question_pairs"} <= set(frame["kind"])
    unordered = [tuple(sorted(pair)) for pair in zip(frame["sentence1"], frame["sentence2"])]
    assert len(set(unordered)) == len(frame)
    report = json.loads(targets.with_suffix(".json").read_text())
    assert report["pairs"] == len(frame) and sum(report["by_kind"].values()) == len(frame)
    sts = pair_targets.sts_train_pairs(data_root)
    as_given = set(zip(sts["sentence1"], sts["sentence2"]))
    written = frame[frame["kind"] == "sts"]
    kept_order = [pair in as_given for pair in zip(written["sentence1"], written["sentence2"])]
    assert 0 < sum(kept_order) < len(kept_order)  # some pairs swapped, some not


def test_the_teacher_pairs_source_trains_on_the_scores_and_keeps_dev_text_out(data_root, tokenizer_dir, tmp_path):
    path = tmp_path / "targets.tsv"
    dev_sentence = sources.load_korsts(data_root / "korsts" / "sts-dev.tsv")["sentence1"][0]
    write_tsv(path, ("kind", "score", "sentence1", "sentence2"),
              [("sts", "4.250000", "비가 온다", "비가 내린다"), ("sts", "5.400000", "눈이 온다", "눈이 내린다"),
               ("sts", "3.000000", dev_sentence, "눈이 내린다")])
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), "--init", str(tokenizer_dir),
                                "--mix", json.dumps({"train": [{"source": "teacher_pairs", "path": str(path)}]})])
    train, _, _ = mix.load_splits(args)
    assert train["score"].tolist() == [4.25, 5.4]  # beyond 5 kept: the teacher's raw output
    assert "teacher's scores" in " ".join(mix.card_lines([args.mix]))
