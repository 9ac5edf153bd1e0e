"""training.release.average: a weight average of fine-tuned models, and the export of one."""
import json
import shutil

import pytest
import torch
from transformers import AutoModelForSequenceClassification

import model_info
from models import load_predictor
from training.data import mix
from training.release import average, export


def test_average_is_the_weighted_mean_and_refuses_mismatches(trained, tmp_path):
    first = trained / "similarity" / "best"
    second = tmp_path / "second"
    shutil.copytree(first, second)
    model = AutoModelForSequenceClassification.from_pretrained(second)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    model.save_pretrained(second)
    out = average.average(average.AverageArgs(models=[str(first), str(second)], weights=[0.75, 0.25],
                                              out=str(tmp_path / "soup")))
    loaded = {name: AutoModelForSequenceClassification.from_pretrained(path).state_dict()
              for name, path in (("first", first), ("soup", out))}
    for key, tensor in loaded["first"].items():
        if tensor.is_floating_point():
            assert torch.allclose(loaded["soup"][key], tensor + 0.25, atol=1e-5), key
    assert json.loads((out / "serving.json").read_text())["name"] == "soup"
    sources = json.loads((out / "train_args.json").read_text())["averaged"]
    assert [source["weight"] for source in sources] == [0.75, 0.25]
    assert load_predictor(out, "similarity").predict([("좋다", "좋아요")])[0]["score"] >= 0
    with pytest.raises(ValueError, match="summing to 1"):
        average.average(average.AverageArgs(models=[str(first), str(second)], weights=[0.5, 0.6],
                                            out=str(tmp_path / "bad")))
    with pytest.raises(ValueError, match="one architecture"):
        average.average(average.AverageArgs(models=[str(first), str(trained / "sentiment" / "best")],
                                            out=str(tmp_path / "bad")))


def test_export_card_of_an_average_names_its_sources_and_their_data(trained, tmp_path):
    first, second = trained / "similarity" / "best", tmp_path / "para"
    shutil.copytree(first, second)
    args = json.loads((second / "train_args.json").read_text())
    (second / "train_args.json").write_text(json.dumps({**args, "mix": {"train": [
        {"source": "korsts"}, {"source": "stylekqc"}, {"source": "question_pairs", "label": 1}]}}))
    soup = average.average(average.AverageArgs(models=[str(first), str(second)], out=str(tmp_path / "soup")))
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(soup), out=str(out), symmetric=True))
    card = (out / "README.md").read_text()
    assert "A weight average (`training.release.average`)" in card and f"`{second}` (0.5)" in card
    assert card.count("Dev metrics at selection") == 2 and mix.CARD["stylekqc"] in card
    assert mix.CARD["question_pairs"] in card
    assert not (out / "dev_metrics.json").exists()  # the average was never selected on dev
    assert model_info.describe(load_predictor(out, "similarity"))["metrics"] == []
    # An average with that average (an exported one, say) among its sources says what it is.
    again = average.average(average.AverageArgs(models=[str(soup), str(first)], out=str(tmp_path / "again")))
    export.export(export.ExportArgs(model=str(again), out=str(tmp_path / "again-exported")))
    assert f"`{soup}`: no training run of its own selected it" in (tmp_path / "again-exported" / "README.md").read_text()


def test_export_of_an_average_finds_the_e5_import_through_any_source(trained, tmp_path):
    served, stage = tmp_path / "served", tmp_path / "stage"
    # served: an export whose own --init run is gone (it carries import.json); stage: trained from it.
    for directory, init in ((served, tmp_path / "gone"), (stage, served)):
        shutil.copytree(trained / "similarity" / "best", directory)
        train_args = json.loads((directory / "train_args.json").read_text())
        (directory / "train_args.json").write_text(json.dumps({**train_args, "init": str(init)}))
    (served / "import.json").write_text(json.dumps({"pieces": 250002, "kept": 28434}))
    soup = average.average(average.AverageArgs(models=[str(served), str(stage)], out=str(tmp_path / "soup")))
    soup_args = json.loads((soup / "train_args.json").read_text())
    assert export.lineages(soup_args) == [[str(served)], [str(stage), str(served)]]
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(soup), out=str(out), symmetric=True))
    assert "KoELECTRA 아님" in json.loads((out / "serving.json").read_text())["origin"]
    assert (out / "import.json").is_file()
    with pytest.raises(ValueError, match="copy it elsewhere"):  # every source's chain counts
        export.export(export.ExportArgs(model=str(soup), out=str(served)))
