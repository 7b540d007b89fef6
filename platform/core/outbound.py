"""Outbound HTTP to addresses a shop supplied: an epay gateway, a supplier's API.

A shop owner types these URLs and the server fetches them, so without a guard a
shop could make the platform call its own loopback services, the private
network or the cloud metadata address (SSRF). Every request to such a URL goes
through ``request()`` (or a ``session()``):

* the host is resolved once, every address it resolves to is vetted, and the
  socket is connected to a vetted address, never to a second DNS answer (the
  TLS certificate is still checked against the host name);
* refused: anything not globally routable — loopback, private (RFC 1918, ULA),
  shared (100.64.0.0/10), link-local (169.254.0.0/16 with the metadata address,
  fe80::/10), multicast, unspecified, reserved, documentation — also inside an
  IPv6 address (IPv4-mapped, 6to4, Teredo, NAT64), and ``localhost`` names;
  a name that resolves to several addresses is reached on its acceptable ones only;
* every redirect opens its connection through the same guard;
* proxies from the environment and ``.netrc`` are ignored; a timeout is required.

``KAMENG_OUTBOUND_ALLOW`` lets the operator allow hosts explicitly: comma-separated
``host`` or ``host:port`` entries (``[v6]:port`` for an IPv6 address with a port).
An entry matches the URL's host name or an address it resolves to; an entry
without a port matches every port.

``check_url`` is the same test for a form or the CLI, at save time: a name that
does not resolve yet passes there (the request checks it again).
"""
from __future__ import annotations

import functools
import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# named for the reader: every one of them is also outside the global address space
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, …
    "169.254.170.2",     # AWS ECS task metadata
    "100.100.100.200",   # Alibaba Cloud
    "fd00:ec2::254",     # AWS over IPv6
))

Allow = frozenset[tuple[str, int | None]]


class OutboundRefused(InvalidInput):
    code = "outbound_refused"


# ----- what is refused ---------------------------------------------------------

def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for every address a shop-supplied URL may not reach."""
    if ip.version == 6:
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(inner is not None and refused_address(inner) for inner in embedded):
            return True
        if ip.is_site_local:
            return True
    return (ip in METADATA or not ip.is_global or ip.is_private or ip.is_loopback
            or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved)


def parse_allow(text: str | None) -> Allow:
    """``"a.example, 127.0.0.1:8080, [::1]:81, ::1"`` → {(host, port or None)}."""
    entries = set()
    for item in (text or "").split(","):
        item = item.strip().lower()
        if not item:
            continue
        host, port = item, None
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest:
                port = _port(rest.removeprefix(":"), item)
        elif item.count(":") == 1:
            host, _, rest = item.partition(":")
            port = _port(rest, item)
        host = host.rstrip(".")
        if not host:
            raise ValueError(f"KAMENG_OUTBOUND_ALLOW: no host in {item!r}")
        entries.add((host, port))
    return frozenset(entries)


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"KAMENG_OUTBOUND_ALLOW: {item!r} has no valid port")
    return int(text)


def allow_list() -> Allow:
    """The operator's ``KAMENG_OUTBOUND_ALLOW`` (nothing outside an app)."""
    return parse_allow(current_app.config.get("OUTBOUND_ALLOW")) if has_app_context() \
        else frozenset()


def _allowed(allow: Allow, name: str, port: int, address: str | None = None) -> bool:
    names = {name} if address is None else {name, address}
    return any(host in names and (want is None or want == port) for host, want in allow)


def _normal(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def vet(host: str, port: int, allow: Allow) -> list[str] | None:
    """The addresses to connect to for ``host:port``: those it resolves to that are not
    refused or are allowed; ``None`` when the host is allowed by name (connect as
    usual). ``OutboundRefused`` if none is left; ``socket.gaierror`` if the name does
    not resolve."""
    name = _normal(host)
    if _allowed(allow, name, port):
        return None
    if name == "localhost" or name.endswith(".localhost"):   # loopback by definition
        infos = [(None, None, None, None, (a, port)) for a in ("127.0.0.1", "::1")]
    else:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    refused: str | None = None
    for *_, sockaddr in infos:
        address = sockaddr[0]
        ip = str(ipaddress.ip_address(address.partition("%")[0]))
        if refused_address(ipaddress.ip_address(ip)) and not _allowed(allow, name, port, ip):
            refused = refused or ip
        elif address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundRefused(_l(
            "%(host)s points at %(address)s, a loopback, private, link-local or reserved "
            "address: the platform does not connect there (the operator can allow a host "
            "with KAMENG_OUTBOUND_ALLOW)", host=name, address=refused))
    return addresses


def check_url(url: str, field: str | None = None) -> None:
    """Refuse, at save time, a URL whose host is or resolves to a refused address.

    A service calls it before it writes anything: it ends the session's transaction
    (the reads so far), so the DNS look-up runs with no transaction open
    (docs/architecture.md, Transactions)."""
    from kameng.core.extensions import db

    db.session.commit()
    parts = urlsplit(url or "")
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = None
    if not parts.hostname or parts.scheme not in DEFAULT_PORTS or port is None:
        raise InvalidInput(_l("%(url)r is not an http:// or https:// address", url=url),
                           field=field)
    try:
        vet(parts.hostname, port, allow_list())
    except socket.gaierror:
        return            # not resolvable now: every request vets it again
    except OutboundRefused as err:
        err.field = field
        raise


# ----- the guarded connection ------------------------------------------------------

class _Guard:
    """Mixed into urllib3's connections: the socket goes to a vetted address only."""

    allow: Allow = frozenset()

    def _new_conn(self) -> socket.socket:
        try:
            addresses = vet(self.host, self.port, self.allow)
        except socket.gaierror as err:
            raise NameResolutionError(self.host, self, err) from err
        if addresses is None:
            return super()._new_conn()
        error: OSError | None = None
        for address in addresses:
            try:
                return create_connection((address, self.port), self.timeout,
                                         source_address=self.source_address,
                                         socket_options=self.socket_options)
            except TimeoutError as err:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={self.timeout})") from err
            except OSError as err:
                error = err
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


@functools.lru_cache(maxsize=32)
def _pool_classes(allow: Allow) -> dict:
    http = type("GuardedHTTPConnection", (_Guard, HTTPConnection), {"allow": allow})
    https = type("GuardedHTTPSConnection", (_Guard, HTTPSConnection), {"allow": allow})
    return {"http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,),
                         {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,),
                          {"ConnectionCls": https})}


class GuardedAdapter(HTTPAdapter):
    def __init__(self, allow: Allow):
        self.allow = allow
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise OutboundRefused(_l("outbound requests to shop addresses go through no proxy"))


def session(allow: Allow | None = None) -> requests.Session:
    """A ``requests.Session`` whose every connection (redirects included) is guarded."""
    s = requests.Session()
    s.trust_env = False          # no proxy from the environment, no .netrc
    s.max_redirects = MAX_REDIRECTS
    adapter = GuardedAdapter(allow_list() if allow is None else allow)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def request(method: str, url: str, *, timeout, **kwargs) -> requests.Response:
    """``requests.request`` for a shop-supplied URL; ``timeout`` is required.

    Raises ``OutboundRefused`` for a refused address (the URL's or a redirect's),
    ``requests.RequestException`` as requests does otherwise."""
    if timeout is None:
        raise ValueError("an outbound request needs a timeout")
    if urlsplit(url).scheme not in DEFAULT_PORTS:
        raise OutboundRefused(_l("%(url)r is not an http:// or https:// address", url=url))
    with session() as s:
        return s.request(method, url, timeout=timeout, **kwargs)
