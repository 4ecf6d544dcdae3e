"""The option allow-lists: every allowed option, bound edges, every rejection class, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysvmdiag.toolargs import (
    INVALID_DESTINATION,
    OPTION_OUT_OF_BOUNDS,
    TOOLS,
    TRACEROUTE_SIM_QUERIES,
    OptionError,
    canonical_destination,
    parse_command_line,
    parse_invocation,
    parse_params,
    tool_family,
)

V4 = "198.51.100.80"
V6 = "2001:db8:52::80"
METACHARACTERS = set(";|&$`<>(){}\n\r\\'\"*?[]~!# \t")


def _error(tool: str, params: str | None, destination: str = V4) -> OptionError:
    with pytest.raises(OptionError) as info:
        parse_params(tool, params, destination)
    return info.value


# -- accepted options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "params", "destination", "expected_argv"),
    [
        ("ping", None, V4, ["ping", "-n", "-c", "4", "-w", "8", V4]),
        ("ping", "-c 1", V4, ["ping", "-n", "-c", "1", "-w", "5", V4]),
        ("ping", "-c 20", V4, ["ping", "-n", "-c", "20", "-w", "24", V4]),
        ("ping", "-c5", V4, ["ping", "-n", "-c", "5", "-w", "9", V4]),
        ("ping", "-c 05", V4, ["ping", "-n", "-c", "5", "-w", "9", V4]),
        ("ping", "-i 0.2 -c 3", V4, ["ping", "-n", "-c", "3", "-i", "0.2", "-w", "6", V4]),
        ("ping", "-i 10 -c 6", V4, ["ping", "-n", "-c", "6", "-i", "10", "-w", "55", V4]),
        ("ping", "-i 10 -c 6 -w 60", V4, ["ping", "-n", "-c", "6", "-i", "10", "-w", "60", V4]),
        ("ping", "-i0.50", V4, ["ping", "-n", "-c", "4", "-i", "0.5", "-w", "7", V4]),
        ("ping", "-s 0", V4, ["ping", "-n", "-c", "4", "-s", "0", "-w", "8", V4]),
        ("ping", "-s 1472", V4, ["ping", "-n", "-c", "4", "-s", "1472", "-w", "8", V4]),
        ("ping", "-s 1452", V6, ["ping", "-n", "-c", "4", "-s", "1452", "-w", "8", V6]),
        ("ping", "-w 1", V4, ["ping", "-n", "-c", "4", "-w", "1", V4]),
        ("ping", "-w 60", V4, ["ping", "-n", "-c", "4", "-w", "60", V4]),
        ("ping", "-W 1", V4, ["ping", "-n", "-c", "4", "-W", "1", "-w", "4", V4]),
        ("ping", "-W 10", V4, ["ping", "-n", "-c", "4", "-W", "10", "-w", "13", V4]),
        ("ping", "-t 1", V4, ["ping", "-n", "-c", "4", "-t", "1", "-w", "8", V4]),
        ("ping", "-t 255", V4, ["ping", "-n", "-c", "4", "-t", "255", "-w", "8", V4]),
        ("ping", "-n", V4, ["ping", "-n", "-c", "4", "-w", "8", V4]),
        ("ping", "-4", V4, ["ping", "-4", "-n", "-c", "4", "-w", "8", V4]),
        ("ping", "-6", V6, ["ping", "-6", "-n", "-c", "4", "-w", "8", V6]),
        ("ping", "-I eth2", V4, ["ping", "-n", "-c", "4", "-w", "8", "-I", "eth2", V4]),
        ("ping", "-Ieth0", V6, ["ping", "-n", "-c", "4", "-w", "8", "-I", "eth0", V6]),
        ("ping", "'-c' \"3\"", V4, None),  # quotes are refused before shlex ever sees them
        ("traceroute", None, V4, ["traceroute", "-n", "-m", "20", "-q", "3", "-w", "3", "-N", "16", V4]),
        ("traceroute", "-m 1", V4, ["traceroute", "-n", "-m", "1", "-q", "3", "-w", "3", "-N", "16", V4]),
        (
            "traceroute",
            "-m 30 -q 1",
            V4,
            ["traceroute", "-n", "-m", "30", "-q", "1", "-w", "3", "-N", "16", V4],
        ),
        ("traceroute", "-w 1", V6, ["traceroute", "-n", "-m", "20", "-q", "3", "-w", "1", "-N", "16", V6]),
        ("traceroute", "-w 5", V4, ["traceroute", "-n", "-m", "20", "-q", "3", "-w", "5", "-N", "16", V4]),
        (
            "traceroute",
            "-w 2.5",
            V4,
            ["traceroute", "-n", "-m", "20", "-q", "3", "-w", "2.5", "-N", "16", V4],
        ),
        (
            "traceroute",
            "-f 3 -m 5",
            V4,
            ["traceroute", "-n", "-f", "3", "-m", "5", "-q", "3", "-w", "3", "-N", "16", V4],
        ),
        (
            "traceroute",
            "-I",
            V4,
            ["traceroute", "-n", "-I", "-m", "20", "-q", "3", "-w", "3", "-N", "16", V4],
        ),
        ("traceroute", "-T -p 443", V4, None),
        ("traceroute", "-U -p 1", V4, None),
        ("traceroute", "-p 65535", V4, None),
        ("traceroute", "-4 -i eth2", V4, None),
        ("traceroute", "-6", V6, None),
        ("traceroute", "-N 16", V4, None),
        ("arping", None, "10.1.1.11", ["arping", "-c", "3", "-w", "5", "10.1.1.11"]),
        ("arping", "-c 1", "10.1.1.11", ["arping", "-c", "1", "-w", "3", "10.1.1.11"]),
        ("arping", "-c 20", "10.1.1.11", ["arping", "-c", "20", "-w", "22", "10.1.1.11"]),
        ("arping", "-w 1", "10.1.1.11", ["arping", "-c", "3", "-w", "1", "10.1.1.11"]),
        (
            "arping",
            "-w 60 -i eth0",
            "10.1.1.11",
            ["arping", "-c", "3", "-w", "60", "-i", "eth0", "10.1.1.11"],
        ),
    ],
)
def test_allowed_options_normalise_to_separate_tokens(
    tool: str, params: str | None, destination: str, expected_argv: list[str] | None
) -> None:
    if expected_argv is None and params and "'" in params:
        assert _error(tool, params, destination).code == "INVALID_OPTION"
        return
    invocation = parse_params(tool, params, destination)
    argv = invocation.argv()
    if expected_argv is not None:
        assert argv == expected_argv
    assert argv[0] == tool and argv[-1] == destination
    assert all(
        len(token) > 2 or not token.startswith("-") or token[1:].isdigit() or len(token) == 2
        for token in argv
    ), "glued option values must be split"
    assert parse_command_line(invocation.command_line()) == argv
    assert invocation.command_line() == " ".join(argv)


def test_defaults_stay_under_the_synchronous_budget() -> None:
    assert parse_params("ping", None, V4).worst_case_seconds <= 25
    assert parse_params("ping", "", V6).worst_case_seconds <= 25
    assert parse_params("traceroute", None, V4).worst_case_seconds <= 25
    assert parse_params("arping", None, "10.1.1.11").worst_case_seconds <= 25


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("-w 17", 17.0),
        ("-c 6 -i 10", 55.0),  # five intervals and the reply allowance
        ("-c 6 -i 10 -w 60", 60.0),  # the caller's own deadline is what was asked
        ("-c 3 -i 0.2 -W 1", 2.0),
    ],
)
def test_ping_worst_case_is_its_deadline(params: str, expected: float) -> None:
    invocation = parse_params("ping", params, V4)
    assert invocation.worst_case_seconds == expected
    argv = invocation.argv()
    assert float(argv[argv.index("-w") + 1]) == expected


@pytest.mark.parametrize(
    ("params", "needed"),
    [
        ("-c 8 -i 9", 68),
        ("-c 20 -i 10", 195),
        ("-c 8 -i 8", 61),
        ("-c 20 -i 3 -W 10", 67),
        ("-c 8 -i 9 -w 60", 63),  # the caller's own deadline cannot hold the count either
        ("-c 20 -i 10 -w 60", 190),
    ],
)
def test_a_ping_that_cannot_finish_within_the_run_cap_is_refused_not_cut_short(
    params: str, needed: int
) -> None:
    with pytest.raises(OptionError) as raised:
        parse_params("ping", params, V4)
    assert raised.value.code == OPTION_OUT_OF_BOUNDS
    assert (f"{needed} s" in raised.value.message and " s a run may take" in raised.value.message) or (
        "-w" in params and "deadline asked" in raised.value.message
    )


@pytest.mark.parametrize(
    "destination",
    [
        "0.0.0.0",
        "::",
        "255.255.255.255",
        "224.0.0.1",
        "ff02::1",
        "::ffff:0.0.0.0",
        "::ffff:239.1.2.3",
        "::FFFF:255.255.255.255",
    ],
)
@pytest.mark.parametrize("tool", ["ping", "traceroute"])
def test_no_one_probes_the_unspecified_broadcast_or_multicast_addresses(tool: str, destination: str) -> None:
    with pytest.raises(OptionError) as raised:
        parse_params(tool, None, destination)
    assert raised.value.code == INVALID_DESTINATION and "no destination" in raised.value.message
    with pytest.raises(OptionError):
        parse_command_line(f"{tool} {destination}")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, math.ceil(20 * 3 / TRACEROUTE_SIM_QUERIES) * 3.0),
        ("-m 30 -q 3 -w 5", math.ceil(90 / 16) * 5.0),
        ("-m 1 -q 1 -w 1", 1.0),
        ("-f 10 -m 12 -q 2 -w 4", 4.0),
        ("-m 16 -q 1 -w 2", 2.0),
        ("-m 17 -q 1 -w 2", 4.0),
    ],
)
def test_traceroute_worst_case_counts_rounds_of_simultaneous_probes(
    params: str | None, expected: float
) -> None:
    invocation = parse_params("traceroute", params, V4)
    assert invocation.worst_case_seconds == expected
    assert ("-N", str(TRACEROUTE_SIM_QUERIES)) in invocation.options


def test_arping_worst_case_is_its_deadline() -> None:
    assert parse_params("arping", "-w 9", "10.1.1.11").worst_case_seconds == 9.0
    assert parse_params("arping", "-c 7", "10.1.1.11").worst_case_seconds == 9.0


# -- rejections ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "params", "token"),
    [
        ("ping", "-f", "-f"),
        ("ping", "-l 3", "-l"),
        ("ping", "-R", "-R"),
        ("ping", "-b", "-b"),
        ("ping", "-p ff", "-p"),
        ("ping", "-a", "-a"),
        ("ping", "-Q 3", "-Q"),
        ("ping", "-x", "-x"),
        ("traceroute", "-g 10.0.0.1", "-g"),
        ("traceroute", "-s 10.0.0.1", "-s"),
        ("traceroute", "-z 1", "-z"),
        ("traceroute", "--mtu", "--mtu"),
        ("traceroute", "-M icmp", "-M"),
        ("arping", "-B", "-B"),
        ("arping", "-S 10.0.0.1", "-S"),
        ("arping", "-U", "-U"),
        ("arping", "-W 1", "-W"),
        ("ping", "--", "--"),
        ("ping", "-c 3 --", "--"),
        ("ping", "--count=3", "--count=3"),
        ("ping", "-", "-"),
        ("ping", "10.0.0.1", "10.0.0.1"),
        ("ping", "-c 3 10.0.0.1", "10.0.0.1"),
        ("traceroute", "60", "60"),  # the packetlen positional
        ("ping", "example.com", "example.com"),
        ("ping", "; reboot", ";"),
        ("ping", "-c 3;reboot", "3;reboot"),
        ("ping", "-c 3 | cat", "|"),
        ("ping", "-c 3 && id", "&&"),
        ("ping", "-c $(id)", "$(id)"),
        ("ping", "-c `id`", "`id`"),
        ("ping", "-c 3 > /tmp/x", ">"),
        ("ping", "-c <3", "<3"),
        ("ping", "-c {1}", "{1}"),
        ("ping", "-c 3\nreboot", "3\nreboot"),
        ("ping", "-c\t3", "-c\t3"),
        ("ping", "-c \\3", "\\3"),
        ("ping", "-I eth0/../x", "eth0/../x"),
        ("ping", "-c", "-c"),  # a value is missing
        ("ping", "-c abc", "abc"),
        ("ping", "-c 2.5", "2.5"),
        ("ping", "-c 3 -c 4", "-c"),
        ("ping", "-nc3", "-nc3"),
        ("ping", "-4 -6", "-6"),
        ("ping", "-6", "-6"),  # an IPv4 destination
        ("traceroute", "-I -T", "-T"),
        ("traceroute", "-I -i eth0 -i eth1", "-i"),
        ("ping", "-I averyveryverylongifname", "averyveryverylongifname"),
        ("ping", "-c " + "1" * 70, "1" * 32 + "..."),
        ("ping", "-" + "c" * 70, "-" + "c" * 31 + "..."),
        ("ping", "-c '", "'"),
    ],
)
def test_rejected_options_name_the_offending_token(tool: str, params: str, token: str) -> None:
    error = _error(tool, params)
    assert error.code == "INVALID_OPTION", error.message
    assert error.token == token
    assert str(error) == error.message and error.message.endswith(".")


@pytest.mark.parametrize(
    ("tool", "params", "flag", "destination"),
    [
        ("ping", "-c 0", "-c", V4),
        ("ping", "-c 21", "-c", V4),
        ("ping", "-c -5", "-c", V4),
        ("ping", "-i 0.19", "-i", V4),
        ("ping", "-i 0.1", "-i", V4),
        ("ping", "-i 10.5", "-i", V4),
        ("ping", "-s 1473", "-s", V4),
        ("ping", "-s 1453", "-s", V6),
        ("ping", "-w 0", "-w", V4),
        ("ping", "-w 61", "-w", V4),
        ("ping", "-W 0.5", "-W", V4),
        ("ping", "-W 11", "-W", V4),
        ("ping", "-t 0", "-t", V4),
        ("ping", "-t 256", "-t", V4),
        ("traceroute", "-m 0", "-m", V4),
        ("traceroute", "-m 31", "-m", V4),
        ("traceroute", "-q 0", "-q", V4),
        ("traceroute", "-q 4", "-q", V4),
        ("traceroute", "-w 0.5", "-w", V4),
        ("traceroute", "-w 6", "-w", V4),
        ("traceroute", "-f 0", "-f", V4),
        ("traceroute", "-f 10 -m 5", "-f", V4),
        ("traceroute", "-p 0", "-p", V4),
        ("traceroute", "-p 65536", "-p", V4),
        ("traceroute", "-N 1", "-N", V4),
        ("traceroute", "-N 32", "-N", V4),
        ("arping", "-c 0", "-c", "10.1.1.11"),
        ("arping", "-c 21", "-c", "10.1.1.11"),
        ("arping", "-w 0", "-w", "10.1.1.11"),
        ("arping", "-w 61", "-w", "10.1.1.11"),
    ],
)
def test_out_of_bounds_names_option_and_bounds(tool: str, params: str, flag: str, destination: str) -> None:
    error = _error(tool, params, destination)
    assert error.code == "OPTION_OUT_OF_BOUNDS", error.message
    assert error.token == flag
    assert error.message.startswith(f"{flag} (") and " must be between " in error.message


@pytest.mark.parametrize(
    "destination",
    [
        "",
        "example.com",
        "010.1.1.1",
        "10.1.1",
        "10.1.1.1.1",
        "256.1.1.1",
        "fe80::1%eth0",
        "10.0.0.1/24",
        "1.2.3.4 5.6.7.8",
        "-c",
        " 10.1.1.1",
        "10.1.1.1;id",
        "::ffff:10.1.1.1%1",
        "0x0a000001",
        "1" * 80,
    ],
)
def test_destinations_must_be_canonical_ip_literals(destination: str) -> None:
    assert _error("ping", None, destination).code == "INVALID_DESTINATION"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("::ffff:10.1.1.1", "10.1.1.1"),
        ("::ffff:a9fe:10a", "169.254.1.10"),
        ("2001:DB8:52:0::80", "2001:db8:52::80"),
        ("203.0.113.1", "203.0.113.1"),
    ],
)
def test_canonical_destination(text: str, canonical: str) -> None:
    assert str(canonical_destination(text)) == canonical
    assert parse_params("ping", None, text).destination == canonical


def test_arping_refuses_ipv6_and_unknown_tools_are_refused() -> None:
    assert _error("arping", None, V6).code == "INVALID_DESTINATION"
    assert _error("nmap", None, V4).code == "INVALID_OPTION"
    assert _error("sh", "-c id", V4).token == "sh"


def test_with_interface_pins_the_interface_and_refuses_bad_names() -> None:
    invocation = parse_params("arping", None, "10.1.1.11").with_interface("eth0")
    assert invocation.argv() == ["arping", "-c", "3", "-w", "5", "-i", "eth0", "10.1.1.11"]
    with pytest.raises(OptionError):
        invocation.with_interface("eth0;id")


# -- the VM side ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("", "INVALID_OPTION"),
        ("   ", "INVALID_OPTION"),
        ("sh -c id", "INVALID_OPTION"),
        ("ping", "INVALID_DESTINATION"),
        ("ping -c 3", "INVALID_DESTINATION"),
        ("ping -c 3 10.0.0.1 10.0.0.2", "INVALID_OPTION"),
        ("ping 10.0.0.1 -c 3", "INVALID_DESTINATION"),  # the destination must come last
        ("ping -c 3 example.com", "INVALID_DESTINATION"),
        ("ping -c 3 ::ffff:10.0.0.1", "INVALID_DESTINATION"),  # not canonical: the service maps it
        ("ping -c 3 2001:DB8::1", "INVALID_DESTINATION"),
        ("ping -f 10.0.0.1", "INVALID_OPTION"),
        ("ping -c 99 10.0.0.1", "OPTION_OUT_OF_BOUNDS"),
        ("ping -c 3 10.0.0.1; reboot", "INVALID_OPTION"),
        ("ping -c 3 10.0.0.1 && reboot", "INVALID_OPTION"),
        ("ping -c 3 '10.0.0.1'", "INVALID_OPTION"),
        ("ping -c 3 10.0.0.1\n", "INVALID_OPTION"),
        ("arping -c 3 2001:db8::1", "INVALID_DESTINATION"),
        ("traceroute -m 40 10.0.0.1", "OPTION_OUT_OF_BOUNDS"),
    ],
)
def test_parse_command_line_rejects(command: str, code: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_command_line(command)
    assert info.value.code == code, info.value.message


def test_parse_command_line_bounds_a_bare_command_with_the_same_defaults() -> None:
    assert parse_command_line("ping 10.0.0.1") == ["ping", "-n", "-c", "4", "-w", "8", "10.0.0.1"]
    assert parse_command_line("ping -c 3 -w 10 203.0.113.10") == [
        "ping",
        "-n",
        "-c",
        "3",
        "-w",
        "10",
        "203.0.113.10",
    ]
    assert parse_command_line("arping -i eth0 10.1.1.11")[-3:] == ["-i", "eth0", "10.1.1.11"]


# -- mtr, pmtu and ndisc: the wire form and what the VM execs --------------------------------


@pytest.mark.parametrize(
    ("tool", "params", "destination", "wire", "executed", "worst"),
    [
        (
            "mtr",
            None,
            V4,
            "mtr -n -j -c 5 -i 1 -G 2 -m 20 198.51.100.80",
            ["mtr", "-n", "-j", "-c", "5", "-i", "1", "-G", "2", "-m", "20", V4],
            5 * 1 + 2 + 2,
        ),
        (
            "mtr",
            "-T -P 443 -c 10 -i 5 -G 5 -I eth2",
            V6,
            "mtr -n -j -T -c 10 -i 5 -G 5 -m 20 -P 443 -I eth2 2001:db8:52::80",
            [
                "mtr",
                "-n",
                "-j",
                "-T",
                "-c",
                "10",
                "-i",
                "5",
                "-G",
                "5",
                "-m",
                "20",
                "-P",
                "443",
                "-I",
                "eth2",
                V6,
            ],
            10 * 5 + 5 + 2,
        ),
        ("pmtu", None, V4, "pmtu -n -m 6 198.51.100.80", ["tracepath", "-n", "-m", "6", V4], 6 * 3.5 + 1),
        (
            "pmtu",
            "-6 -m 15 -l 1500 -p 33434",
            V6,
            "pmtu -6 -n -m 15 -l 1500 -p 33434 2001:db8:52::80",
            ["tracepath", "-6", "-n", "-m", "15", "-l", "1500", "-p", "33434", V6],
            15 * 3.5 + 1,
        ),
        (
            "ndisc",
            "-i eth0",
            "2001:db8:1:1::11",
            "ndisc -n -r 3 -w 1000 -i eth0 2001:db8:1:1::11",
            ["ndisc6", "-n", "-r", "3", "-w", "1000", "2001:db8:1:1::11", "eth0"],
            3 * 1 + 1,
        ),
        (
            "ndisc",
            "-m -r 5 -w 3000 -i eth3",
            "fe80::1",
            "ndisc -n -m -r 5 -w 3000 -i eth3 fe80::1",
            ["ndisc6", "-n", "-m", "-r", "5", "-w", "3000", "fe80::1", "eth3"],
            5 * 3 + 1,
        ),
    ],
)
def test_a_test_runs_its_program_with_bounding_defaults(
    tool: str, params: str | None, destination: str, wire: str, executed: list[str], worst: float
) -> None:
    invocation = parse_params(tool, params, destination)
    assert invocation.command_line() == wire
    assert invocation.exec_argv() == executed
    assert invocation.worst_case_seconds == worst <= 60
    assert parse_invocation(wire).exec_argv() == executed  # the VM side runs exactly this


@pytest.mark.parametrize(
    ("tool", "params", "destination", "code", "named"),
    [
        ("mtr", "-P 80", V4, "INVALID_OPTION", "-P"),  # a port means nothing to ICMP probes
        ("mtr", "-u -T", V4, "INVALID_OPTION", "-T"),
        ("mtr", "-f 9 -m 3", V4, OPTION_OUT_OF_BOUNDS, "-f"),
        ("mtr", "-c 11", V4, OPTION_OUT_OF_BOUNDS, "-c"),
        ("mtr", "-i 0.5", V4, OPTION_OUT_OF_BOUNDS, "-i"),  # faster than routers' ICMP rate limits
        ("mtr", "-r", V4, "INVALID_OPTION", "-r"),  # our own report form only
        ("mtr", "-6", V4, "INVALID_OPTION", "-6"),
        ("pmtu", "-m 16", V4, OPTION_OUT_OF_BOUNDS, "-m"),
        ("pmtu", "-l 64", V4, OPTION_OUT_OF_BOUNDS, "-l"),
        ("pmtu", "-I eth0", V4, "INVALID_OPTION", "-I"),  # tracepath follows the routing table
        ("pmtu", "-b", V4, "INVALID_OPTION", "-b"),
        ("ndisc", None, V4, INVALID_DESTINATION, V4),
        ("ndisc", "-w 5000", V6, OPTION_OUT_OF_BOUNDS, "-w"),
        ("ndisc", "-s 2001:db8::1", V6, "INVALID_OPTION", "-s"),
    ],
)
def test_the_new_tests_refuse_what_their_allow_lists_do_not_hold(
    tool: str, params: str | None, destination: str, code: str, named: str
) -> None:
    err = _error(tool, params, destination)
    assert (err.code, err.token) == (code, named), err.message


def test_ndisc_on_the_vm_needs_its_interface() -> None:
    """ndisc6 takes the interface as an argument: a command line without one is refused, never guessed."""
    with pytest.raises(OptionError) as info:
        parse_invocation("ndisc -n -r 3 -w 1000 2001:db8:1:1::11")
    assert "needs -i" in info.value.message
    assert parse_invocation("ndisc -i eth0 2001:db8:1:1::11").exec_argv()[-2:] == ["2001:db8:1:1::11", "eth0"]


@pytest.mark.parametrize("program", ["tracepath", "ndisc6", "sh"])
def test_the_vm_accepts_test_names_never_program_names(program: str) -> None:
    with pytest.raises(OptionError):
        parse_invocation(f"{program} -n 2001:db8:1:1::11")


# -- properties ----------------------------------------------------------------------------

_VALUES = {
    "ping": {
        "-c": st.integers(1, 20),
        "-i": st.sampled_from(["0.2", "0.5", "1", "2.5", "10"]),
        "-s": st.integers(0, 1452),
        "-w": st.integers(1, 60),
        "-W": st.integers(1, 10),
        "-t": st.integers(1, 255),
        "-n": st.none(),
        "-I": st.sampled_from(["eth0", "eth2", "vpn0"]),
    },
    "traceroute": {
        "-m": st.integers(10, 30),
        "-q": st.integers(1, 3),
        "-w": st.sampled_from(["1", "2.5", "5"]),
        "-f": st.integers(1, 10),
        "-p": st.integers(1, 65535),
        "-n": st.none(),
        "-I": st.none(),
        "-i": st.sampled_from(["eth0", "eth1"]),
    },
    "arping": {"-c": st.integers(1, 20), "-w": st.integers(1, 60), "-i": st.sampled_from(["eth0", "eth4"])},
    "mtr": {
        "-c": st.integers(1, 10),
        "-i": st.sampled_from(["1", "1.5", "5"]),
        "-G": st.sampled_from(["1", "2.5", "5"]),
        "-m": st.integers(10, 30),
        "-f": st.integers(1, 10),
        "-T": st.none(),
        "-n": st.none(),
        "-j": st.none(),
        "-I": st.sampled_from(["eth0", "eth2"]),
    },
    "pmtu": {
        "-m": st.integers(1, 15),
        "-l": st.integers(128, 65535),
        "-p": st.integers(1, 65535),
        "-n": st.none(),
    },
    "ndisc": {
        "-r": st.integers(1, 5),
        "-w": st.integers(100, 3000),
        "-m": st.none(),
        "-n": st.none(),
        "-i": st.sampled_from(["eth0", "eth3"]),
    },
}
# The option each test's worst case rests on: always present, pinned if the caller left it out.
_BOUNDING = {"ping": "-w", "traceroute": "-w", "arping": "-w", "mtr": "-c", "pmtu": "-m", "ndisc": "-r"}


@st.composite
def _valid_params(draw: st.DrawFn) -> tuple[str, str, str]:
    tool = draw(st.sampled_from(TOOLS))
    flags = draw(st.lists(st.sampled_from(sorted(_VALUES[tool])), unique=True))
    if tool == "ndisc" and "-i" not in flags:  # ndisc6 takes its interface as an argument: never optional
        flags.append("-i")
    tokens = []
    for flag in flags:
        value = draw(_VALUES[tool][flag])
        if value is None:
            tokens.append(flag)
        elif draw(st.booleans()):
            tokens.append(f"{flag}{value}")
        else:
            tokens += [flag, str(value)]
    destination = draw(
        st.sampled_from(
            {
                4: ["10.1.1.11", "198.51.100.80", "203.0.113.1"],
                6: ["2001:db8:1:1::11", "2001:db8:52::80", "fe80::1"],
                None: ["10.1.1.11", "198.51.100.80", "2001:db8:52::80", "::ffff:10.2.1.11"],
            }[tool_family(tool)]
        )
    )
    return tool, " ".join(tokens), destination


@settings(max_examples=300, deadline=None)
@given(_valid_params())
def test_round_trip_parse_params_to_parse_command_line(case: tuple[str, str, str]) -> None:
    tool, params, destination = case
    try:
        invocation = parse_params(tool, params, destination)
    except OptionError as err:  # valid options together may still not fit the run cap: refused, never cut
        assert err.code == OPTION_OUT_OF_BOUNDS and "needs about" in err.message
        assert tool == "ping"
        return
    assert parse_command_line(invocation.command_line()) == invocation.argv()
    assert parse_invocation(invocation.command_line()).exec_argv() == invocation.exec_argv()
    assert 0 < invocation.worst_case_seconds <= 60
    assert _BOUNDING[tool] in invocation.argv()


_FUZZ_ALPHABET = st.sampled_from([*"-cfinmqwtWsIpNT46 0123456789.:abx;|&$`<>(){}\n\\'\"%/*", "eth0", " "])


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["ping ", "traceroute ", "arping ", "", "sh "]),
    st.lists(_FUZZ_ALPHABET, max_size=30).map("".join),
    st.sampled_from(["10.0.0.1", "2001:db8::1", "", " 10.0.0.1", ";id", "::ffff:1.2.3.4"]),
)
def test_fuzzed_command_lines_never_yield_metacharacters(prefix: str, middle: str, suffix: str) -> None:
    command = prefix + middle + suffix
    try:
        argv = parse_command_line(command)
    except OptionError as error:
        assert error.code in ("INVALID_OPTION", "OPTION_OUT_OF_BOUNDS", "INVALID_DESTINATION")
        return
    assert argv[0] in TOOLS
    assert "-w" in argv
    for token in argv:
        assert token and not (set(token) & METACHARACTERS), token
    assert parse_command_line(" ".join(argv)) == argv


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(TOOLS), st.text(max_size=60), st.text(max_size=45))
def test_parse_params_only_ever_raises_option_error(tool: str, params: str, destination: str) -> None:
    try:
        invocation = parse_params(tool, params, destination)
    except OptionError:
        return
    for token in invocation.argv():
        assert not (set(token) & METACHARACTERS), token


# -- adversarial review: shapes an API body can smuggle in --------------------------------


@pytest.mark.parametrize("params", [["-c", "5"], ("-c", "5"), 5, b"-c 5", {"-c": 5}, 0.2])
def test_params_must_be_a_string(params: object) -> None:
    with pytest.raises(OptionError) as info:
        parse_params("ping", params, V4)  # type: ignore[arg-type]
    assert info.value.code == "INVALID_OPTION"
    assert "one string" in info.value.message


@pytest.mark.parametrize(
    "params",
    [
        "-c \uff15",  # full-width digit five
        "-c \u0665",  # Arabic-Indic digit five (str.isdigit() is True)
        "-c\u00a05",  # no-break space
        "-c\u20035",  # em space
        "-c\u30005",  # ideographic space
        "-c 5\u200b",  # zero-width space
        "\u2010c 5",  # Unicode hyphen
        "\u2212c 5",  # minus sign
        "-\u0441 5",  # Cyrillic es, looks like c
        "-\u212a",  # Kelvin sign, folds to K
        "-I eth\u0030\u0301",  # combining accent on an interface name
    ],
)
def test_unicode_look_alikes_and_whitespace_are_refused(params: str) -> None:
    assert _error("ping", params).code == "INVALID_OPTION"


@pytest.mark.parametrize(
    "destination",
    [
        "\uff11\uff10.0.0.1",
        "10.0.0.\u0661",
        "10\u30020.0.1",
        "10.0.0.1\u00a0",
        "2001:db8::\uff11",
        "\u200b10.0.0.1",
    ],
)
def test_unicode_destinations_are_refused(destination: str) -> None:
    with pytest.raises(OptionError) as info:
        canonical_destination(destination)
    assert info.value.code == "INVALID_DESTINATION"
