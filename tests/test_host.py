"""tsn_jax.host: the machine named in run records and benchmarks."""

import pytest

from tsn_jax import host

# Two processors' blocks as Linux prints them; only the first is read.
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw amx_tile

processor\t: 1
model name\t: Another CPU
flags\t\t: fpu sse
"""
EPYC = """processor\t: 0
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 avx avx2 fma
"""


@pytest.mark.parametrize(
    "cpuinfo, name, extension",
    [
        (XEON, "Intel(R) Xeon(R) Processor", "AVX-512"),
        (EPYC, "AMD EPYC 7B12", "AVX2"),
        ("processor\t: 0\nmodel name\t: Old\nflags\t\t: fpu sse avx\n", "Old", "AVX"),
        # avx512bw alone is not the foundation (avx512f); avx2 is the widest named.
        ("model name\t: X\nflags\t\t: avx2 avx512bw\n", "X", "AVX2"),
        ("model name\t: X\nflags\t\t: fpu sse2\n", "X", ""),
    ],
)
def test_cpu_name_and_widest_vector_extension(cpuinfo, name, extension):
    assert host.cpu_name(cpuinfo) == name
    assert host.vector_extension(cpuinfo) == extension


def test_without_cpuinfo_the_name_comes_from_platform(monkeypatch):
    monkeypatch.setattr(host.platform, "processor", lambda: "arm")
    assert host.cpu_name("") == "arm"
    assert host.vector_extension("") == ""


def test_machine_description_names_the_cpu_and_the_isa_caps(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(EPYC)
    monkeypatch.setattr(host, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(host.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(host.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(host.platform, "system", lambda: "Linux")
    for name in host.ISA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert host.machine_description() == "x86_64, AMD EPYC 7B12, AVX2, 2 CPU cores, Linux"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert host.machine_description() == (
        "x86_64, AMD EPYC 7B12, AVX2, 2 CPU cores, Linux, XLA_FLAGS='--xla_cpu_max_isa=AVX2', "
        "ONEDNN_MAX_CPU_ISA='AVX2'"
    )
    # No /proc/cpuinfo (another OS): the parts it would give are left out.
    monkeypatch.setattr(host, "CPUINFO", str(tmp_path / "missing"))
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(host.platform, "processor", lambda: "")
    assert host.machine_description() == "x86_64, 2 CPU cores, Linux"
