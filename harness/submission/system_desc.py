"""``systems/<system>.json``: the system description the checker requires.

Field lists: ``SYSTEM_DESC_REQUIRED_FIELDS`` and ``SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS``
of the checker's constants.py (the second: fields that must not be empty). The checker
also wants ``status`` in ``VALID_AVAILABILITIES`` and a valid ``system_type``. The v3.1
checker spells one field ``host_networking_card_count`` (``SYSTEM_DESC_REQUIRED_FIELDS_SINCE_V3_1``)
where later ones write ``host_network_card_count``: ``network_card_field`` names the round's.

What the runs' results.json (``machine``, ``versions``, each case's backend settings)
and this machine can tell is filled in; the machine is read (``/proc/cpuinfo``,
``/proc/meminfo``, ``/etc/os-release``) only when results.json says the runs ran on
this very host, because a description of another machine would be wrong, not merely
incomplete. When the inference ran on SUT servers over the network (``sut_nodes``), this
host was only the LoadGen host: the host, OS and software fields describe the SUT nodes,
so they are placeholders, and network.py adds the network-mode fields. Everything else
is a placeholder starting with ``TO FILL:`` that says what to write; ``placeholder_fields``
lists them, and the check counts a placeholder as a missing answer.
"""
from __future__ import annotations

import platform
import shutil
from pathlib import Path

REQUIRED_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
    "host_storage_type", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack", "host_processor_frequency",
    "host_processor_caches", "host_memory_configuration", "host_processor_interconnect", "host_networking",
    "host_networking_topology", "accelerator_frequency", "accelerator_host_interconnect",
    "accelerator_interconnect", "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes", "host_network_card_count",
    "system_type_detail",
)
MEANINGFUL_FIELDS = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_memory_configuration",
    "host_storage_capacity", "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "accelerator_host_interconnect", "accelerator_memory_configuration", "accelerator_interconnect", "cooling",
    "framework", "operating_system", "other_software_stack",
)
VALID_AVAILABILITIES = ("available", "preview", "rdi")
VALID_SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
PLACEHOLDER_PREFIX = "TO FILL:"
NETWORK_CARD_FIELD = "host_network_card_count"


def _spelled(fields: tuple[str, ...], network_card_field: str) -> tuple[str, ...]:
    return tuple(network_card_field if f == NETWORK_CARD_FIELD else f for f in fields)
ACCELERATOR_FIELDS = ("accelerator_model_name", "accelerator_memory_capacity", "accelerator_host_interconnect",
                      "accelerator_memory_configuration", "accelerator_interconnect", "accelerator_frequency",
                      "accelerator_interconnect_topology", "accelerator_on-chip_memories")


def placeholder(what: str) -> str:
    return f"{PLACEHOLDER_PREFIX} {what}"


def is_placeholder(value) -> bool:
    return isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)


def placeholder_fields(description: dict) -> list[str]:
    return sorted(k for k, v in description.items() if is_placeholder(v))


# ---------------------------------------------------------------- this machine

def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_facts(cpuinfo: str) -> dict:
    """Model name, sockets, cores per socket, cache and MHz from /proc/cpuinfo text."""
    facts: dict = {}
    sockets, cores = set(), None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name":
            facts.setdefault("model", value)
        elif key == "physical id":
            sockets.add(value)
        elif key == "cpu cores" and value.isdigit():
            cores = int(value)
        elif key == "cache size":
            facts.setdefault("cache", value)
        elif key == "cpu MHz":
            facts.setdefault("mhz", value)
    if sockets:
        facts["sockets"] = len(sockets)
    if cores:
        facts["cores_per_socket"] = cores
    return facts


def memory_gib(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) / (1024 * 1024)  # kB (KiB) -> GiB
    return None


def os_name(os_release: str) -> str | None:
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None


# ---------------------------------------------------------------- the description

def _frameworks(cases: list[dict]) -> str | None:
    """'onnxruntime 1.32.0, ...' from what each case's backend reported it ran."""
    seen = []
    for case in cases:
        backend = ((case.get("settings") or {}).get("backend")) or {}
        # a remote backend reports what its servers ran as served_backend (backends/remote.py)
        name = backend.get("served_backend") or backend.get("backend") or case.get("backend")
        version = backend.get("framework_version")
        entry = f"{name} {version}" if version else None
        if entry and entry not in seen:
            seen.append(entry)
    return ", ".join(seen) or None


def _software(versions: dict, machine: dict) -> str:
    parts = []
    if machine.get("python"):
        parts.append(f"Python {machine['python']}")
    if versions.get("loadgen"):
        parts.append(f"mlcommons-loadgen {versions['loadgen']}")
    for name, version in sorted((versions.get("frameworks") or {}).items()):
        parts.append(f"{name} {version}")
    if versions.get("project_commit"):
        parts.append(f"mlperf-pytest {versions['project_commit'][:12]}")
    return ", ".join(parts)


def describe_system(*, division: str, submitter: str, system: str, category: str, machines: list[dict],
                    versions: dict, cases: list[dict], run_dirs: list[Path],
                    network_card_field: str = NETWORK_CARD_FIELD,
                    sut_nodes: list[str] | None = None) -> tuple[dict, list[str]]:
    """The description and notes on where its facts came from.

    ``machines``: the ``machine`` block of every results.json used; ``cases``: the case
    records whose logs are in the submission; ``sut_nodes``: the machines that served the
    inference when it ran over the network (network.sut_nodes), else None.
    """
    notes = []
    nodes = {m.get("node") for m in machines}
    machine = machines[0] if machines else {}
    local = len(nodes) == 1 and machine.get("node") == platform.node() and not sut_nodes
    if sut_nodes:
        notes.append(f"the inference ran on SUT server(s) on {', '.join(sut_nodes)} over the network: the host, "
                     "OS and software fields describe those SUT nodes and are placeholders; the LoadGen host "
                     f"({', '.join(sorted(map(str, nodes)))}) goes into the network fields")
        nodes = set(sut_nodes)  # the system described is the SUT
    elif len(nodes) > 1:
        notes.append(f"the runs come from {len(nodes)} hosts ({', '.join(sorted(map(str, nodes)))}): "
                     "host fields are placeholders")
    elif not local:
        notes.append(f"the runs ran on host {machine.get('node')!r}, not this one: host hardware fields are "
                     "placeholders")

    cpu = cpu_facts(_read("/proc/cpuinfo")) if local else {}
    mem = memory_gib(_read("/proc/meminfo")) if local else None
    os_pretty = os_name(_read("/etc/os-release")) if local else None
    kernel = f"{machine.get('system', '')} {machine.get('release', '')}".strip()
    devices = {c.get("device") for c in cases}
    cpu_only = devices == {"cpu"}

    def known(value, what):
        return value if value not in (None, "") else placeholder(what)

    storage = None
    if local and run_dirs:
        try:
            storage = f"{shutil.disk_usage(run_dirs[0]).total / 1e9:.0f} GB"
        except OSError:
            storage = None

    # one machine that is its own LoadGen needs no networking; an SUT on the network does
    standalone = len(nodes) <= 1 and not sut_nodes
    software = _software(versions, machine)
    if sut_nodes:  # this host's OS and Python are the LoadGen host's, not the SUT's
        kernel = ""
        software = placeholder(f"software on the SUT node(s) (the LoadGen host ran {software})")
    desc = {
        "division": division,
        "submitter": submitter,
        "status": placeholder("available, preview or rdi (MLPerf's availability rules)"),
        "system_name": system,
        "system_type": category,
        "system_type_detail": "N/A",
        # the SUT servers' machines are known; several hosts that each ran LoadGen are not one system
        "number_of_nodes": len(sut_nodes) if sut_nodes else 1 if len(nodes) <= 1 else placeholder("number of nodes"),
        "host_processor_model_name": known(cpu.get("model"), "CPU model name"),
        "host_processors_per_node": known(cpu.get("sockets"), "CPU sockets per node"),
        "host_processor_core_count": known(cpu.get("cores_per_socket"), "cores per CPU"),
        "host_processor_frequency": f"{cpu['mhz']} MHz (as /proc/cpuinfo reported)" if cpu.get("mhz") else "",
        "host_processor_caches": f"{cpu['cache']} (per /proc/cpuinfo)" if cpu.get("cache") else "",
        "host_processor_interconnect": "",
        "host_memory_capacity": f"{mem:.1f} GiB" if mem else placeholder("memory size, e.g. 512 GiB"),
        "host_memory_configuration": placeholder("DIMMs: count x size x type, e.g. 16x 32GB DDR5-4800"),
        "host_storage_capacity": known(storage, "storage size"),
        "host_storage_type": placeholder("storage type, e.g. NVMe SSD"),
        "host_networking": "N/A" if standalone else placeholder("networking"),
        network_card_field: "N/A" if standalone else placeholder("network cards"),
        "host_networking_topology": "N/A" if standalone else placeholder("network topology"),
        "accelerators_per_node": 0 if cpu_only else placeholder("accelerators per node"),
        "cooling": placeholder("cooling, e.g. air"),
        "framework": known(_frameworks(cases), "framework and version"),
        "operating_system": known(" ".join(p for p in (os_pretty, kernel) if p), "operating system"),
        "other_software_stack": known(software, "other software"),
        "hw_notes": "",
        "sw_notes": "Generated by python -m harness submission (mlperf-pytest).",
    }
    for key in ACCELERATOR_FIELDS:
        # A CPU-only system has no accelerator to describe; MLPerf's own samples write N/A.
        desc[key] = "N/A" if cpu_only else (placeholder(key.replace("_", " ")) if key in MEANINGFUL_FIELDS else "")
    if not local:
        for key in ("host_processor_frequency", "host_processor_caches"):
            desc[key] = ""
    return {k: desc[k] for k in sorted(desc)}, notes


def check_description(description: dict, *, division: str, submitter: str,
                      network_card_field: str = NETWORK_CARD_FIELD) -> list[tuple[str, str]]:
    """(rule, message) for every way the description fails the checker's SystemCheck,
    placeholders counted as missing answers."""
    problems = []
    meaningful = _spelled(MEANINGFUL_FIELDS, network_card_field)
    for key in _spelled(REQUIRED_FIELDS, network_card_field):
        if key not in description:
            problems.append(("system-description", f"field {key} is missing"))
        elif is_placeholder(description[key]):
            problems.append(("system-description", f"field {key} is still a placeholder: {description[key]}"))
        elif key in meaningful and description[key] in ("", None):
            problems.append(("system-description", f"field {key} needs a meaningful value but is empty"))
    status = str(description.get("status", ""))
    if not is_placeholder(status) and status.lower() not in VALID_AVAILABILITIES:
        problems.append(("system-description", f"status {status!r} is not one of {', '.join(VALID_AVAILABILITIES)}"))
    system_type = description.get("system_type")
    if system_type not in VALID_SYSTEM_TYPES:
        problems.append(("system-description", f"system_type {system_type!r} is not one of "
                                               f"{', '.join(VALID_SYSTEM_TYPES)}"))
    if str(description.get("submitter", "")).lower() != submitter.lower():
        problems.append(("system-description", f"submitter {description.get('submitter')!r} differs from the "
                                               f"folder's {submitter!r}"))
    if str(description.get("division", "")).lower() != division.lower():
        problems.append(("system-description", f"division {description.get('division')!r} differs from the "
                                               f"folder's {division!r}"))
    return problems  # is_network and its fields: network.check_network
