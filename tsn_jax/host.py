"""What the host machine is, for the records of measured runs and benchmarks.

A run's figures depend on its CPU, not only on its code and seed: XLA compiles for the
widest vector instructions the CPU has, and the oneDNN kernels it calls pick theirs when
they run; another width sums in another order, so training takes another path from the
first steps on (docs/studies.md has the measurements). The records therefore name the
CPU model and its widest vector extension, and the variables that cap what XLA and
oneDNN use, when they are set (`XLA_FLAGS=--xla_cpu_max_isa=...`,
`ONEDNN_MAX_CPU_ISA`, or its former name `DNNL_MAX_CPU_ISA`).
"""

from __future__ import annotations

import os
import platform

CPUINFO = "/proc/cpuinfo"
# The environment variables that change which instructions compute a run.
ISA_VARIABLES = ("XLA_FLAGS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# The widest first: (the flag in /proc/cpuinfo, the name recorded).
_VECTOR_EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))


def _cpuinfo_field(cpuinfo: str | None, field: str) -> str:
    """The value of `field` in the first processor's block of /proc/cpuinfo text (None:
    this machine's), or ''."""
    text = _read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return ""


def _read_cpuinfo() -> str:
    try:
        with open(CPUINFO) as f:
            return f.read()
    except OSError:
        return ""


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU model: /proc/cpuinfo's 'model name' (Linux), or what `platform` knows
    (often '' where there is no /proc).

    Args:
      cpuinfo: the text of /proc/cpuinfo; None reads this machine's.
    """
    return _cpuinfo_field(cpuinfo, "model name") or platform.processor()


def vector_extension(cpuinfo: str | None = None) -> str:
    """The widest x86 vector extension of the CPU: 'AVX-512', 'AVX2', 'AVX', or '' when
    /proc/cpuinfo names none of them (another architecture, or no /proc).

    Args:
      cpuinfo: the text of /proc/cpuinfo; None reads this machine's.
    """
    flags = set(_cpuinfo_field(cpuinfo, "flags").split())
    return next((name for flag, name in _VECTOR_EXTENSIONS if flag in flags), "")


def machine_description() -> str:
    """One line naming this machine for a measurement's record, e.g.
    'x86_64, Intel(R) Xeon(R) Processor, AVX-512, 2 CPU cores, Linux', with
    ", XLA_FLAGS='...'" and the like added for each of ISA_VARIABLES that is set."""
    cpuinfo = _read_cpuinfo()
    parts = [platform.machine(), cpu_name(cpuinfo), vector_extension(cpuinfo)]
    parts += [f"{os.cpu_count()} CPU cores", platform.system()]
    parts += [f"{var}='{os.environ[var]}'" for var in ISA_VARIABLES if os.environ.get(var)]
    return ", ".join(part for part in parts if part)
