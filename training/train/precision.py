"""The training precision for this machine: bf16 autocast where the hardware has it, else fp32."""
import torch

import hardware

CHOICES = ("auto", "no", "bf16", "fp16")


def training_precision(requested="auto") -> str:
    """Accelerate's mixed_precision: as requested, or for auto bf16 on a capable GPU or CPU, else no."""
    if requested not in CHOICES:
        raise ValueError(f"mixed precision must be one of {', '.join(CHOICES)}, not {requested!r}")
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if hardware.cpu_has_fast_bf16() else "no"
