"""The CloudStack commands this front door serves: their parameters (checked on each call) and their
``listApis`` entries (what cmk's ``sync`` reads to learn verbs, nouns, arguments and async-ness)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.facade.params import CloudStackParams

SINCE = "4.12.0"  # runDiagnostics' first CloudStack release
# CloudStack's default.page.size: a list without pagesize answers at most this many.
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str
    required: bool = False
    length: int = 255

    def listed(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "length": self.length,
            "required": self.required,
            "since": SINCE,
            "related": "",
        }


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    is_async: bool = False
    params: tuple[Param, ...] = ()
    response: tuple[Field, ...] = ()
    related: tuple[str, ...] = ()

    def listed(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "isasync": self.is_async,
            "since": SINCE,
            "type": "",
            "related": ",".join(self.related),
            "params": [param.listed() for param in self.params],
            "response": [
                {"name": f.name, "description": f.description, "type": f.type} for f in self.response
            ],
        }

    def values(self, params: CloudStackParams) -> dict[str, str]:
        """The command's parameters from the request (unknown ones are ignored, as CloudStack does);
        ServiceError INVALID_REQUEST naming a missing or over-long one."""
        values = {}
        for param in self.params:
            value = params.get(param.name)
            if value is None or value == "":
                if param.required:
                    raise ServiceError(
                        ErrorCode.INVALID_REQUEST,
                        f"Unable to execute API command {self.name.lower()} due to missing parameter "
                        f"{param.name}",
                        field=param.name,
                    )
                continue
            if len(value) > param.length:
                raise ServiceError(
                    ErrorCode.INVALID_REQUEST,
                    f"{param.name} is longer than {param.length} characters",
                    field=param.name,
                )
            values[param.name] = value
        return values


_PAGING = (
    Param("keyword", "string", "List by keyword (matched against the name)"),
    Param("page", "integer", "The page of results (from 1); needs pagesize"),
    Param("pagesize", "integer", f"Results per page (at most {DEFAULT_PAGE_SIZE})"),
)
_VM_FIELDS = (
    Field("id", "string", "the ID of the system VM"),
    Field("name", "string", "the name of the system VM"),
    Field("state", "string", "the state of the system VM"),
    Field("publicip", "string", "the public IP address of the system VM"),
    Field("linklocalip", "string", "the link local IP address (administrators only)"),
    Field("privateip", "string", "the private (management) IP address (administrators only)"),
)
RUN_DIAGNOSTICS = Command(
    "runDiagnostics",
    "Execute network-utility command (ping/arping/tracert) on system VMs remotely",
    is_async=True,
    params=(
        Param("targetid", "uuid", "The ID of the system VM instance to diagnose", required=True),
        Param("ipaddress", "string", "The IP/Domain address to test connection to", required=True),
        Param(
            "type",
            "string",
            "The system VM diagnostics type valid options are: ping, traceroute, arping "
            "(ping6 and traceroute6 are taken as ping and traceroute), and this service's mtr, pmtu "
            "(path MTU) and ndisc (IPv6 neighbour discovery)",
            required=True,
        ),
        Param("params", "string", "Additional command line options that apply for each command"),
    ),
    response=(
        Field("stdout", "string", "the standard output from the command execution"),
        Field("stderr", "string", "the standard error output from the command execution"),
        Field("exitcode", "string", "the command execution return code"),
        Field("sysvmdiag", "map", "this service's parsed result, egress interface and run id"),
    ),
    related=("queryAsyncJobResult",),
)
QUERY_ASYNC_JOB_RESULT = Command(
    "queryAsyncJobResult",
    "Retrieves the current status of asynchronous job.",
    params=(Param("jobid", "uuid", "the ID of the asynchronous job", required=True),),
    response=(
        Field("jobid", "string", "the ID of the async job"),
        Field("jobstatus", "integer", "the current job status: 0 pending, 1 succeeded, 2 failed"),
        Field("jobresultcode", "integer", "the result code for the job"),
        Field("jobresulttype", "string", "the result type"),
        Field("jobresult", "responseobject", "the result reason"),
    ),
)
LIST_SYSTEM_VMS = Command(
    "listSystemVms",
    "List the system VMs (Secondary Storage VM, Console Proxy VM) the caller may diagnose.",
    params=(
        Param("id", "uuid", "the ID of the system VM"),
        Param("name", "string", "the name of the system VM"),
        Param("state", "string", "the state of the system VM"),
        Param("systemvmtype", "string", "secondarystoragevm or consoleproxy"),
        *_PAGING,
    ),
    response=(*_VM_FIELDS, Field("systemvmtype", "string", "the system VM type")),
)
LIST_ROUTERS = Command(
    "listRouters",
    "List the virtual routers the caller may diagnose.",
    params=(
        Param("id", "uuid", "the ID of the router"),
        Param("name", "string", "the name of the router"),
        Param("state", "string", "the state of the router"),
        Param("listall", "boolean", "accepted for compatibility: the list is what the caller may diagnose"),
        *_PAGING,
    ),
    response=(
        *_VM_FIELDS,
        Field("guestipaddress", "string", "the guest IP address for the router"),
        Field("nic", "list", "the list of nics associated with the router"),
    ),
)
LIST_APIS = Command(
    "listApis",
    "lists all available apis on the server, provided by the Api Discovery plugin",
    params=(Param("name", "string", "API name"),),
    response=(
        Field("name", "string", "the name of the api command"),
        Field("isasync", "boolean", "true if api is asynchronous"),
        Field("params", "set", "the list params the api accepts"),
    ),
)
GET_DIAGNOSTICS_DATA = Command(
    "getDiagnosticsData",
    "Get diagnostics data files from system VMs",
    is_async=True,
    params=(
        Param(
            "targetid",
            "uuid",
            "The ID of the system VM instance to retrieve diagnostics data files from",
            required=True,
        ),
        Param(
            "files",
            "list",
            "A comma separated list of diagnostics data files to be retrieved: IPTABLES, IFCONFIG, ROUTE, "
            "IPROUTE, ARP and the VM's usual log files (/var/log/cloud.log, ...). Defaults to everything "
            "the caller may read.",
            length=1024,
        ),
    ),
    response=(Field("url", "string", "Storage URL to download retrieve diagnostics data files"),),
    related=("queryAsyncJobResult",),
)

COMMANDS: dict[str, Command] = {
    command.name.lower(): command
    for command in (
        RUN_DIAGNOSTICS,
        GET_DIAGNOSTICS_DATA,
        QUERY_ASYNC_JOB_RESULT,
        LIST_SYSTEM_VMS,
        LIST_ROUTERS,
        LIST_APIS,
    )
}


def command_named(name: str | None) -> Command:
    """The command (names are case-insensitive); ServiceError for a missing or unknown one."""
    if not name:
        raise ServiceError(ErrorCode.INVALID_REQUEST, "The request names no command.", field="command")
    command = COMMANDS.get(name.lower())
    if command is not None:
        return command
    raise ServiceError(
        ErrorCode.UNKNOWN_COMMAND,
        "The given command does not exist or it is not available for user",
        field="command",
    )


def known_name(name: str | None) -> str | None:
    """The name to answer a refusal under: a command CloudStack has, else None (``errorresponse``)."""
    if name and name.lower() in COMMANDS:
        return name
    return None


def list_apis(name: str | None) -> dict[str, Any]:
    """``listApis``' answer body: every command, or the one named."""
    commands = list(COMMANDS.values())
    if name:
        commands = [command for command in commands if command.name.lower() == name.lower()]
        if not commands:
            raise ServiceError(
                ErrorCode.INVALID_REQUEST,
                f"Api Discovery plugin was unable to find an api by that name: {name}",
                field="name",
            )
    return {"count": len(commands), "api": [command.listed() for command in commands]}
