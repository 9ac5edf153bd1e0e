"""training.data.mix: a run's data as data: sources checked by name and key, a file or JSON text alike,
the plain similarity mix, and the mix read back from older runs' options."""
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from training.data import mix, sources
from training.train import finetune
from training_helpers import NO_EXTRA_PAIRS, mix_argv

PLAIN = "training/recipes/similarity-plain.json"


@pytest.mark.parametrize("bad, message", [
    ({"train": [{"source": "korsst"}]}, "unknown source 'korsst' in the mix: similarity takes korsts, klue_sts"),
    ({"train": [{"source": "nsmc"}]}, "source 'nsmc' is for sentiment, not similarity"),
    ({"train": [{"source": "stylekqc", "scor": 4.0}]}, r"unknown key\(s\) \['scor'\] for source 'stylekqc'"),
    ({"train": [{"source": "question_pairs"}]}, "source 'question_pairs' needs label"),
    ({"train": [{"source": "korsts"}], "variant": ["numerals"]}, r"unknown mix keys \['variant'\]"),
    ({"train": []}, 'a mix needs "train"'),
    ({"train": [{"source": "korsts"}], "variants": ["swap"]}, "variants are for similarity and take numerals"),
    ({"train": [{"source": "korsts"}], "ranking": {"premises": 2}}, r"unknown ranking key\(s\) \['premises'\]"),
    ({"train": [{"source": "korsts"}], "ranking": {"edits": ["numbers"]}}, "ranking edits take some of"),
    ({"train": [{"source": "korsts"}], "ranking": {"margin": -1}}, "not negative"),
])
def test_a_mix_with_anything_unknown_or_missing_is_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        mix.parse(json.dumps(bad), "similarity")


def test_the_ranking_loss_is_for_similarity_only(tokenizer_dir):
    with pytest.raises(ValueError, match="similarity task only"):
        finetune.parse_args(["--task", "sentiment", "--init", str(tokenizer_dir),
                             *mix_argv("nsmc", ranking={"nli_premises": 2})])


def test_a_missing_mix_file_is_named():
    with pytest.raises(ValueError, match="no file 'no-such-mix.json'"):
        mix.parse("no-such-mix.json", "similarity")


def test_a_mix_file_and_the_same_json_text_give_the_same_training_frame(data_root, tokenizer_dir, tmp_path):
    entries = {"train": [{"source": "korsts", "skip": 2}, {"source": "klue_sts"}], "variants": ["numerals"]}
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(entries))
    common = ["--task", "similarity", "--data_dir", str(data_root), "--init", str(tokenizer_dir)]
    from_file = finetune.parse_args(common + ["--mix", str(path)])
    from_text = finetune.parse_args(common + ["--mix", json.dumps(entries)])
    assert from_file.mix == from_text.mix and from_file.mix["train"][0] == {"source": "korsts", "skip": 2, "limit": 0}
    pd.testing.assert_frame_equal(mix.load_splits(from_file)[0], mix.load_splits(from_text)[0])


def test_the_plain_similarity_mix_is_korsts_train_and_nine_tenths_of_klue_sts(data_root, tokenizer_dir):
    common = ["--task", "similarity", "--data_dir", str(data_root), "--init", str(tokenizer_dir)]
    train, _, extra_devs = mix.load_splits(finetune.parse_args(common + ["--mix", PLAIN]))
    korsts = sources.load_korsts(data_root / "korsts" / "sts-train.tsv")
    klue_train, klue_held_out = sources.split_klue_sts_train(
        sources.load_klue_sts_csv(data_root / "klue-sts" / "klue-sts-v1.1_train.csv"))
    pd.testing.assert_frame_equal(train, pd.concat([korsts, klue_train], ignore_index=True))
    pd.testing.assert_frame_equal(extra_devs["klue_sts_heldout"], klue_held_out)
    # The task config's default (the card's first stage) is the same mix; an empty --mix is KorSTS alone.
    assert finetune.parse_args(common).mix == mix.parse(PLAIN, "similarity")
    assert finetune.parse_args(common + NO_EXTRA_PAIRS).mix == {"train": [{"source": "korsts", "skip": 0, "limit": 0}]}


SERVED_LINEAGE = "training/recipes/similarity-served.sh"
PARAPHRASES = {"task": "similarity", "klue_sts": True, "style_paraphrases": 1, "question_paraphrases": True,
               "question_unrelated": True}
RANKING = PARAPHRASES | {"numeral_variants": True, "nli_ranking": 4, "ranking_margin": 1.0}
CONTRASTS = RANKING | {"contrast_ranking": True, "everyday_contrasts": True, "contrast_edits": ["antonym", "negation"]}


@pytest.mark.parametrize("old_switches, mix_file", [
    ("running_model/similarity/train_args.json", PLAIN),  # stage 2's switches, saved beside the served model
    (PARAPHRASES, "training/recipes/similarity-paraphrases.json"),  # the card's stages, as run then
    (RANKING, "training/recipes/similarity-ranking.json"),
    (CONTRASTS, "training/recipes/similarity-contrasts.json"),
])
def test_the_served_stages_old_switches_read_as_the_mix_files_the_served_recipe_uses(old_switches, mix_file):
    if isinstance(old_switches, str):
        if not Path(old_switches).exists():
            pytest.skip(f"{old_switches} is absent")
        old_switches = json.loads(Path(old_switches).read_text())
    read = mix.from_train_args(old_switches)
    assert mix.check(read, "similarity") == mix.parse(mix_file, "similarity")
    assert mix.from_train_args({"task": "similarity", "mix": read}) is read
    assert mix_file == PLAIN or f"--mix {mix_file}" in Path(SERVED_LINEAGE).read_text()


def test_the_served_recipe_is_valid_bash_and_names_files_that_exist():
    subprocess.run(["bash", "-n", SERVED_LINEAGE], check=True)
    named = re.findall(r"training/recipes/[\w.-]+", Path(SERVED_LINEAGE).read_text())
    assert len(named) >= 6 and all(Path(name).exists() for name in named)
