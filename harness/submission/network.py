"""Network mode: runs whose inference happened on SUT servers over the network.

Facts from MLPerf's checker (/work/helper-notes/network-rules.md has the sources): the
system description says so with ``is_network``, a *string* the checker lowercases and
compares with ``"true"`` (a JSON boolean crashes it); the ``network`` division must be
in network mode, the ``closed`` division must not be, ``open`` may be either. In network
mode the 13 ``SYSTEM_DESC_REQUIRED_FIELDS_NETWORK_MODE`` must be present (only present:
none has to be non-empty), and every performance log, the compliance tests' included,
must log a ``sut_name`` containing ``Network SUT``. The rules add that the network
division is closed plus these constraints, for the datacenter suite only.

What a run knows goes into the description: the SUT servers it used (each case's
``settings.sut_servers``), hence the SUT node count, the protocol (HTTP/1.1 over TCP,
TLS for https, the IP version when the URL names an address) and the LoadGen host;
the rest are ``TO FILL:`` placeholders saying what to write.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from harness.submission.system_desc import is_placeholder, placeholder

FLAG = "is_network"  # SYSTEM_DESC_IS_NETWORK_MODE
FIELDS = (FLAG, "network_type", "network_media", "network_rate", "nic_loadgen", "number_nic_loadgen",
          "net_software_stack_loadgen", "network_protocol", "number_connections", "nic_sut", "number_nic_sut",
          "net_software_stack_sut", "network_topology")  # SYSTEM_DESC_REQUIRED_FIELDS_NETWORK_MODE, in order
SUT_NAME_SUBSTRING = "Network SUT"  # NETWORK_MODE_REQUIRED_SUBSTRING_IN_SUT_NAME
DIVISION = "network"
# network_check: the mode each division demands; open may be either
MODE_BY_DIVISION = {"network": True, "closed": False}


def servers_of(record: dict) -> list[dict]:
    """The SUT servers a case record says its inference ran on (none: it ran here)."""
    servers = (record.get("settings") or {}).get("sut_servers")
    return [s for s in servers if isinstance(s, dict)] if isinstance(servers, list) else []


def collect_servers(records: list[dict]) -> list[dict]:
    """Every server of the records, once each (by URL), in order of first use."""
    seen, found = set(), []
    for record in records:
        for server in servers_of(record):
            key = server.get("url") or server.get("host") or server.get("hostname")
            if key not in seen:
                seen.add(key)
                found.append(server)
    return found


def _host(server: dict) -> str | None:
    url = server.get("url")
    return server.get("host") or (urlsplit(url).hostname if isinstance(url, str) else None)


def sut_nodes(servers: list[dict]) -> list[str]:
    """The machines serving: the hostname a server reported, else its URL's host. Two
    servers on one machine (two ports) are one node."""
    nodes = []
    for server in servers:
        node = server.get("hostname") or _host(server)
        if node and node not in nodes:
            nodes.append(str(node))
    return nodes


def protocol(servers: list[dict]) -> str:
    """OSI layers 4-7 as far as the URLs tell: the clients speak HTTP/1.1 over TCP."""
    schemes = {urlsplit(str(s.get("url", ""))).scheme for s in servers}
    transport = "HTTP/1.1 over TLS over TCP" if schemes == {"https"} else "HTTP/1.1 over TCP"
    if schemes == {"http", "https"}:
        transport = "HTTP/1.1 over TCP (TLS to the https servers)"
    versions = set()
    for server in servers:
        try:
            versions.add(ipaddress.ip_address(_host(server) or "").version)
        except ValueError:
            versions.add(None)  # a name: which IP version it resolved to is not recorded
    if len(versions) == 1 and None not in versions:
        transport += f"/IPv{versions.pop()}"
    return transport


def describe_network(servers: list[dict], loadgen_host: str | None) -> dict:
    """The network-mode fields for runs that used these SUT servers."""
    nodes = sut_nodes(servers)
    urls = ", ".join(str(s.get("url")) for s in servers if s.get("url"))
    lg = loadgen_host or "the LoadGen host"
    return {
        FLAG: "True",  # a string: the checker calls .lower() on it
        "network_type": placeholder("fabric between the LoadGen host and the SUT nodes (the rules permit "
                                    "Ethernet, IEEE802.11, InfiniBand, 3GPP)"),
        "network_media": placeholder("media, e.g. Copper, Optical or wireless"),
        "network_rate": placeholder("link rate, e.g. 10Gb"),
        "nic_loadgen": placeholder(f"NIC model(s) on the LoadGen host {lg}"),
        "number_nic_loadgen": placeholder(f"number of NICs on {lg} that carry the queries"),
        "net_software_stack_loadgen": placeholder(f"network software on {lg}, e.g. OS TCP/IP stack and the "
                                                  "HTTP client library with versions"),
        "network_protocol": protocol(servers),
        "number_connections": placeholder(f"TCP connections open between {lg} and the {len(servers)} SUT "
                                          f"server(s) during the runs"),
        "nic_sut": placeholder(f"NIC model(s) on the SUT node(s) {', '.join(nodes)}"),
        "number_nic_sut": placeholder(f"number of NICs per SUT node ({', '.join(nodes)}) that carry the queries"),
        "net_software_stack_sut": placeholder("network software on the SUT node(s), e.g. OS TCP/IP stack and "
                                              "the HTTP server with versions"),
        "network_topology": placeholder(f"how {lg} reaches the SUT servers {urls} (switches and links), e.g. "
                                        "'LoadGen <-> [switch model] <-> SUT'"),
    }


def flag_state(description: dict) -> tuple[bool, str | None]:
    """(network mode as the checker reads it, why the value would break the checker)."""
    value = description.get(FLAG)
    if value is None:
        return False, None
    if not isinstance(value, str):
        return False, (f"{FLAG} is {value!r} ({type(value).__name__}); the checker calls .lower() on it and "
                       "needs a string, \"True\" or \"False\"")
    return value.lower() == "true", None


def check_network(description: dict, *, division: str, truthy_flag_requires_fields: bool = True
                  ) -> list[tuple[str, str]]:
    """(rule, message) for the network rules of a description.

    ``truthy_flag_requires_fields``: the package checker (v5.0 on) asks for the network
    fields whenever ``is_network`` is non-empty, even "False"; the single-file checker
    (v3.1) only when it reads as true.
    """
    problems = []
    is_network, bad = flag_state(description)
    if bad:
        problems.append(("system-description", bad))
    expected = MODE_BY_DIVISION.get(division)
    if expected is not None and expected != is_network:
        problems.append(("network-mode", f"{FLAG} reads as {is_network}, but the {division} division needs "
                                         f"{expected}" + (" (the runs' inference must have gone over the network "
                                                          "to SUT servers)" if expected else
                                                          "; network-mode results go to the network (or open) "
                                                          "division")))
    raw = description.get(FLAG)
    if is_network or (truthy_flag_requires_fields and raw):
        for key in FIELDS:
            if key not in description:
                problems.append(("system-description", f"field {key} is missing (network mode needs it)"))
            elif is_placeholder(description[key]):
                problems.append(("system-description", f"field {key} is still a placeholder: {description[key]}"))
    if division == DIVISION and description.get("system_type") != "datacenter":
        problems.append(("network-division", f"system_type {description.get('system_type')!r}: the network "
                                             "division has the datacenter suite only (inference rules, Network "
                                             "Division)"))
    return problems


def sut_name_problems(values: dict) -> list[tuple[str, str]]:
    """PerformanceCheck.network_check on a network-mode performance log."""
    name = values.get("sut_name")
    if isinstance(name, str) and SUT_NAME_SUBSTRING in name:
        return []
    return [("sut-name", f"sut_name is {name!r}; in network mode it must contain {SUT_NAME_SUBSTRING!r} (the "
                         "QDL's name, fetched from the SUT over the network)")]
