"""Average the weights of fine-tuned models that share an architecture and tokenizer ("model soup").

    python -m training.release.average --models runs/sim-e5-stage2/best runs/sim-e5-para/best \
        --weights 0.5 0.5 --out runs/sim-e5-soup

Two fine-tunes from the same starting point usually lie in one basin, so their mean is a model
too, often with something of each. The output is a complete model directory (the first model's
tokenizer and serving.json); its train_args.json is the first model's plus an `averaged` list,
which training.release.export turns into the card's account of the sources.
"""
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, HfArgumentParser

from model_files import TRAIN_ARGS_FILE, read_serving_info, write_serving_info

AVERAGED_KEY = "averaged"


@dataclass
class AverageArgs:
    models: list[str] = field(metadata={"help": "Model directories (the same architecture and tokenizer)."})
    out: str = field(metadata={"help": "Output directory; replaced."})
    weights: list[float] = field(default_factory=list, metadata={"help": "One weight per model, summing to 1 (default: equal)."})


def check_weights(models, weights) -> list:
    """The weights to use: equal by default; one per model, summing to 1."""
    weights = weights or [1 / len(models)] * len(models)
    if len(weights) != len(models) or abs(sum(weights) - 1) > 1e-6:
        raise ValueError(f"need one weight per model, summing to 1 (got {weights} for {len(models)} models)")
    return weights


def check_same_tokenizer(models) -> None:
    """Refuse models whose vocabularies differ: their embedding rows would not match."""
    vocabularies = [AutoTokenizer.from_pretrained(model).get_vocab() for model in models]
    if any(vocabulary != vocabularies[0] for vocabulary in vocabularies[1:]):
        raise ValueError("the models do not share one tokenizer")


def averaged_state(models, weights) -> tuple:
    """The first model, loaded, and the weighted mean of every model's floating-point tensors."""
    # fp32 whatever each checkpoint holds, so an fp16 export and an fp32 run average alike.
    loaded = [AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32) for model in models]
    states = [model.state_dict() for model in loaded]
    shapes = [{key: tensor.shape for key, tensor in state.items()} for state in states]
    if any(shape != shapes[0] for shape in shapes[1:]):
        raise ValueError("the models do not share one architecture")
    mean = {}
    for key, tensor in states[0].items():
        if tensor.is_floating_point():
            mean[key] = sum(weight * state[key].float() for weight, state in zip(weights, states)).to(tensor.dtype)
        else:  # integer buffers (position ids) are the same in every model
            mean[key] = tensor
    return loaded[0], mean


def average(args: AverageArgs) -> Path:
    """Write the averaged model directory and return its path."""
    weights = check_weights(args.models, args.weights)
    check_same_tokenizer(args.models)
    model, state = averaged_state(args.models, weights)
    model.load_state_dict(state)
    out, first = Path(args.out), Path(args.models[0])
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(first).save_pretrained(out)
    serving = read_serving_info(first)
    # The average is a model of its own: evaluations and cards name it, not its first source.
    write_serving_info(out, {**serving, "name": out.name})
    train_args = json.loads((first / TRAIN_ARGS_FILE).read_text())
    train_args[AVERAGED_KEY] = [{"model": str(path), "weight": weight}
                                for path, weight in zip(args.models, weights)]
    (out / TRAIN_ARGS_FILE).write_text(json.dumps(train_args, indent=2))
    return out


def main(argv=None):
    """Parse arguments and average."""
    (args,) = HfArgumentParser(AverageArgs).parse_args_into_dataclasses(argv)
    print(f"averaged {', '.join(args.models)} → {average(args)}")


if __name__ == "__main__":
    main()
