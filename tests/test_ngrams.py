"""The hashed n-gram sentiment model and the served ensemble it makes with an ELECTRA model."""
import json
import shutil

import numpy as np
import pytest

import models
from model_files import NGRAM_FILE
from ngrams import HashedNgramModel

POSITIVE = ["정말 재밌다 최고", "배우 연기 최고 감동", "또 보고 싶다 재밌다", "감동 최고의 영화"]
NEGATIVE = ["시간 낭비 최악", "지루하다 돈 아깝다", "최악의 영화 지루", "다신 안 봄 낭비"]


@pytest.fixture(scope="module")
def fitted():
    """An n-gram model fitted on eight reviews (repeated so min_df keeps their n-grams)."""
    texts, labels = (POSITIVE + NEGATIVE) * 2, np.array(([1] * 4 + [0] * 4) * 2)
    return HashedNgramModel(n_features=2 ** 12).fit(texts, labels)


def test_the_fitted_model_separates_the_reviews_it_learned(fitted):
    probability = fitted.positive_probability(["재밌다 최고 감동", "지루하다 최악 낭비"])
    assert probability[0] > 0.5 > probability[1]
    assert fitted.positive_probability([]).shape == (0,)


def test_saved_model_scores_as_fitted_from_fp16_arrays(fitted, tmp_path):
    path = tmp_path / NGRAM_FILE
    fitted.save(path)
    loaded = HashedNgramModel.load(path)
    assert loaded.settings() == fitted.settings()
    texts = POSITIVE + NEGATIVE + ["처음 보는 문장"]
    assert loaded.positive_probability(texts) == pytest.approx(fitted.positive_probability(texts), abs=2e-3)


def test_ngrams_seen_in_fewer_than_min_df_texts_weigh_nothing():
    model = HashedNgramModel(n_features=2 ** 12).fit(["가나 다라", "가나 마바"], np.array([1, 0]))
    words, _ = model.vectorizers
    assert model.idf[0][words.transform(["다라"]).indices].tolist() == [0.0]  # in one text only
    assert model.idf[0][words.transform(["가나"]).indices][0] > 0


def ensemble_copy(source, directory, ngram_model, weight):
    """The tiny sentiment model with an n-gram member at weight."""
    shutil.copytree(source, directory)
    ngram_model.save(directory / NGRAM_FILE)
    (directory / "serving.json").write_text(json.dumps({"task": "sentiment", "ngram_weight": weight}))
    return directory


def test_the_served_ensemble_mixes_the_members_probabilities(tiny_models, fitted, tmp_path):
    alone = models.load_predictor(tiny_models["sentiment"], "sentiment")
    mixed = models.load_predictor(ensemble_copy(tiny_models["sentiment"], tmp_path / "e", fitted, 0.25),
                                  "sentiment")
    texts = ["정말 재밌다 최고", "시간 낭비 최악"]
    ngram = HashedNgramModel.load(tmp_path / "e" / NGRAM_FILE).positive_probability(texts)  # as served: fp16
    for text, own, result, q in zip(texts, alone.predict(texts), mixed.predict(texts), ngram):
        expected = 0.75 * own["probabilities"]["positive"] + 0.25 * q
        assert result["probabilities"]["positive"] == pytest.approx(expected, abs=1e-6)
        assert result["probabilities"]["negative"] == pytest.approx(1 - expected, abs=1e-6)
        assert result["label"] == ("positive" if expected >= 0.5 else "negative")
    assert mixed.describe()["ngram_weight"] == 0.25 and alone.describe()["ngram_weight"] == 0.0


def test_an_ensemble_without_its_ngram_file_refuses_to_load(tiny_models, fitted, tmp_path):
    directory = ensemble_copy(tiny_models["sentiment"], tmp_path / "e", fitted, 0.5)
    (directory / NGRAM_FILE).unlink()
    with pytest.raises(models.ModelLoadError, match=NGRAM_FILE):
        models.load_predictor(directory, "sentiment")


def test_evaluate_reports_each_member_and_the_weight_sweep(tiny_models, fitted, tmp_path):
    from training.evaluate import score
    directory = ensemble_copy(tiny_models["sentiment"], tmp_path / "e", fitted, 0.5)
    rows = [(i, text, 1) for i, text in enumerate(POSITIVE)] + [(9 + i, text, 0) for i, text in enumerate(NEGATIVE)]
    data_file = tmp_path / "ratings.txt"
    data_file.write_text("id\tdocument\tlabel\n" + "".join(f"{i}\t{t}\t{y}\n" for i, t, y in rows), encoding="utf-8")
    result = score.evaluate(score.EvaluateArgs(task="sentiment", model=str(directory), data=str(data_file)))
    members = result["metrics"]["ensemble"]
    assert members["weight"] == 0.5 and members["ngram_alone"]["accuracy"] == 1.0  # it learned these eight
    assert members["weight_sweep"]["0.5"] == result["metrics"]["accuracy"]
    assert members["weight_sweep"]["1.0"] == 1.0
    alone = models.load_predictor(tiny_models["sentiment"], "sentiment").predict([t for _, t, _ in rows])
    expected = [int(r["label"] == "positive") == y for r, (_, _, y) in zip(alone, rows)]
    assert members["model_alone"]["accuracy"] == pytest.approx(sum(expected) / len(rows))
