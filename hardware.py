"""What this machine can compute fast: CPU flags, and the dtype to train or serve in.

bf16 matrix work pays on CPUs with AMX or AVX-512 BF16 (Intel Sapphire Rapids and later: ~1.7–1.9×
fp32 for these models); elsewhere (AMD EPYC of the Zen 2/3 kind, older Xeons) PyTorch emulates it
and it is slower than fp32. Neither Flask nor training code lives here: both import it.
"""
import platform
from functools import lru_cache
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """The CPU's model name and flags from /proc/cpuinfo (empty on systems without it)."""
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.exists() else ""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {"model": fields.get("model name") or platform.processor() or platform.machine(),
            "flags": sorted(set(fields.get("flags", "").split()))}


def cpu_has_fast_bf16(info=None) -> bool:
    """True where the CPU multiplies bf16 matrices natively (AMX or AVX-512 BF16)."""
    flags = set((info or cpu_info())["flags"])
    return any(flag in flags for flag in BF16_FLAGS)


def describe_cpu(info=None) -> str:
    """One line: the CPU model and whether it has native bf16."""
    info = info or cpu_info()
    native = [flag for flag in BF16_FLAGS if flag in info["flags"]]
    return f"{info['model']}; bf16: {', '.join(native) if native else 'no native support'}"
