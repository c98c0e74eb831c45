"""The processor a run ran on, recorded as tags on every run.

TensorFlow's CPU kernels (oneDNN) choose their code by the processor's
instruction sets, so the same code and seed train different models on
different processors (measured here: the Original model of the same seed
scored 235 of 300 test images on one processor and 238 on another). A run's numbers are reproducible on a processor of
the same kind, not on any other; the tags say which kind:

* ``machine.processor``: vendor, family, model and stepping, and the model
  name (``AuthenticAMD family 25 model 17 stepping 1 (AMD EPYC)``);
* ``machine.isa``: a short hash of the processor's feature flags (two
  processors with the same name can differ in what they enable, AVX-512 in a
  virtual machine among them), with ``machine.isa_vector``, the widest vector
  extensions among them (``avx512f avx512_bf16 ...``), to read;
* ``machine.cores``: the cores this process may use;
* ``machine.tensorflow``: TensorFlow's version (its kernels change with it too).

Read from ``/proc/cpuinfo`` on Linux, from :mod:`platform` elsewhere. The
tags are not part of a step's key: a step finished on another processor is
still reused (its result is what that code computed there).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Mapping

PROCESSOR_TAG, ISA_TAG = "machine.processor", "machine.isa"
TAGS = (PROCESSOR_TAG, ISA_TAG, "machine.isa_vector", "machine.cores", "machine.tensorflow")
UNRECORDED = "not recorded"  # a run from before runs recorded their processor
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                "amx_int8", "asimd", "sve", "sve2")  # those that decide oneDNN's kernels, in this order


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The fields of the first processor in a ``/proc/cpuinfo`` text (names as written there)."""
    first = text.strip().split("\n\n")[0]
    fields = {}
    for line in first.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    return fields


def processor_tags(cpuinfo: Mapping[str, str], cores: int, tensorflow: str) -> dict[str, str]:
    """The tags for a processor described by ``cpuinfo`` (see :func:`parse_cpuinfo`; x86 names ``vendor_id``,
    ``cpu family``, ``model``, ``stepping``, ``model name``, ``flags``; ARM ``CPU implementer``, ``CPU part``,
    ``Features``)."""
    if "vendor_id" in cpuinfo:
        kind = (f"{cpuinfo['vendor_id']} family {cpuinfo.get('cpu family', '?')} model {cpuinfo.get('model', '?')} "
                f"stepping {cpuinfo.get('stepping', '?')}")
    elif "CPU implementer" in cpuinfo:
        kind = f"implementer {cpuinfo['CPU implementer']} part {cpuinfo.get('CPU part', '?')}"
    else:
        kind = platform.machine() or "unknown"
    name = cpuinfo.get("model name", "")
    flags = sorted(set((cpuinfo.get("flags") or cpuinfo.get("Features") or "").split()))
    return {PROCESSOR_TAG: f"{kind} ({name})" if name else kind,
            ISA_TAG: hashlib.sha256(" ".join(flags).encode()).hexdigest()[:10] if flags else "unknown",
            "machine.isa_vector": " ".join(f for f in VECTOR_FLAGS if f in flags) or "none",
            "machine.cores": str(cores),
            "machine.tensorflow": tensorflow}


@functools.lru_cache(maxsize=1)
def machine_tags() -> dict[str, str]:
    """This process' :func:`processor_tags` (read once)."""
    path = Path("/proc/cpuinfo")
    cpuinfo = parse_cpuinfo(path.read_text()) if path.is_file() else {"model name": platform.processor()}
    try:
        tensorflow = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tensorflow = "not installed"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    return processor_tags(cpuinfo, cores, tensorflow)


def processor_of(tags: Mapping[str, str]) -> str:
    """A run's processor as one label (``<processor> isa <hash>``), or :data:`UNRECORDED`."""
    if PROCESSOR_TAG not in tags:
        return UNRECORDED
    return f"{tags[PROCESSOR_TAG]} isa {tags.get(ISA_TAG, 'unknown')}"
