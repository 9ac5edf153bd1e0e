"""training.pretrain: ELECTRA pretraining (packing, masking, a step, resuming) on a tiny corpus."""
import math

import torch

from models import load_predictor
from training import pretrain
from training_helpers import run_finetune


def test_pack_never_splits_texts_and_respects_the_row_length():
    rows = pretrain.pack([[5, 6], [7, 8, 9], [], [10] * 20, [11]], seq_length=8, cls_id=2, sep_id=3)
    assert all(len(row) <= 8 and row[0] == 2 and row[-1] == 3 for row in rows)
    assert rows[0] == [2, 5, 6, 3, 7, 8, 9, 3]
    assert rows[1] == [2] + [10] * 6 + [3]  # a text longer than a row is cut, not split
    assert rows[2] == [2, 11, 3]


def test_masking_skips_special_tokens_and_is_drawn_anew():
    ids = torch.tensor([[2] + list(range(10, 200)) + [3, 0, 0]])
    special = torch.tensor([0, 2, 3])
    first, mask = pretrain.mask_tokens(ids, special, mask_id=4, mask_prob=0.15)
    second, other = pretrain.mask_tokens(ids, special, mask_id=4, mask_prob=0.15)
    assert not mask[torch.isin(ids, special)].any()
    assert (first[mask] == 4).all() and (first[~mask] == ids[~mask]).all()
    assert 10 <= mask.sum() <= 50 and not torch.equal(mask, other)


def tiny_pretrain_args(data_root, tokenizer_dir, out, **overrides):
    """Arguments for a pretraining run small enough for a test."""
    values = dict(out=str(out), data_dir=str(data_root), tokenizer=str(tokenizer_dir), seq_length=32,
                  embedding_size=16, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=32,
                  max_steps=4, batch_size=4, warmup_steps=0, checkpoint_every=2, threads=1,
                  include_extra=False)
    values.update(overrides)
    return pretrain.PretrainArgs(**values)


def test_pretraining_step_gives_finite_losses_and_shares_embeddings(data_root, tokenizer_dir, tmp_path):
    trainer = pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, tmp_path))
    shared = trainer.discriminator.electra.embeddings.word_embeddings.weight
    assert trainer.generator.electra.embeddings.word_embeddings.weight is shared
    assert trainer.generator.generator_lm_head.weight is shared
    assert trainer.generator.config.hidden_size == 16  # a quarter of the discriminator's 32 (min 16)
    before = shared.detach().clone()
    mlm, rtd = trainer.train_step()
    assert math.isfinite(mlm) and math.isfinite(rtd) and mlm > 0 and rtd > 0
    assert not torch.equal(before, shared.detach())


def test_pretraining_resumes_and_its_discriminator_initialises_finetuning(data_root, tokenizer_dir, tmp_path):
    out = tmp_path / "pretrain"
    pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, out, max_steps=2)).run()
    resumed = pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, out, max_steps=4, resume=True))
    assert resumed.run() == 4
    saved = resumed.discriminator.electra.embeddings.word_embeddings.weight
    discriminator = out / "discriminator"
    run_finetune("sentiment", data_root, discriminator, tmp_path / "ft", "--init", str(discriminator))
    predictor = load_predictor(tmp_path / "ft" / "best", "sentiment")
    assert predictor.config.hidden_size == 32
    assert predictor.model.electra.embeddings.word_embeddings.weight.shape == saved.shape
