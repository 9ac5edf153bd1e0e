"""How a model computes: the device, the dtype, and whether its Linear layers run in int8.

The choice depends on the host (hardware.py), the COMPUTE_DTYPE and QUANTIZE settings and the
model's serving.json; no transformers here, so training can pick a dtype without loading one.
"""
import logging
import warnings

import torch

import hardware
import microbatch
from model_errors import ModelLoadError

# What one more forward pass costs, in padded tokens, when a batch is split by length. On a CPU
# a pass over one short review (~20 ms for ELECTRA-small) is mostly fixed cost, about 64 tokens
# of work, so a split pays once it saves more padding than that. A GPU runs a whole batch in
# about the time of one row: there, fewer passes always win.
CALL_COST_TOKENS = {"cpu": 64, "cuda": microbatch.NEVER_SPLIT}
# COMPUTE_DTYPE's values: "auto" picks per host (see compute_dtype), the others force one.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
# serving.json's `int8_layers`: the Linear layers int8 takes (int8_layer_names), most first.
INT8_ATTENTION_AND_FEED_FORWARD = "attention+feed-forward"
INT8_ATTENTION = "attention"
INT8_LAYER_SETS = (INT8_ATTENTION_AND_FEED_FORWARD, INT8_ATTENTION)
# A traced forward pass must give the eager model's logits to within this (it gave them exactly).
TRACE_TOLERANCE = 1e-4

log = logging.getLogger(__name__)


def resolve_device(device=None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_dtype_setting(requested) -> None:
    """Refuse a COMPUTE_DTYPE that is none of auto, fp32, bf16, fp16."""
    if requested is not None and not isinstance(requested, torch.dtype) \
            and requested not in DTYPE_CHOICES:
        raise ModelLoadError(f"COMPUTE_DTYPE must be one of {', '.join(DTYPE_CHOICES)}, "
                             f"not {requested!r}")


def compute_dtype(requested, device) -> torch.dtype:
    """The dtype requested, or for auto: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32."""
    # A CPU without AMX or AVX-512 BF16 emulates bf16, slower than fp32 (hardware.py).
    check_dtype_setting(requested)
    if isinstance(requested, torch.dtype):
        return requested
    if requested not in (None, "auto"):
        return DTYPES[requested]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if hardware.cpu_has_fast_bf16() else torch.float32


def serving_precision(requested, device, quantize, model_allows_int8=True,
                      int8_layers=INT8_ATTENTION_AND_FEED_FORWARD) -> tuple:
    """(dtype, int8?): how a model runs, from COMPUTE_DTYPE, QUANTIZE and its serving.json."""
    # int8 dynamic quantization needs fp32 around it and runs on CPUs only. QUANTIZE None gives
    # int8 to a model that allows it, unless COMPUTE_DTYPE forces bf16 or fp16; a model that
    # refuses int8 runs in the host's dtype (bf16 where the CPU has it natively, else fp32).
    dtype = compute_dtype(requested, device)
    if device.type != "cpu":
        if quantize:
            log.warning("QUANTIZE applies to CPU models only; %s runs unquantized", device)
        return dtype, False
    forced = requested not in (None, "auto")
    if dtype == torch.float16:
        log.warning("COMPUTE_DTYPE=fp16 on a CPU: most CPUs emulate fp16, far slower than fp32")
    if quantize is None:
        # int8 of the attention alone leaves two thirds of the work in fp32, which a CPU with
        # native bf16 runs about 1.8x faster in bf16: there bf16 wins.
        bf16_faster = int8_layers == INT8_ATTENTION and dtype == torch.bfloat16
        quantize = model_allows_int8 and (not forced or dtype == torch.float32) and not bf16_faster
    if quantize and forced and dtype != torch.float32:
        raise ModelLoadError(f"QUANTIZE=true (int8 with fp32 around it) conflicts with "
                             f"COMPUTE_DTYPE={DTYPE_NAMES.get(dtype, dtype)}: set one of them")
    return (torch.float32, True) if quantize else (dtype, False)


def check_int8_layers(layers) -> None:
    """Refuse an int8 layer set (serving.json `int8_layers`) that is not one of INT8_LAYER_SETS."""
    if layers not in INT8_LAYER_SETS:
        raise ModelLoadError(f"int8_layers must be one of {', '.join(INT8_LAYER_SETS)}, not {layers!r}")


def int8_layer_names(model, layers=INT8_ATTENTION_AND_FEED_FORWARD) -> set:
    """The encoder's Linear layers that int8 takes: all but the feed-forward outputs, or attention only.

    A feed-forward output reads the GELU activations, whose few huge channels set the one int8
    scale of each row of inputs and flatten the rest: quantized, those layers alone moved KorSTS
    dev Spearman from 0.890 to 0.857 (600 pairs), the others together by +0.002. The
    classification head stays fp32 too (it is tiny). For the similarity model the feed-forward
    inputs cost KLUE-NLI AUC (0.005, most of it in the upper layers), so its serving.json keeps
    int8 to the attention projections (INT8_ATTENTION; results/int8-served-models.json)."""
    check_int8_layers(layers)
    names = {name for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and ".encoder." in f".{name}."
             and not (name.endswith(".output.dense") and ".attention." not in name)}
    if layers == INT8_ATTENTION:
        return {name for name in names if ".attention." in name}
    return names


def quantize_linear_layers(model, layers=INT8_ATTENTION_AND_FEED_FORWARD):
    """int8 dynamic quantization (CPU only) of int8_layer_names: int8 weights, fp32 elsewhere."""
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao (not installed); it still
        # works, and its deprecation warnings would fill every worker's start-up log.
        warnings.simplefilter("ignore")
        # One scale per output row, not per matrix: as fast, and an outlier row no longer sets
        # every row's scale.
        per_row = torch.ao.quantization.per_channel_dynamic_qconfig
        config = {name: per_row for name in int8_layer_names(model, layers)}
        return torch.ao.quantization.quantize_dynamic(model, config, dtype=torch.qint8,
                                                      inplace=True)  # no second fp32 copy


def use_trace(requested, device) -> bool:
    """TRACE_MODEL: None traces on a CPU only (measured there), True or False as set."""
    return device.type == "cpu" if requested is None else bool(requested)


def traced_model(model, example, checks, tolerance=TRACE_TOLERANCE):
    """model as a TorchScript trace of example, or None if tracing fails or a check batch differs."""
    # On 2 CPU cores the eager model spends about a third of a short input's time in Python
    # (transformers' code per layer, the quantized ops' dispatch); the trace runs the same kernels
    # without it: one review's predict() 22.7 -> 15.6 ms, one pair's 36.4 -> 29.5 ms in int8
    # (results/forward-cpu.json). torch.compile measured slower and moved the int8 model's
    # outputs. A trace records one path through the code: example must be padded, so that the
    # attention mask stays in the graph, and the checks (other sizes and lengths) show that path
    # fits them; they replace torch.jit's own check_trace, which would trace a second time.
    # torch.jit is deprecated: when it goes, the model runs eagerly again, with a warning.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation and tracer warnings: the checks decide
            with torch.no_grad():
                traced = torch.jit.trace(model, example_kwarg_inputs=dict(example), strict=False,
                                         check_trace=False)
        with torch.inference_mode():
            gap = max(float((traced(**batch)["logits"] - model(**batch).logits).abs().max())
                      for batch in [example, *checks])
    except Exception as error:  # noqa: BLE001 - an untraceable model still serves, eagerly
        log.warning("tracing the model failed (%s): it runs eagerly", error)
        return None
    if not gap <= tolerance:  # NaN included
        log.warning("the traced model's logits differ from the model's by %.3g: it runs eagerly", gap)
        return None
    return traced
