"""Numbers in digits or in Korean words, for training and evaluation pairs.

The STS training pairs mostly write counted numbers in digits, so a cross-encoder learns that
「세 시」 and 「3시」 are different words. `numeral_variants` adds copies of training pairs with one
side spelled out by `korean_numbers.spell_out`, the score unchanged; `variant_pairs` builds the
same kind of pairs from held-out data to measure how far a model's score moves.
"""
import random

import pandas as pd

from korean_numbers import spell_out


def spelled_pair(first: str, second: str, rng: random.Random):
    """The pair with one side's numbers spelled out (a random side where both have some), or None."""
    first_spelled, second_spelled = spell_out(first), spell_out(second)
    options = ([(first_spelled, second)] if first_spelled != first else []) + \
        ([(first, second_spelled)] if second_spelled != second else [])
    return rng.choice(options) if options else None


def numeral_variants(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A copy of every pair with numbers before counters, one side spelled out, the score kept."""
    rng = random.Random(seed)
    rows = []
    for row in frame.itertuples(index=False):
        pair = spelled_pair(row.sentence1, row.sentence2, rng)
        if pair:
            rows.append({**row._asdict(), "sentence1": pair[0], "sentence2": pair[1]})
    return pd.DataFrame(rows, columns=frame.columns)


def variant_pairs(frame: pd.DataFrame, seed: int = 0) -> tuple:
    """(the pairs of frame that have a number before a counter, the same pairs spelled out)."""
    variants = numeral_variants(frame.reset_index(drop=True).assign(row=range(len(frame))), seed)
    originals = frame.reset_index(drop=True).iloc[variants["row"].tolist()].reset_index(drop=True)
    return originals, variants.drop(columns="row").reset_index(drop=True)
