"""The processor a run ran on: read from /proc/cpuinfo, recorded on every run, never part of a step's key."""

import pytest

from workflow import machine

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16

processor\t: 1
vendor_id\t: OtherVendor
flags\t\t: fpu
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes sve
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


def test_the_first_processor_of_cpuinfo_is_read_field_by_field():
    fields = machine.parse_cpuinfo(X86)
    assert fields["vendor_id"] == "GenuineIntel" and fields["model"] == "143" and fields["cpu family"] == "6"
    assert fields["model name"] == "Intel(R) Xeon(R) Platinum 8480+"


def test_processor_tags_name_the_kind_and_hash_the_flags_in_any_order():
    tags = machine.processor_tags(machine.parse_cpuinfo(X86), 2, "2.21.0")
    assert tags[machine.PROCESSOR_TAG] == "GenuineIntel family 6 model 143 stepping 8 (Intel(R) Xeon(R) Platinum 8480+)"
    assert tags["machine.isa_vector"] == "avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16"
    assert tags["machine.cores"] == "2" and tags["machine.tensorflow"] == "2.21.0"
    assert set(tags) == set(machine.TAGS)
    shuffled = X86.replace("fpu sse2 avx avx2", "avx2 avx sse2 fpu")
    assert machine.processor_tags(machine.parse_cpuinfo(shuffled), 2, "x")[machine.ISA_TAG] == tags[machine.ISA_TAG]
    fewer = X86.replace(" avx512_bf16", "")  # same name, one extension fewer (a virtual machine hiding it)
    other = machine.processor_tags(machine.parse_cpuinfo(fewer), 2, "x")
    assert other[machine.PROCESSOR_TAG] == tags[machine.PROCESSOR_TAG]
    assert other[machine.ISA_TAG] != tags[machine.ISA_TAG] and "avx512_bf16" not in other["machine.isa_vector"]
    arm = machine.processor_tags(machine.parse_cpuinfo(ARM), 4, "x")
    assert arm[machine.PROCESSOR_TAG] == "implementer 0x41 part 0xd40"
    assert arm["machine.isa_vector"] == "asimd sve"


def test_a_run_without_the_tags_is_unrecorded():
    assert machine.processor_of({}) == machine.UNRECORDED
    tags = machine.processor_tags(machine.parse_cpuinfo(X86), 2, "x")
    assert machine.processor_of(tags) == f"{tags[machine.PROCESSOR_TAG]} isa {tags[machine.ISA_TAG]}"


def test_every_run_records_this_processor_and_a_step_is_reused_on_another(tmp_path, monkeypatch):
    import mlflow

    from tests.conftest import fresh_store
    from workflow import step_runs, tracking
    tracking.configure(fresh_store(tmp_path), experiment="machine-test")
    calls = []
    step_runs._steps.clear()
    first = step_runs.get_or_run("probe", "probe-step", {"x": 1}, {}, "blur", lambda: calls.append(1))
    run = mlflow.MlflowClient().get_run(first)
    assert {k: run.data.tags[k] for k in machine.TAGS} == machine.machine_tags()
    other = {**machine.machine_tags(), machine.ISA_TAG: "0000000000"}
    monkeypatch.setattr(tracking, "machine_tags", lambda: other)
    step_runs._steps.clear()  # a new entry run, on another processor
    again = step_runs.get_or_run("probe", "probe-step", {"x": 1}, {}, "blur", lambda: calls.append(2))
    assert again == first and calls == [1]  # the processor is recorded, not keyed
    step_runs._steps.clear()
    fresh = step_runs.get_or_run("probe", "probe-step-2", {"x": 2}, {}, "blur", lambda: calls.append(3))
    assert mlflow.MlflowClient().get_run(fresh).data.tags[machine.ISA_TAG] == "0000000000"
    step_runs._steps.clear()


@pytest.mark.parametrize("text", ["", "processor\t: 0\n"])
def test_a_cpuinfo_without_names_still_gives_every_tag(text):
    tags = machine.processor_tags(machine.parse_cpuinfo(text), 1, "x")
    assert set(tags) == set(machine.TAGS) and tags[machine.ISA_TAG] == "unknown"
