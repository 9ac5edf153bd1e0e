"""model_files.py: a model directory's file names, serving.json's fields, the labels of saved evaluations."""
import json

import pytest

import model_files


def test_a_directory_without_serving_json_gets_the_defaults(tmp_path):
    info = model_files.read_serving_info(tmp_path)
    assert info == {}
    assert {field: model_files.serving_setting(info, field) for field in model_files.SERVING_DEFAULTS} \
        == model_files.SERVING_DEFAULTS


def test_serving_json_round_trips_and_its_fields_win_over_the_defaults(tmp_path):
    written = {"name": "모델", "task": model_files.SIMILARITY, "symmetric": True}
    model_files.write_serving_info(tmp_path, written)
    assert json.loads((tmp_path / model_files.SERVING_FILE).read_text(encoding="utf-8")) == written
    info = model_files.read_serving_info(tmp_path)
    assert model_files.serving_setting(info, "symmetric") is True
    assert model_files.serving_setting(info, "clean") is True  # not written: the default


def test_an_unknown_serving_field_is_a_mistake_not_a_default():
    with pytest.raises(KeyError):
        model_files.serving_setting({}, "symetric")


def test_every_task_has_its_plots():
    assert set(model_files.PLOTS) == set(model_files.TASKS)
    assert all(name.endswith(".png") for names in model_files.PLOTS.values() for name in names)


def test_data_label_keeps_the_folder_that_tells_same_named_files_apart():
    assert model_files.data_label("../shared/data/korsts/sts-dev.tsv") == "korsts/sts-dev.tsv"
    assert model_files.data_label("../shared/data/extra/stylekqc/sts-dev.tsv") == "stylekqc/sts-dev.tsv"
    assert model_files.data_label("sts-dev.tsv") == "sts-dev.tsv"
    held_out = {"task": "similarity", "data": "d/klue-sts/train.csv", "held_out": True}
    assert model_files.evaluation_data(held_out) == "klue-sts/train.csv (held-out 10%)"
