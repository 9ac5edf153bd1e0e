"""Soft labels in training: the loss that mixes gold and teacher labels.

Each training row may carry `teacher` (a class distribution), `soft_share` (how much of its loss is
the soft cross-entropy against it rather than the cross-entropy with its gold label) and `weight`
(what the row counts in the batch mean). Gold reviews: soft_share 0, weight 1. Pseudo-labeled
reviews (a mix's pseudo_labels source, training.data.mix): soft_share 1 (they have no gold
label), its `weight`.
"""
import torch
import torch.nn.functional as F


def soft_cross_entropy(logits, target_probabilities, reduction="mean"):
    """Cross-entropy against a distribution (the teacher's): averaged over the batch, or per row."""
    rows = -(target_probabilities * torch.log_softmax(logits, dim=-1)).sum(-1)
    return rows.mean() if reduction == "mean" else rows


def mixed_loss(logits, labels, teacher, soft_share, weight=None):
    """mean over rows of weight · ((1 - soft_share) · CE(gold) + soft_share · CE(teacher))."""
    hard = F.cross_entropy(logits, labels, reduction="none")
    soft = soft_cross_entropy(logits, teacher, reduction="none")
    rows = (1 - soft_share) * hard + soft_share * soft
    return (rows * weight).mean() if weight is not None else rows.mean()
