"""Train a cased WordPiece vocabulary on the reviews (the KcELECTRA recipe).

    python -m training.encoders.tokenizer --out runs/tokenizer-wp32k
"""
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tqdm import tqdm
from transformers import HfArgumentParser, PreTrainedTokenizerFast

from preprocessing import clean
from training.data import sources

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class TokenizerArgs:
    out: str = field(metadata={"help": "Directory to save the tokenizer (save_pretrained layout)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    vocab_size: int = field(default=32000, metadata={"help": "Size of the WordPiece vocabulary."})
    min_frequency: int = field(default=3, metadata={"help": "Drop pieces seen fewer times."})
    limit_alphabet: int = field(default=3000, metadata={"help": "Most frequent characters kept as base pieces."})
    max_texts: int = field(default=0, metadata={"help": "Use only this many texts (0 = all; for tests)."})

    def __post_init__(self):
        if self.vocab_size < len(SPECIAL_TOKENS) + 10:
            raise ValueError("vocab_size is too small")


def training_texts(root):
    """Unlabeled reviews plus the NSMC train and KorSTS train texts (main() cleans them)."""
    yield from sources.iter_corpus(Path(root) / "pretrain" / "movie_reviews.txt")
    yield from sources.labeled_train_texts(root)


def new_wordpiece() -> Tokenizer:
    """An empty cased BERT-style WordPiece tokenizer (no accent stripping: it would split Hangul)."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def wrap_for_transformers(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """Add [CLS] … [SEP] templates and wrap as a transformers tokenizer."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
        # ELECTRA embeds segment ids, so pairs must come with token_type_ids.
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def train_tokenizer(texts, vocab_size=32000, min_frequency=3, limit_alphabet=3000):
    """Train WordPiece on an iterable of texts; returns a transformers tokenizer."""
    tokenizer = new_wordpiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, limit_alphabet=limit_alphabet,
        special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##", show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return wrap_for_transformers(tokenizer)


def main(argv=None):
    """Train and save the tokenizer."""
    (args,) = HfArgumentParser(TokenizerArgs).parse_args_into_dataclasses(argv)
    texts = training_texts(sources.data_dir(args.data_dir))
    if args.max_texts:
        texts = itertools.islice(texts, args.max_texts)
    cleaned = (clean(text) for text in tqdm(texts, desc="cleaning", unit=" texts", mininterval=5))
    tokenizer = train_tokenizer(cleaned, args.vocab_size, args.min_frequency, args.limit_alphabet)
    tokenizer.save_pretrained(args.out)
    Path(args.out, "tokenizer_args.json").write_text(json.dumps(asdict(args), indent=2))
    print(f"saved a {len(tokenizer)}-token vocabulary to {args.out}")


if __name__ == "__main__":
    main()
