"""The similarity ranking loss: a premise's entailed hypothesis must score a margin above its
contradicted one, without fixing either score (a mix's `ranking`, training.data.mix).

Its premises: KLUE-NLI train's (training.data.sources.nli_triplets), plus with `contrasts` the mix's
gold pairs scored 4 or more against an edit of one side, plus with `everyday` question-pair and
StyleKQC paraphrases and chatbot questions against an edit (training.data.contrasts).
"""
import random

import pandas as pd
import torch.nn.functional as F

from training.data import contrasts, mix, sources


def triplets(args, say=print) -> pd.DataFrame:
    """(premise, entailed, contradicted) rows of every premise set the mix's ranking asks for."""
    root, ranking = sources.data_dir(args.data_dir), args.mix["ranking"]
    found = sources.nli_triplets(root)
    say(f"ranking: {len(found)} KLUE-NLI premises, {ranking['nli_premises']} a step")
    if ranking["contrasts"]:
        edited = contrasts.contrast_triplets(mix.sts_pairs(args), seed=args.seed, kinds=ranking["edits"])
        say(f"ranking contrasts: {len(edited)} STS pairs with a meaning-flipping edit join them")
        found = pd.concat([found, edited], ignore_index=True)
    if ranking["everyday"]:
        edited = everyday_contrast_triplets(root, args)
        say(f"ranking everyday: {len(edited)} everyday pairs and questions with an edit join them")
        found = pd.concat([found, edited], ignore_index=True)
    return found


def everyday_contrast_triplets(root, args) -> pd.DataFrame:
    """Edits in the register people type: question-pair and StyleKQC paraphrases with one side
    edited against the other, and chatbot questions against their own edit."""
    # The paraphrases as the mix's own stylekqc and same-meaning question entries make them.
    style = mix.first_entry(args.mix, "stylekqc") or {"per_block": 1, "score": 4.5}
    question = mix.first_entry(args.mix, "question_pairs", label=1) or {"score": None}
    score = 4.5 if question["score"] is None else question["score"]
    paraphrases = pd.concat([sources.question_pairs(root, 1, score),
                             sources.stylekqc_paraphrase_pairs(root, max(style["per_block"], 1),
                                                            style["score"], args.seed)])
    kinds = args.mix["ranking"]["edits"]
    return pd.concat([contrasts.contrast_triplets(paraphrases, min_score=0.0, seed=args.seed, kinds=kinds),
                      contrasts.self_contrast_triplets(sources.chatbot_questions(root), seed=args.seed, kinds=kinds)],
                     ignore_index=True)


def ranking_pairs(found, seed):
    """(premise, entailed) and (premise, contradicted) pairs, row for row; a seeded half of the
    premises go second in both, since the app scores a pair in both orders."""
    rng = random.Random(seed)
    hypothesis_first = [rng.random() < 0.5 for _ in range(len(found))]

    def pairs(column):
        ordered = [(h, p) if flip else (p, h)
                   for p, h, flip in zip(found["premise"], found[column], hypothesis_first)]
        return pd.DataFrame(ordered, columns=["sentence1", "sentence2"]).assign(score=0.0)
    return pairs("entailed"), pairs("contradicted")


def pad_columns(tensor, width, value):
    """A (rows, length) tensor padded on the right to width columns."""
    return F.pad(tensor, (0, width - tensor.shape[1]), value=value)


def margin_ranking_loss(entailed, contradicted, margin):
    """Mean hinge: zero where each entailment scores at least margin above its contradiction."""
    return F.relu(margin - (entailed - contradicted)).mean()
