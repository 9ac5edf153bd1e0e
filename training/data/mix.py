"""A fine-tuning run's data as data: the sources it trains on, each with its options.

    {"train": [{"source": "korsts"}, {"source": "klue_sts"},
               {"source": "stylekqc", "per_block": 1, "score": 4.5},
               {"source": "question_pairs", "label": 1, "score": 4.5}],
     "variants": ["numerals"],
     "ranking": {"nli_premises": 4, "margin": 1.0, "contrasts": true, "everyday": true,
                 "edits": ["antonym", "negation"]}}

`finetune --mix` takes such a JSON file or the JSON text itself; no mix (or an empty one) trains
on the task's own set (DEFAULT_MIXES). The sources' rows are joined in list order, `skip` and
`limit` cutting one source's rows in file order; `variants` adds rewritten copies of every row
above; `ranking` adds the NLI ranking loss (training.train.ranking). A new source is one SOURCES entry:
its loader, its options and the sentence the model card says about it.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd

from training.data import numerals, sources
from training.data.contrasts import EDIT_KINDS
from training.data.dedup import held_out_keys, loose_key

NLI_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
DEFAULT_MIXES = {"sentiment": {"train": [{"source": "nsmc"}]},
                 "similarity": {"train": [{"source": "korsts"}]},
                 "nli": {"train": [{"source": "klue_nli"}]}}
DEV_FILES = {"sentiment": "nsmc/ratings_train.txt", "similarity": "korsts/sts-dev.tsv",
             "nli": "klue-nli/klue-nli-v1.1_dev.json"}
HELD_OUT = {"sentiment": "nsmc/ratings_test.txt", "similarity": "korsts/sts-dev.tsv"}
LABEL_COLUMNS = {"sentiment": ["text", "label"], "similarity": ["sentence1", "sentence2", "score"]}
REQUIRED = object()  # an option without a default
SLICES = {"skip": 0, "limit": 0}  # every source takes these unless it cuts its rows itself
RANKING = {"nli_premises": 4, "margin": 1.0, "weight": 1.0, "contrasts": False, "everyday": False,
           "edits": list(EDIT_KINDS)}
VARIANTS = {"numerals": numerals.numeral_variants}


class Context(NamedTuple):
    """What loaders may need: the data root, the seed, the task and the sets that select checkpoints."""
    root: Path
    seed: int
    task: str
    selecting: list  # dev and any further selection sets: kept out of added training rows


@dataclass(frozen=True)
class Source:
    """One kind of training rows: the task(s) it serves, its loader and options, its card sentence."""
    tasks: tuple
    load: Callable
    options: dict = field(default_factory=dict)
    sliced: bool = True  # skip/limit apply to its rows (False: it takes `limit` itself)
    card: str = ""


def nsmc(ctx):
    """NSMC train's 80% (sources.split_nsmc_train)."""
    return sources.split_nsmc_train(sources.load_nsmc(ctx.root / "nsmc" / "ratings_train.txt"))[0]


def read_pseudo_labels(path, limit=0, root=None):
    """training.train.pseudolabel's TSV (text, positive), its first `limit` rows (the most confident).

    Rows equal to a held-out review (NSMC test or dev, loose key) are dropped again here, with
    a message, so a file made some other way cannot bring one into training either.
    """
    frame = sources.read_tsv(path)
    frame = frame.iloc[:limit] if limit else frame
    held_out = set().union(*held_out_keys(root).values())
    leaked = frame["text"].map(loose_key).isin(held_out)
    if leaked.any():
        print(f"pseudo labels: dropped {int(leaked.sum())} rows equal to NSMC test/dev reviews", flush=True)
    frame = frame[~leaked]
    positive = frame["positive"].astype(float)
    return frame.assign(positive=positive, label=(positive >= 0.5).astype(int)).reset_index(drop=True)


def pseudo_labels(ctx, path, weight, limit):
    """training.train.pseudolabel's reviews: soft labels (`positive`), each counting `weight` in the loss."""
    frame = read_pseudo_labels(path, limit, ctx.root)
    print(f"pseudo_labels: {len(frame)} reviews (weight {weight})", flush=True)
    return frame.assign(weight=float(weight))


def korsts(ctx):
    """KorSTS train."""
    return sources.load_korsts(ctx.root / "korsts" / "sts-train.tsv")


def klue_sts_split(root):
    """KLUE-STS train as (train 90%, held-out 10%), the split fixed by sources.split_klue_sts_train."""
    return sources.split_klue_sts_train(sources.load_klue_sts_csv(root / "klue-sts" / "klue-sts-v1.1_train.csv"))


def klue_sts(ctx, train):
    """KLUE-STS train's 90% (train false: none of it, its tenth still scored at each evaluation)."""
    rows = klue_sts_split(ctx.root)[0]
    return rows if train else rows.iloc[:0]


def stylekqc(ctx, per_block, score):
    """Pairs inside StyleKQC act-train's blocks of style variants, all given one score."""
    pairs = sources.stylekqc_paraphrase_pairs(ctx.root, per_block, score, ctx.seed)
    print(f"stylekqc: {len(pairs)} pairs at {score}", flush=True)
    return pairs


def question_pairs(ctx, label, score):
    """The question-pair train file's pairs of one label (1: same meaning), all given one score."""
    score = (4.5 if label else 0.5) if score is None else score
    pairs = sources.question_pairs(ctx.root, label, score)
    print(f"question_pairs of label {label}: {len(pairs)} at {score}", flush=True)
    return pairs


def nli_frame(path):
    """KLUE-NLI pairs with integer labels (NLI_LABELS order)."""
    frame = sources.load_klue_nli(path)
    index = {name: i for i, name in NLI_LABELS.items()}
    return frame.assign(label=frame["label"].map(index).astype(int))


def klue_nli(ctx):
    """KLUE-NLI train."""
    return nli_frame(ctx.root / "klue-nli" / "klue-nli-v1.1_train.json")


def extra(ctx, path):
    """A TSV in the task's NSMC or KorSTS format (`flask --app main feedback export`), less any row
    with a text of dev, of a further selection set or of the held-out file."""
    rows = sources.load_task_data(ctx.task, path)
    columns = LABEL_COLUMNS[ctx.task][:-1]
    held_out = set().union(*(set(frame[columns].stack()) for frame in ctx.selecting))
    if (ctx.root / HELD_OUT[ctx.task]).exists():
        held_out |= set(sources.load_task_data(ctx.task, ctx.root / HELD_OUT[ctx.task])[columns].stack())
    kept = rows[~rows[columns].isin(held_out).any(axis=1)]
    print(f"extra: {len(kept)} of {len(rows)} rows added "
          f"({len(rows) - len(kept)} share a text with dev or held-out data)", flush=True)
    return kept[LABEL_COLUMNS[ctx.task]]


CARD = {
    "klue_sts": "- Also KLUE-STS v1.1 train (CC BY-SA 4.0, 11,666 pairs): a fixed 90% "
                "(`training.data.sources.split_klue_sts_train`, random_state=42) trains; the other 10% "
                "(1,167 pairs) is never trained on and shares checkpoint selection with KorSTS dev.",
    "pseudo_labels": "- Also unlabeled reviews of `pretrain/movie_reviews.txt` (the 629k-review crawl NSMC "
                     "comes from) with soft labels from a teacher ensemble (`training.train.pseudolabel`); every "
                     "line matching an NSMC test or dev review was dropped before labeling.",
    "stylekqc": "- Also StyleKQC act-train (CC BY-SA 4.0): pairs inside its blocks of ten style variants of "
                "one question or command (mix source `stylekqc`, `per_block` a block), given one high "
                "`score`. StyleKQC's `sts-dev.tsv`, built from act-dev, is never trained on and measures "
                "how paraphrases read.",
    "question_pairs": "- Also the question-pair train file (songys/Question_pair, as published): its pairs "
                      "that are not word for word the same (mix source `question_pairs`), those of the same "
                      "meaning (`label` 1) given one high `score` and, where the mix has `label` 0 too, the "
                      "others one low score. Its dev and test files are never trained on and measure how "
                      "paraphrases read.",
    "ranking": "- Also KLUE-NLI v1.1 train premises (CC BY-SA 4.0) with one entailed and one contradicted "
               "hypothesis each (`training.data.sources.nli_triplets`): a ranking loss asks the entailment to score "
               "the mix's `ranking.margin` above the contradiction, without fixing either score "
               "(`ranking.nli_premises` a step). KLUE-NLI dev is never trained on and measures it.",
    "contrasts": "- Also, in the same ranking loss, training pairs scored 4 or more with one side edited "
                 "against the other (`ranking.contrasts`, `training.data.contrasts`): the edit must score the "
                 "margin below the pair as written.",
    "everyday": "- Also, in the same ranking loss, everyday pairs with one side edited the same way: the "
                "question-pair train paraphrases and StyleKQC act-train pairs, and each chatbot question "
                "(songys/Chatbot_data, MIT) against its own edit (`ranking.everyday`).",
    "numerals": "- Also a copy of every training pair with a number before a counter, one side's numbers "
                "written in Korean words, the score kept (mix `variants`: `numerals`, `training.data.numerals`).",
}
EDIT_NAMES = {"antonym": "a swapped antonym", "number": "a changed number", "negation": "a negated predicate"}
SOURCES = {
    "nsmc": Source(("sentiment",), nsmc),
    "pseudo_labels": Source(("sentiment",), pseudo_labels, {"path": REQUIRED, "weight": 1.0, "limit": 0},
                            sliced=False, card=CARD["pseudo_labels"]),
    "korsts": Source(("similarity",), korsts),
    "klue_sts": Source(("similarity",), klue_sts, {"train": True}, card=CARD["klue_sts"]),
    "stylekqc": Source(("similarity",), stylekqc, {"per_block": 1, "score": 4.5}, card=CARD["stylekqc"]),
    "question_pairs": Source(("similarity",), question_pairs, {"label": REQUIRED, "score": None},
                             card=CARD["question_pairs"]),
    "klue_nli": Source(("nli",), klue_nli),
    "extra": Source(("sentiment", "similarity"), extra, {"path": REQUIRED}),
}


def parse(value, task) -> dict:
    """The mix from a dict, JSON text or a JSON file's path (None or empty: the task's own set),
    checked and with every option's default written out."""
    if not value:
        value = DEFAULT_MIXES[task]
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            value = json.loads(value)
        elif Path(value).is_file():
            value = json.loads(Path(value).read_text())
        else:
            raise ValueError(f"--mix takes a JSON file or JSON text: no file {value!r}")
    return check(value, task)


def check(mix, task) -> dict:
    """The mix with defaults filled in; a clear ValueError for anything unknown or missing."""
    unknown = sorted(set(mix) - {"train", "variants", "ranking"})
    if unknown:
        raise ValueError(f"unknown mix keys {unknown}: a mix takes train, variants and ranking")
    if not isinstance(mix.get("train"), list) or not mix["train"]:
        raise ValueError('a mix needs "train": a list of sources, e.g. [{"source": "korsts"}]')
    checked = {"train": [check_source(entry, task) for entry in mix["train"]]}
    if mix.get("variants"):
        checked["variants"] = check_variants(mix["variants"], task)
    if mix.get("ranking") is not None:
        checked["ranking"] = check_ranking(mix["ranking"], task)
    return checked


def check_source(entry, task) -> dict:
    """One train entry with its defaults, checked against its source's options."""
    name = entry.get("source") if isinstance(entry, dict) else None
    known = [key for key, source in SOURCES.items() if task in source.tasks]
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r} in the mix: {task} takes {', '.join(known)}")
    source = SOURCES[name]
    if task not in source.tasks:
        raise ValueError(f"source {name!r} is for {' or '.join(source.tasks)}, not {task}: {task} takes {', '.join(known)}")
    options = {**source.options, **(SLICES if source.sliced else {})}
    unknown = sorted(set(entry) - set(options) - {"source"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for source {name!r}: it takes {', '.join(options) or 'none'}")
    filled = {"source": name, **{key: entry.get(key, default) for key, default in options.items()}}
    missing = [key for key, value in filled.items() if value is REQUIRED]
    if missing:
        raise ValueError(f"source {name!r} needs {', '.join(missing)}")
    return filled


def check_variants(variants, task) -> list:
    """The variant names, all known and for similarity."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or task != "similarity":
        raise ValueError(f"mix variants are for similarity and take {', '.join(VARIANTS)}, not {unknown or variants}")
    return list(variants)


def check_ranking(ranking, task) -> dict:
    """The ranking settings with defaults; similarity only, nothing negative, known edit kinds."""
    if task != "similarity":
        raise ValueError("the mix's ranking applies to the similarity task only")
    unknown = sorted(set(ranking) - set(RANKING))
    if unknown:
        raise ValueError(f"unknown ranking key(s) {unknown}: it takes {', '.join(RANKING)}")
    filled = {**RANKING, **ranking}
    if filled["nli_premises"] < 1 or filled["margin"] < 0 or filled["weight"] < 0:
        raise ValueError("ranking: nli_premises must be at least 1, margin and weight not negative")
    bad = sorted(set(filled["edits"]) - set(EDIT_KINDS))
    if bad or not filled["edits"]:
        raise ValueError(f"ranking edits take some of {', '.join(EDIT_KINDS)}, not {bad or 'none'}")
    return filled


def load_source(ctx, entry) -> pd.DataFrame:
    """One checked train entry's rows."""
    source = SOURCES[entry["source"]]
    options = {key: entry[key] for key in source.options}
    rows = source.load(ctx, **options)
    if source.sliced:
        rows = rows.iloc[entry["skip"]:]
        rows = rows.iloc[:entry["limit"]] if entry["limit"] else rows
    return rows


def dev_sets(args) -> tuple:
    """(dev, further selection sets by name): the task's dev split, and KLUE-STS's held-out tenth
    whenever the mix has klue_sts (it shares checkpoint selection)."""
    root = sources.data_dir(args.data_dir)
    if args.task == "sentiment":
        dev = sources.split_nsmc_train(sources.load_nsmc(root / DEV_FILES["sentiment"]))[1]
    elif args.task == "nli":
        dev = nli_frame(root / DEV_FILES["nli"])
    else:
        dev = sources.load_korsts(root / DEV_FILES["similarity"])
    limit = args.max_dev_examples or None
    extra_devs = {}
    if any(entry["source"] == "klue_sts" for entry in args.mix["train"]):
        extra_devs["klue_sts_heldout"] = klue_sts_split(root)[1].iloc[:limit]
    return dev.iloc[:limit], extra_devs


def load_splits(args) -> tuple:
    """(train, dev, further selection sets): the mix's rows in order, then its variants."""
    dev, extra_devs = dev_sets(args)
    ctx = Context(sources.data_dir(args.data_dir), args.seed, args.task, [dev, *extra_devs.values()])
    train = pd.concat([load_source(ctx, entry) for entry in args.mix["train"]], ignore_index=True)
    for name in args.mix.get("variants", []):
        variants = VARIANTS[name](train, args.seed)
        print(f"variants {name}: {len(variants)} pairs", flush=True)
        train = pd.concat([train, variants], ignore_index=True)
    return train, dev, extra_devs


def sts_pairs(args) -> pd.DataFrame:
    """The mix's KorSTS and KLUE-STS rows: the gold pairs the ranking loss edits."""
    ctx = Context(sources.data_dir(args.data_dir), args.seed, args.task, [])
    return pd.concat([load_source(ctx, entry) for entry in args.mix["train"]
                      if entry["source"] in ("korsts", "klue_sts")], ignore_index=True)


def first_entry(mix, name, **match) -> dict:
    """The mix's first train entry of source `name` whose options match (None when none does)."""
    return next((entry for entry in mix["train"] if entry["source"] == name
                 and all(entry.get(key) == value for key, value in match.items())), None)


def from_train_args(train_args) -> dict:
    """A run's mix from its train_args.json; a run from before --mix gets one from its old options."""
    if "mix" in train_args:
        return train_args["mix"]
    old = train_args
    train = [DEFAULT_MIXES.get(old.get("task"), DEFAULT_MIXES["similarity"])["train"][0]]
    if old.get("klue_sts"):
        train.append({"source": "klue_sts", "train": old.get("train_klue_sts", True)})
    if old.get("style_paraphrases"):
        train.append({"source": "stylekqc", "per_block": old["style_paraphrases"],
                      "score": old.get("style_paraphrase_score", 4.5)})
    train += [{"source": "question_pairs", "label": label, "score": old.get(f"{flag}_score", default)}
              for label, flag, default in ((1, "question_paraphrase", 4.5), (0, "question_unrelated", 0.5))
              if old.get(flag if label == 0 else f"{flag}s")]
    if old.get("pseudo_labels"):
        train.append({"source": "pseudo_labels", "path": old["pseudo_labels"]})
    mix = {"train": train, "variants": ["numerals"] if old.get("numeral_variants") else []}
    if old.get("nli_ranking"):
        mix["ranking"] = {"nli_premises": old["nli_ranking"], "contrasts": old.get("contrast_ranking", False),
                          "everyday": old.get("everyday_contrasts", False),
                          "edits": old.get("contrast_edits", list(EDIT_KINDS))}
    return mix


def card_lines(mixes) -> list:
    """The card's sentences on the extra pairs and losses that any of the mixes behind a model used."""
    names = {entry["source"] for mix in mixes for entry in mix["train"]}
    rankings = [mix["ranking"] for mix in mixes if mix.get("ranking")]
    used = {"stylekqc": "stylekqc" in names, "question_pairs": "question_pairs" in names,
            "ranking": bool(rankings), "contrasts": any(r.get("contrasts") for r in rankings),
            "everyday": any(r.get("everyday") for r in rankings)}
    numerals_used = any("numerals" in mix.get("variants", []) for mix in mixes)
    return [CARD[name] for name, on in used.items() if on] + edit_kind_lines(rankings) + \
        ([CARD["numerals"]] if numerals_used else [])


def edit_kind_lines(rankings) -> list:
    """The card's line on which edits the contrast runs made (all kinds by default)."""
    editing = [r for r in rankings if r.get("contrasts") or r.get("everyday")]
    if not editing:
        return []
    made = [kind for kind in EDIT_KINDS if any(kind in r.get("edits", EDIT_KINDS) for r in editing)]
    left_out = [EDIT_NAMES[kind] for kind in EDIT_KINDS if kind not in made]
    return [f"- The edits made (`ranking.edits`): {', '.join(EDIT_NAMES[kind] for kind in made)}"
            + (f"; left out: {', '.join(left_out)}." if left_out else ".")]
