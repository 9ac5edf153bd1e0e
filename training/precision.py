"""The training precision for this machine: bf16 autocast where the hardware has it, else fp32."""
import torch

from hardware import cpu_has_fast_bf16, describe_cpu  # noqa: F401  (describe_cpu re-exported)
from hardware import cpu_has_fast_bf16 as hardware_bf16  # the check itself, for a faked CPU in tests

CHOICES = ("auto", "no", "bf16", "fp16")


def training_precision(requested="auto", cuda=None, cpu_bf16=None) -> str:
    """Accelerate's mixed_precision: as requested, or for auto bf16 on a capable GPU or CPU, else no."""
    if requested not in CHOICES:
        raise ValueError(f"mixed precision must be one of {', '.join(CHOICES)}, not {requested!r}")
    if requested != "auto":
        return requested
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if (cpu_has_fast_bf16() if cpu_bf16 is None else cpu_bf16) else "no"
