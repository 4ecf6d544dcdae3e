"""The lab's CloudStack-shaped API: the list commands a topology sync reads, signed, read-only, on loopback.

``GET`` or ``POST`` (form) ``/client/api`` as a CloudStack management server answers them for a root admin
key: the request must carry this lab's ``apikey`` and a valid signature (``sysvmdiag.cloudstack.signing``,
the same code the sync client signs with), only the commands of ``LIST_COMMANDS`` exist, the filters
CloudStack's list commands take (``id``, ``zoneid``, ``networkid``, ``vpcid``, ``domainid``) apply, and
``page``/``pagesize`` page as CloudStack does (pages from 1, both or neither, at most 500 a page; neither
gives the first 500). ``count`` is every matching item, not the page's. Errors come in CloudStack's shape
and with its HTTP statuses (401, 431, 432, 530).
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from simvms.cloudstack_credentials import Credentials, ensure_credentials
from sysvmdiag.cloudstack.commands import DEFAULT_PAGE_SIZE, LIST_COMMANDS, ListCommand
from sysvmdiag.cloudstack.signing import signature_problem

API_PATH = "/client/api"
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 3080  # the namespace stack's; its compose twin uses 3180 (sysvmdiag.local.stack)
MAX_PAGE_SIZE = DEFAULT_PAGE_SIZE  # CloudStack's default.page.size, also its largest pagesize
UNAUTHORIZED = "unable to verify user credentials and/or request signature"
UNAVAILABLE = "The given command does not exist or it is not available for user"
CS_SERVER_API_EXCEPTION = 9999  # cserrorcode of CloudStack's ServerApiException
# The filters each command takes (CloudStack's API reference), compared with the item's field of that name.
FILTERS: dict[str, tuple[str, ...]] = {
    "listZones": ("id",),
    "listDomains": ("id",),
    "listAccounts": ("id", "domainid"),
    "listPods": ("id", "zoneid"),
    "listNetworks": ("id", "zoneid", "vpcid"),
    "listVPCs": ("id", "zoneid"),
    "listRouters": ("id", "zoneid", "networkid", "vpcid"),
    "listSystemVms": ("id", "zoneid"),
    "listPrivateGateways": ("id", "zoneid", "vpcid"),
    "listStaticRoutes": ("id", "vpcid"),
    "listVpnConnections": ("id", "vpcid"),
    "listVpnCustomerGateways": ("id",),
    "listNetworkPermissions": ("networkid",),
}
REQUIRED: dict[str, tuple[str, ...]] = {"listNetworkPermissions": ("networkid",)}
DataSource = Callable[[], Mapping[str, list[dict]]]

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer in CloudStack's error shape: ``errorcode`` is also the HTTP status."""

    def __init__(self, status: int, text: str, cs_code: int | None = CS_SERVER_API_EXCEPTION) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.cs_code = cs_code


class LabCloudStackApi:
    """The WSGI app. ``data`` is asked on every request (a test may change it between pages)."""

    def __init__(self, data: DataSource, credentials: Credentials) -> None:
        self.data = data
        self.credentials = credentials

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path != API_PATH:
            return Response(f"not found: the API is {API_PATH}\n", 404, mimetype="text/plain")
        if request.method not in ("GET", "POST"):
            return Response("GET or POST\n", 405, headers={"Allow": "GET, POST"}, mimetype="text/plain")
        params = dict(request.values.items())  # query then form, first value of each name, as CloudStack
        command = LIST_COMMANDS.get(params.get("command", ""))
        response_key = command.response_key if command else "errorresponse"
        try:
            self._check_signature(params)
            if command is None:
                raise ApiError(432, UNAVAILABLE)
            body = {response_key: self._list(command, {k.lower(): v for k, v in params.items()})}
        except ApiError as err:
            return _json(err.status, {response_key: _error_object(err)})
        return _json(200, body)

    def _check_signature(self, params: Mapping[str, str]) -> None:
        given = next((v for k, v in params.items() if k.lower() == "apikey"), "")
        if not hmac.compare_digest(given.encode(), self.credentials.api_key.encode()):
            log.info("401: unknown apikey")
            raise ApiError(401, UNAUTHORIZED, cs_code=None)
        problem = signature_problem(params, self.credentials.secret_key)
        if problem:
            log.info("401: %s", problem)
            raise ApiError(401, UNAUTHORIZED, cs_code=None)

    def _list(self, command: ListCommand, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("response") != "json":
            raise ApiError(431, "this lab's CloudStack API answers JSON only: send response=json")
        for name in REQUIRED.get(command.name, ()):
            if not params.get(name):
                text = f"Unable to execute API command {command.name.lower()} due to missing parameter {name}"
                raise ApiError(431, text)
        first, size = page_window(params)
        try:
            items = list(self.data().get(command.name, []))
        except Exception as err:  # CloudStack's 530: the server failed, the caller learns why
            log.exception("the lab's CloudStack data could not be built")
            raise ApiError(530, f"the lab's CloudStack data could not be built: {err}") from err
        wanted = {name: params[name] for name in FILTERS[command.name] if params.get(name)}
        matching = [item for item in items if all(_matches(item, k, v) for k, v in wanted.items())]
        return list_response(command, matching, matching[first : first + size])


def page_window(params: Mapping[str, str]) -> tuple[int, int]:
    """(first index, page size) from ``page``/``pagesize``, refused as CloudStack's dispatcher does."""
    page, size = params.get("page"), params.get("pagesize")
    if page is None and size is None:
        return 0, MAX_PAGE_SIZE
    if size is None:
        raise ApiError(431, '"pagesize" parameter is required when "page" is specified')
    if page is None:
        raise ApiError(431, '"page" parameter is required when "pagesize" is specified')
    number, count = _positive(page, "page"), _positive(size, "pagesize")
    if count > MAX_PAGE_SIZE:
        raise ApiError(431, f"Page size can't exceed max allowed page size value: {MAX_PAGE_SIZE}", 4350)
    return (number - 1) * count, count


def _positive(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ApiError(431, f"Invalid parameter {name} value={value}: a whole number from 1 is expected")
    return number


def _matches(item: Mapping[str, Any], name: str, value: str) -> bool:
    """A router serves a network when one of its nics (or its guest network) is on it."""
    if name == "networkid" and "nic" in item:
        ids = {nic.get("networkid") for nic in item.get("nic") or []} | {item.get("guestnetworkid")}
        return value in ids
    return str(item.get(name, "")) == value


def list_response(command: ListCommand, matching: list[dict], page: list[dict]) -> dict[str, Any]:
    """CloudStack's serializer: ``{}`` when nothing matches, ``count`` alone for a page past the end."""
    if not matching:
        return {}
    if not page:
        return {"count": len(matching)}
    return {"count": len(matching), command.item_key: page}


def _error_object(err: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"uuidList": [], "errorcode": err.status}
    if err.cs_code is not None:
        body["cserrorcode"] = err.cs_code
    body["errortext"] = err.text
    return body


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status, content_type="application/json; charset=UTF-8")


def lab_data(topology_file: Path) -> DataSource:
    """The lab's zone in CloudStack's item shapes, built once, on the first request that needs it (a
    failure answers 530 and is tried again on the next)."""

    @functools.cache
    def build() -> Mapping[str, list[dict]]:
        from simvms.cloudstack_responses import responses_for
        from sysvmdiag.topology.model import load_topology

        return responses_for(load_topology(topology_file))

    return build


def serve(app: Callable, port: int) -> BaseWSGIServer:
    """The app on a threaded server bound to 127.0.0.1 only (port 0: any free port); serve_forever runs it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # an access line per call is noise
    return make_server(LOOPBACK, port, app, threaded=True)


def api_url(server: BaseWSGIServer) -> str:
    return f"http://{LOOPBACK}:{server.server_port}{API_PATH}"


def run(
    port: int, credentials_file: Path, topology_file: Path, announce: Callable[[str], None] = print
) -> int:
    """``simvms cloudstack-api``: serve in the foreground until SIGTERM or Ctrl-C.

    The key pair is made once and kept in ``credentials_file`` (0600) with the URL, so a restarted API
    takes the same keys.
    """
    credentials = ensure_credentials(credentials_file)
    server = serve(LabCloudStackApi(lab_data(topology_file), credentials), port)
    url = api_url(server)
    ensure_credentials(credentials_file, url=url)
    # shutdown() waits for serve_forever to return, so it cannot run on serve_forever's own thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    announce(f"simvms: CloudStack-shaped API on {url}; keys in {credentials_file}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
