"""The similarity ranking objective (a mix's `ranking`, training.train.ranking): NLI premises ranked
entailment over contradiction, with edited training pairs (`contrasts`) and everyday pairs
(`everyday`) beside them."""
import json
import shutil

import pandas as pd
import pytest
import torch

from training.data import mix
from training.release import export
from training.train import finetune, ranking
from training.train.batching import collate
from training_helpers import NLI_ROWS, TINY, mix_argv, run_finetune, write_klue_nli, write_tsv


def test_ranking_pairs_share_one_order_per_premise():
    triplets = pd.DataFrame({"premise": [f"전제 {i}" for i in range(40)],
                             "entailed": [f"함의 {i}" for i in range(40)],
                             "contradicted": [f"모순 {i}" for i in range(40)]})
    entailed, contradicted = ranking.ranking_pairs(triplets, seed=0)
    premise_first = entailed["sentence1"].str.startswith("전제")
    assert (premise_first == contradicted["sentence1"].str.startswith("전제")).all()
    assert 5 < premise_first.sum() < 35  # both orders occur
    hypotheses = entailed["sentence2"].where(premise_first, entailed["sentence1"])
    assert hypotheses.tolist() == triplets["entailed"].tolist()


def test_margin_ranking_loss_is_zero_only_beyond_the_margin():
    entailed, contradicted = torch.tensor([4.0, 3.0, 2.0]), torch.tensor([2.0, 2.5, 3.0])
    # Gaps 2.0, 0.5, -1.0 against a margin of 1.0: hinges 0, 0.5, 2.0.
    assert ranking.margin_ranking_loss(entailed, contradicted, 1.0).item() == pytest.approx(2.5 / 3)
    assert ranking.margin_ranking_loss(entailed[:1], contradicted[:1], 1.0).item() == 0.0


def test_nli_ranking_step_scores_the_batch_and_the_premises_in_one_forward(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    write_klue_nli(root, NLI_ROWS + [("영화가 재밌다", "영화가 볼만하다", "entailment")])
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(root), "--init", str(tokenizer_dir),
                                "--out", str(tmp_path / "run"), *TINY, "--freeze_embeddings", "false",
                                *mix_argv("korsts", ranking={"nli_premises": 2, "weight": 0.5, "margin": 2.0})])
    trainer = finetune.Trainer(args)
    trainer.model.eval()  # no dropout, so the one forward can be checked against separate ones
    batch = collate(trainer.train, [0, 1, 2], trainer.pad_id, True)
    indices = trainer.ranking_indices()
    assert sorted(indices) == [0, 1]
    score = lambda rows: trainer.model(**{k: v for k, v in rows.items() if k != "labels"}).logits[:, 0]  # noqa: E731
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(score(batch), batch["labels"]) + 0.5 * ranking.margin_ranking_loss(
            *(score(collate(pairs, indices, trainer.pad_id, True)) for pairs in trainer.ranking), 2.0)
        combined = trainer.ranking_step_loss(batch)
    assert combined.item() == pytest.approx(expected.item(), rel=1e-4)
    trainer.step = 1  # the next step takes the next premises of the order, wrapping round
    assert sorted(trainer.ranking_indices()) == [0, 1]


def test_finetune_with_nli_ranking_trains_and_records_it(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    run_finetune("similarity", root, tokenizer_dir, tmp_path / "run", *mix_argv("korsts", ranking={"nli_premises": 3}))
    saved = json.loads((tmp_path / "run" / "best" / "train_args.json").read_text())
    assert saved["mix"]["ranking"]["nli_premises"] == 3
    assert export.paraphrase_data_lines([saved]) == [mix.CARD["ranking"]]
    with pytest.raises(ValueError, match="similarity task only"):
        finetune.parse_args(["--task", "sentiment", "--init", str(tokenizer_dir), *mix_argv("nsmc", ranking={})])


def test_contrast_ranking_adds_edited_training_pairs_to_the_premises(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    sts_header = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    rows = [("main", "f", "2012", i, score, a, b) for i, (score, a, b) in enumerate([
        (4.6, "한 남자가 기타를 치고 있다", "남자가 기타를 연주하고 있다"),
        (4.2, "그는 어제 서울에 도착했다", "그가 어제 서울에 왔다"),
        (1.0, "고양이가 잔다", "남자가 달린다")] * 4)]
    write_tsv(root / "korsts" / "sts-train.tsv", sts_header, rows)
    argv = ["--task", "similarity", "--data_dir", str(root), "--init", str(tokenizer_dir),
            "--out", str(tmp_path / "run"), *TINY, "--freeze_embeddings", "false"]
    plain = finetune.Trainer(finetune.parse_args(argv + mix_argv("korsts", ranking={"nli_premises": 2})))
    with_contrasts = finetune.Trainer(finetune.parse_args(
        argv + mix_argv("korsts", ranking={"nli_premises": 2, "contrasts": True})))
    premises = lambda trainer: len(trainer.ranking[0]["input_ids"])  # noqa: E731
    # Each high pair of the four copies gives one edited triplet: 8 beside the NLI premises.
    assert premises(with_contrasts) == premises(plain) + 8
    assert len(with_contrasts.ranking_order) == premises(with_contrasts)
    assert export.paraphrase_data_lines([vars(with_contrasts.args)]) == [
        mix.CARD["ranking"], mix.CARD["contrasts"],
        "- The edits made (`ranking.edits`): a swapped antonym, a changed number, a negated predicate."]
    # A run from before --mix reads the same from its old options.
    assert export.paraphrase_data_lines([{"nli_ranking": 2, "contrast_ranking": True}]) == \
        export.paraphrase_data_lines([vars(with_contrasts.args)])


def test_everyday_contrasts_add_edited_everyday_pairs_and_questions(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    questions = [("게임이 재미있어", "게임 진짜 재미있어", 0), ("밤 12시야", "12시 땡!", 0),
                 ("배고파", "주식이 올랐다", 1), ("공부해야 하는데 놀고 싶어", "놀고 싶지 않아", 0)]
    write_tsv(root / "extra" / "question-pair" / "train.tsv", ("question1", "question2", "is_duplicate"), questions)
    styles = ["오늘 날씨 좀 알려줘" + "!" * i for i in range(10)]  # one block, no ending a rule knows
    write_tsv(root / "extra" / "stylekqc" / "act-train.tsv", ("act", "sentence"), [("q", s) for s in styles])
    (root / "extra" / "chatbot").mkdir()
    (root / "extra" / "chatbot" / "ChatbotData.csv").write_text(
        "Q,A,label\n저는 커피를 좋아해요,좋죠.,0\n저는 커피를 좋아해요,또 물어보네요.,0\n"
        "안 가고 싶어,그래요.,0\n하늘,파랗죠.,0\n", encoding="utf-8")
    argv = ["--task", "similarity", "--data_dir", str(root), "--init", str(tokenizer_dir),
            "--out", str(tmp_path / "run"), *TINY, "--freeze_embeddings", "false"]
    args = finetune.parse_args(argv + mix_argv("korsts", ranking={"nli_premises": 2, "everyday": True}))
    edited = ranking.everyday_contrast_triplets(root, args)
    # Two question paraphrases (an antonym, a number) and the repeated chatbot question once; the
    # negated question pair, the StyleKQC pair and the questions no rule fits are left out.
    contradicted = sorted(edited["contradicted"])
    assert len(edited) == 3 and contradicted[1:] == ["게임 진짜 재미없어", "저는 커피를 싫어해요"]
    assert contradicted[0] != "12시 땡!" and contradicted[0].endswith("시 땡!")
    self_edit = edited[edited["contradicted"] == "저는 커피를 싫어해요"].iloc[0]
    assert self_edit["premise"] == self_edit["entailed"] == "저는 커피를 좋아해요"
    plain = finetune.Trainer(finetune.parse_args(argv + mix_argv("korsts", ranking={"nli_premises": 2})))
    with_everyday = finetune.Trainer(args)
    assert len(with_everyday.ranking[0]["input_ids"]) == len(plain.ranking[0]["input_ids"]) + len(edited)
    assert export.paraphrase_data_lines([vars(args)])[:2] == [mix.CARD["ranking"], mix.CARD["everyday"]]
    without_numbers = finetune.parse_args(argv + mix_argv(
        "korsts", ranking={"nli_premises": 2, "everyday": True, "edits": ["antonym", "negation"]}))
    # An average of a run without edits and one without number edits names only the edits made.
    assert mix.edit_kind_lines([{"nli_premises": 2}, without_numbers.mix["ranking"]]) == [
        "- The edits made (`ranking.edits`): a swapped antonym, a negated predicate; left out: a changed number."]
    assert "7시 땡!" not in set(ranking.everyday_contrast_triplets(root, without_numbers)["contradicted"])
    assert len(ranking.everyday_contrast_triplets(root, without_numbers)) == 2
    with pytest.raises(ValueError, match="ranking edits take some of"):
        finetune.parse_args(argv + mix_argv("korsts", ranking={"edits": ["numbers"]}))
