"""Custom domains (绑定域名): binding a host to a shop and proving it with a DNS TXT record.

A custom domain starts unverified and serves nothing. Its owner creates two records:

- a CNAME from the host to the platform's host (``KAMENG_CNAME_TARGET``, default the
  base domain) — or, for an apex such as ``example.com`` (which cannot have a CNAME),
  an A record to ``KAMENG_PUBLIC_IP``; without that setting an apex is refused;
- a TXT record ``_kameng.<host>`` whose value is the domain's token.

"Verify" (``check``) looks the TXT record up through a real resolver, the servers of
``KAMENG_DNS_NAMESERVERS`` or the system's. A match verifies the domain, which serves at
once: the flush bumps the host cache's generation in Redis (``hostcache``), so every
process drops its cached hosts after the commit. No transaction is open during a
look-up: the read is ended first and the result is recorded in a new transaction.

Binding an apex also binds ``www.<apex>``: an alias row that the apex's TXT record
proves, verified, checked and removed with it. A host of exactly two labels
(``example.com``) is taken as an apex; a registrable name under a two-label public
suffix (``example.co.uk``) is not recognised and gets CNAME instructions.

One host belongs to one shop (``domains.hostname`` is unique). A shop's own
``<slug>.<base domain>`` cannot be removed; hosts under the base domain are the
platform's to give, so the back office cannot add one (the operator's CLI can).
"""
from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import dns.exception
import dns.nameserver
import dns.resolver
from flask import current_app
from sqlalchemy import select

from kameng.core.errors import Conflict, InvalidInput, found
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.txn import in_own_txn
from kameng.tenants.models import TENANT_ACTIVE, Domain, Tenant
from kameng.tenants.services import (
    HOST_RE,
    normalise_host,
    resolve_host,
    tenant_by_slug,
    validate_hostname,
)

log = logging.getLogger(__name__)

TXT_PREFIX = "_kameng."
# outcomes of a look-up: a match, a definite miss (no record / another value), or no answer
MATCH, MISSING, WRONG, ERROR = "match", "missing", "wrong", "error"


@dataclass(frozen=True)
class Record:
    """A DNS record the owner creates at their DNS provider."""

    type: str
    name: str
    value: str


@dataclass(frozen=True)
class Setup:
    """What binding a host asks of its owner, and where it stands."""

    hostname: str
    verified: bool
    txt_name: str
    txt_value: str
    target: str
    records: tuple[Record, ...]

    def as_json(self) -> dict:
        return {"hostname": self.hostname, "verified": self.verified,
                "txt_name": self.txt_name, "txt_value": self.txt_value, "target": self.target}


@dataclass(frozen=True)
class Lookup:
    """The answer to one TXT look-up."""

    outcome: str
    found: tuple[str, ...] = ()
    reason: str = ""


# ----- what to point where -------------------------------------------------------------

def is_apex(host: str) -> bool:
    labels = host.split(".")
    return len(labels) == 2 and not labels[-1].isdigit()


def cname_target() -> str:
    return current_app.config.get("CNAME_TARGET") or current_app.config["BASE_DOMAIN"]


def public_ip() -> str:
    return current_app.config.get("PUBLIC_IP") or ""


def proof_of(domain: Domain) -> Domain:
    """The row whose TXT record proves ``domain``: its apex for a www alias, else itself."""
    if domain.alias_of_id is None:
        return domain
    return db.session.get(Domain, domain.alias_of_id) or domain


def setup_of(domain: Domain) -> Setup:
    www = None
    if domain.kind == "custom" and is_apex(domain.hostname):
        www = db.session.scalar(select(Domain).where(Domain.alias_of_id == domain.id))
    return _setup(domain, www)


def _setup(domain: Domain, www: Domain | None) -> Setup:
    """``domain``'s setup, given its www alias (an apex's; None for any other)."""
    proof = proof_of(domain)
    txt = Record("TXT", TXT_PREFIX + proof.hostname, proof.token)
    if domain.kind == "subdomain":  # the platform's own name: nothing to create
        return Setup(hostname=domain.hostname, verified=domain.verified_at is not None,
                     txt_name=txt.name, txt_value=txt.value, target=cname_target(),
                     records=())
    if is_apex(domain.hostname):
        target = public_ip()
        records = [Record("A", domain.hostname, target)]
        if www is not None:
            records.append(Record("CNAME", www.hostname, cname_target()))
    else:
        target = cname_target()
        records = [Record("CNAME", domain.hostname, target)]
    return Setup(hostname=domain.hostname, verified=domain.verified_at is not None,
                 txt_name=txt.name, txt_value=txt.value, target=target,
                 records=(*records, txt))


# ----- binding ---------------------------------------------------------------------------

def add_domain(slug: str, host: str, verified: bool = False) -> Domain:
    """The operator's ``domain-add``: any host (one under the base domain is verified at
    once); ``verified`` marks a custom domain verified without the DNS check."""
    return in_own_txn(bind_in_txn, tenant_by_slug(slug), validate_hostname(host),
                      verified=verified)


def add_custom_domain(tenant: Tenant, host: str) -> Domain:
    """An owner binds a domain of their own from the back office."""
    raw = host
    host = normalise_host(host)
    if not host.isascii():  # 商店.example.com → its ASCII (punycode) form, which DNS uses
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidInput(_l("not a valid hostname: %(host)r", host=raw),
                               field="hostname") from None
    if not host:
        raise InvalidInput(_l("Enter a domain name, e.g. shop.example.com."), field="hostname")
    if not HOST_RE.match(host):
        raise InvalidInput(_l("not a valid hostname: %(host)r", host=raw), field="hostname")
    if "." not in host or host.rsplit(".", 1)[1].isdigit():
        raise InvalidInput(_l("Enter a domain name such as shop.example.com (not an address "
                              "or a single word)."), field="hostname")
    base = current_app.config["BASE_DOMAIN"]
    if host == base or host.endswith("." + base):
        raise InvalidInput(_l("Addresses under %(base)s are given by the platform; enter a "
                              "domain of your own.", base=base), field="hostname")
    return in_own_txn(bind_in_txn, tenant, host)


def bind_in_txn(tenant: Tenant, host: str, verified: bool = False) -> Domain:
    """Bind the normalised ``host`` (and ``www.<host>`` for an apex) to ``tenant``."""
    base = current_app.config["BASE_DOMAIN"]
    own = host == base or host.endswith("." + base)
    _check_free(tenant, host)
    apex = not own and is_apex(host)
    if apex and not public_ip():
        raise InvalidInput(_l("%(host)s is a root domain, which cannot have a CNAME record, "
                              "and this platform has no public IP address for an A record "
                              "(KAMENG_PUBLIC_IP): bind www.%(host)s instead.", host=host),
                           field="hostname")
    now = utcnow()
    first = not tenant.domains
    domain = Domain(hostname=host, tenant_id=tenant.id, kind="subdomain" if own else "custom",
                    # sub-domains of our own base domain need no proof of ownership
                    verified_at=now if (own or verified) else None,
                    token=secrets.token_hex(16), is_primary=first)
    db.session.add(domain)
    db.session.flush()
    if apex:
        www = "www." + host
        holder = db.session.scalar(select(Domain).where(Domain.hostname == www))
        if holder is None:
            db.session.add(Domain(hostname=www, tenant_id=tenant.id, kind="custom",
                                  verified_at=domain.verified_at, token=domain.token,
                                  alias_of_id=domain.id))
        elif holder.tenant_id != tenant.id:
            raise Conflict(_l("%(host)s is already bound to another shop: one host belongs "
                              "to one shop.", host=www), field="hostname")
        db.session.flush()
    return domain


def _check_free(tenant: Tenant, host: str) -> None:
    holder = db.session.scalar(select(Domain.tenant_id).where(Domain.hostname == host))
    if holder is None:
        return
    if holder == tenant.id:
        raise Conflict(_l("%(host)s is already bound to this shop.", host=host),
                       field="hostname")
    raise Conflict(_l("%(host)s is already bound to another shop: one host belongs to one "
                      "shop.", host=host), field="hostname")


def domains_of(tenant: Tenant) -> list[tuple[Domain, Setup]]:
    rows = list(db.session.scalars(select(Domain).where(Domain.tenant_id == tenant.id)
                                   .order_by(Domain.id)))
    # an apex's www alias is the same shop's row: found among these, not asked for again
    www_of = {d.alias_of_id: d for d in rows if d.alias_of_id is not None}
    return [(d, _setup(d, www_of.get(d.id))) for d in rows]


def domain_of(tenant: Tenant, domain_id: int) -> Domain:
    """One of ``tenant``'s domains; another shop's id is not found."""
    return found(db.session.scalar(select(Domain).where(Domain.id == domain_id,
                                                        Domain.tenant_id == tenant.id)),
                 _l("no such domain"))


def failing(tenant: Tenant) -> list[Domain]:
    """The shop's verified domains whose last check found the TXT record gone or wrong."""
    return list(db.session.scalars(select(Domain).where(
        Domain.tenant_id == tenant.id, Domain.kind == "custom",
        Domain.verified_at.is_not(None), Domain.check_failures > 0)
        .order_by(Domain.id)))


def remove_domain(tenant: Tenant, domain_id: int) -> str:
    """Unbind a domain (with its www alias); it stops serving as the commit lands."""
    return in_own_txn(_remove_in_txn, tenant, domain_id)


def _remove_in_txn(tenant: Tenant, domain_id: int) -> str:
    domain = domain_of(tenant, domain_id)
    if domain.kind == "subdomain":
        raise Conflict(_l("%(host)s is your shop's own address on the platform and cannot be "
                          "removed.", host=domain.hostname), field="hostname")
    host = domain.hostname
    aliases = list(db.session.scalars(select(Domain).where(Domain.alias_of_id == domain.id)))
    was_primary = domain.is_primary or any(a.is_primary for a in aliases)
    for row in aliases:
        db.session.delete(row)
    db.session.flush()  # the aliases first: they reference the apex
    db.session.delete(domain)
    db.session.flush()
    if was_primary:
        rest = list(db.session.scalars(select(Domain).where(
            Domain.tenant_id == tenant.id, Domain.verified_at.is_not(None))
            .order_by((Domain.kind == "subdomain").desc(), Domain.id)))
        if rest:
            rest[0].is_primary = True
    return host


def make_primary(tenant: Tenant, domain_id: int) -> Domain:
    return in_own_txn(_make_primary_in_txn, tenant, domain_id)


def _make_primary_in_txn(tenant: Tenant, domain_id: int) -> Domain:
    domain = domain_of(tenant, domain_id)
    if domain.verified_at is None:
        raise Conflict(_l("%(host)s is not verified yet: verify it before making it the "
                          "primary address.", host=domain.hostname), field="hostname")
    for row in db.session.scalars(select(Domain).where(Domain.tenant_id == tenant.id)):
        row.is_primary = row.id == domain.id
    return domain


def verify_without_dns(hostname: str) -> Domain:
    """The operator's override (``domain-verify``): verified without looking at DNS."""
    return in_own_txn(_verify_without_dns_in_txn, hostname)


def _verify_without_dns_in_txn(hostname: str) -> Domain:
    domain = _by_host(hostname)
    proof = proof_of(domain)
    _mark_verified(proof, utcnow())
    return domain


def _by_host(hostname: str) -> Domain:
    return found(db.session.scalar(select(Domain).where(
        Domain.hostname == normalise_host(hostname))),
        _l("no such domain %(hostname)r", hostname=hostname))


def _mark_verified(proof: Domain, now: datetime) -> None:
    rows = [proof, *db.session.scalars(select(Domain).where(Domain.alias_of_id == proof.id))]
    for row in rows:
        if row.verified_at is None:
            row.verified_at = now
    proof.check_failures, proof.check_found, proof.notified_at = 0, None, None


# ----- checking --------------------------------------------------------------------------

def check_host(hostname: str) -> Domain:
    """``domain-check``: look the TXT record of HOST up; raises ``InvalidInput`` saying
    what was expected and what was found unless it matches."""
    return _check(_by_host(hostname).id)


def check_domain(tenant: Tenant, domain_id: int) -> Domain:
    """The back office's "Verify": as ``check_host``, for one of ``tenant``'s domains."""
    return _check(domain_of(tenant, domain_id).id)


def _check(domain_id: int) -> Domain:
    domain = db.session.get(Domain, domain_id)
    if domain.kind == "subdomain":
        return domain  # the platform's own name: verified when made, nothing to prove
    proof = proof_of(domain)
    proof_id, name, token = proof.id, TXT_PREFIX + proof.hostname, proof.token
    db.session.commit()  # ends the read: no transaction is open during the look-up
    result = lookup_txt(name, token)
    in_own_txn(record_check_in_txn, proof_id, result)
    if result.outcome != MATCH:
        raise InvalidInput(miss_message(result, name, token), field="hostname")
    return found(db.session.get(Domain, domain_id), _l("no such domain"))


def record_check_in_txn(domain_id: int, result: Lookup, notify_owner: bool = False,
                        now: datetime | None = None) -> tuple[Domain | None, bool]:
    """Record a look-up's answer on the proving row; returns (the row, tell its owner?).

    A match verifies the row and its alias and clears a failing streak. A definite miss
    counts one more failure and keeps the domain as it is (a verified one keeps serving);
    with ``notify_owner`` the first miss of a verified domain's streak asks for the
    owner's e-mail (once per streak: ``notified_at``). A look-up that got no answer
    (timeout, resolver failure) only stamps ``checked_at``.
    """
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        return None, False  # removed meanwhile
    now = now or utcnow()
    domain.checked_at = now
    if result.outcome == MATCH:
        _mark_verified(domain, now)
        return domain, False
    if result.outcome == ERROR:
        return domain, False
    domain.check_failures = (domain.check_failures or 0) + 1
    domain.check_found = quoted(result.found)[:255]
    if notify_owner and domain.verified_at is not None and domain.notified_at is None:
        domain.notified_at = now
        return domain, True
    return domain, False


def due_for_recheck(checked_before: datetime, limit: int) -> list[tuple[int, str, str]]:
    """(id, TXT name, token) of verified custom domains not checked since
    ``checked_before``, oldest first; the read is ended before returning."""
    rows = db.session.execute(
        select(Domain.id, Domain.hostname, Domain.token)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .where(Domain.kind == "custom", Domain.alias_of_id.is_(None),
               Domain.verified_at.is_not(None),
               (Domain.checked_at.is_(None)) | (Domain.checked_at < checked_before))
        .order_by(Domain.checked_at.is_not(None), Domain.checked_at, Domain.id)
        .limit(limit)).all()
    db.session.commit()
    return [(r.id, TXT_PREFIX + r.hostname, r.token) for r in rows]


def quoted(values) -> str:
    return ", ".join(f'"{v}"' for v in values)


def miss_message(result: Lookup, name: str, expected: str):
    if result.outcome == MISSING:
        return _l('TXT record %(name)s: expected "%(expected)s", found no TXT record.',
                  name=name, expected=expected)
    if result.outcome == WRONG:
        return _l('TXT record %(name)s: expected "%(expected)s", found %(found)s.',
                  name=name, expected=expected, found=quoted(result.found)[:300])
    return _l("TXT record %(name)s could not be looked up (%(reason)s): nothing was changed; "
              "try again later.", name=name, reason=result.reason)


def nameservers(spec: str) -> list[tuple[str, int]]:
    """``host:port[,host:port…]`` (``[v6]:port``; the port defaults to 53) → [(ip, port)]."""
    servers = []
    for item in (part.strip() for part in (spec or "").split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, "53"
        ipaddress.ip_address(host)  # a name server is given by its address
        servers.append((host, int(port)))
    return servers


def _resolver() -> dns.resolver.Resolver:
    timeout = float(current_app.config.get("DNS_TIMEOUT") or 3.0)
    servers = nameservers(current_app.config.get("DNS_NAMESERVERS") or "")
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)
                                for host, port in servers]
    else:
        resolver = dns.resolver.Resolver()  # the system's (/etc/resolv.conf)
    resolver.timeout = timeout
    resolver.lifetime = timeout  # the whole look-up, every server and retry included
    resolver.cache = None  # a fixed record must be seen at once
    return resolver


def lookup_txt(name: str, expected: str) -> Lookup:
    """Ask DNS for the TXT records of ``name`` (a network call: no transaction open)."""
    try:
        answer = _resolver().resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Lookup(MISSING)
    except dns.resolver.LifetimeTimeout:
        return Lookup(ERROR, reason="timed out")
    except dns.resolver.NoNameservers:
        return Lookup(ERROR, reason="no name server answered")
    except (dns.exception.DNSException, OSError, ValueError) as err:
        log.warning("TXT look-up of %s failed: %s", name, err)
        return Lookup(ERROR, reason=str(err) or type(err).__name__)
    values = tuple(b"".join(rdata.strings).decode("utf-8", "replace").strip()
                   for rdata in answer)
    if expected in values:
        return Lookup(MATCH, values)
    return Lookup(WRONG, values)


# ----- TLS ---------------------------------------------------------------------------------

def serves_tls(host: str) -> bool:
    """Caddy's on-demand TLS ``ask``: may a certificate be obtained for ``host``? Only for
    a verified domain (or a sub-domain of the base domain) of an active shop."""
    host = normalise_host(host)
    if not host or not HOST_RE.match(host):
        return False
    tenant = resolve_host(host)
    return tenant is not None and tenant.status == TENANT_ACTIVE
