"""Tokenized datasets and length-grouped, dynamically padded batches (CPU-friendly)."""
import random

import torch

from preprocessing import clean_if


def encode_task(tokenizer, frame, task, max_length, cleaning=True):
    """Token ids, segment ids and labels for a task's data frame."""
    if task == "sentiment":
        texts = [clean_if(text, cleaning) for text in frame["text"]]
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        labels = frame["label"].tolist()
    else:
        first = [clean_if(text, cleaning) for text in frame["sentence1"]]
        second = [clean_if(text, cleaning) for text in frame["sentence2"]]
        encoded = tokenizer(first, second, truncation=True, max_length=max_length)
        labels = frame["label" if task == "nli" else "score"].tolist()
    type_ids = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
    return {"input_ids": encoded["input_ids"], "token_type_ids": type_ids, "labels": labels}


def length_grouped_batches(lengths, batch_size, seed, group_factor=50):
    """Shuffled batches of indices whose lengths are close, to cut padding.

    Indices are shuffled, cut into groups of batch_size * group_factor, sorted by length inside
    each group and split into batches; the batch order is shuffled again. Deterministic per seed.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * group_factor
    batches = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lengths.__getitem__)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths, batch_size):
    """Batches in length order (for evaluation, where order does not matter)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(dataset, indices, pad_id, regression):
    """Pad one batch to its longest member: tensors ready for the model."""
    longest = max(len(dataset["input_ids"][i]) for i in indices)
    ids = torch.full((len(indices), longest), pad_id, dtype=torch.long)
    types = torch.zeros((len(indices), longest), dtype=torch.long)
    mask = torch.zeros((len(indices), longest), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(dataset["input_ids"][i])
        ids[row, :n] = torch.tensor(dataset["input_ids"][i])
        types[row, :n] = torch.tensor(dataset["token_type_ids"][i])
        mask[row, :n] = 1
    label_type = torch.float if regression else torch.long
    labels = torch.tensor([dataset["labels"][i] for i in indices], dtype=label_type)
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": labels}
    # Soft labels (distillation, pseudo labels) and their per-row share and weight of the loss.
    for key in ("teacher", "soft_share", "weight"):
        if key in dataset:
            batch[key] = torch.tensor([dataset[key][i] for i in indices], dtype=torch.float)
    return batch
