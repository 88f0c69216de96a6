"""Judge what lbguard_probe measured on a load balancer against the lbguard model.

Filters (thin wrappers over the pure functions below):

* ``model | lbguard_verify_problems(probe, settings)`` -> list[str]: one readable
  message per problem, empty when the load balancer does what the model says.
* ``model | lbguard_verify_summary(probe)`` -> {service: {"requests", "source",
  "counted", "window_seconds", "note", "observed", "expected", "errors"}} for
  reports and job artifacts.
* ``service_summary | lbguard_share_table`` -> "web1 34%, web2 33%, web3 33%".
* ``model | lbguard_verify_expected_up`` -> {service: [server, ...]}: the servers
  rule b expects UP, which lbguard_probe waits for after a reload ({} for nginx).
* ``model | lbguard_verify_settle_note(seconds, label)`` -> the one line said
  before that wait: what is awaited and for how long.

``probe`` is the registered result of the lbguard_probe module (runtime,
runtime_error, running_model, running_model_error, traffic, counters).

Rules of lbguard_verify_problems, in message order:

a) the running process loaded this model: ``probe.running_model == model.digest``;
b) HAProxy runtime (``check_runtime``, default true for haproxy): every active
   server (not disabled, not backup, weight > 0) is UP ("UP", "UP 1/2", ...; "no
   check" too when the service has no health check); disabled servers are MAINT;
   every model server exists at runtime and no runtime server is unknown; every
   server that is UP has the model's weight (a weight set through the runtime
   API, as 100/0/0 or 80/10/10 set by hand, fails whatever the algorithm and the
   load, before any traffic is counted);
c) traffic split of HTTP services: one message per failing service, listing the
   observed and expected shares and what was counted, then the reasons (a server
   with weight that got nothing, a share off by more than ``tolerance`` beyond
   chance, a share above the policy's max_server_share + tolerance beyond chance,
   answers from inactive or unknown servers). Share checks apply to roundrobin,
   static-rr, leastconn, random and first; source and uri (one client always
   hashes to one server) only get the server checks;
d) failed requests: (5xx + connection errors + other errors + missing header) /
   requests must not exceed ``max_error_rate``; a service that got no request or no
   successful one always fails.

What rule c counts (``judged_sample``): for HAProxy, the differences of every
server's ``lbtot`` counter over the probe's traffic window, that is all requests
the balancer sent, real clients' and the probe's; under load they are the true
split, where the probe's own requests land wherever real traffic left the
pointer. For nginx, which has no per-server counters, the lines its split log
gained in the window (one per request, naming the upstream that answered).
When the window is unusable (the probe says why, for example a reload or a log
rotation during it) or was not read, the probe's own answers are counted
instead, and the message says which.

The share test (``share_off``): n requests counted, a server with expected share
p scatters by chance with a standard deviation of sqrt(p(1-p)/n). A server fails
only when its share is off by more than the tolerance with confidence 1 - alpha
for the whole service: |observed - p| - z * sqrt(p(1-p)/n) > tolerance, with z
the two-sided normal quantile for alpha split over the service's active servers
(Bonferroni; alpha 0.001 and three servers give z = 3.59). So a service whose
servers really get their expected share +- tolerance fails with a probability of
about alpha at most, while 100/0/0 and 80/10/10 against 33/33/33 fail from 9 and
22 requests on (docs/verification.md). The max_server_share rule uses the same
margin. "Received nothing" stays exact: it is the incident's signature.

Design note on ``balance random`` (HAProxy): random is random(2). Each draw
takes the server whose point on a consistent-hash ring lies closest to a random
32-bit number; the ring has 16 points per unit of weight, at keys that only
depend on the server's position in the backend (``haproxy_random_shares``
computes them as HAProxy 2.6 does). Of two draws, the server with fewer
sessions in progress per weight wins, the later draw on a tie. So idle, each
server's share is its ring share (three equal servers: 35/30/35, measured
34/29/37 over 1500 requests in the lab); under load the less busy server wins
more often, which moves the shares towards the weights. The expected share of a
server is therefore the range between its ring share and its weight share, and
the share test measures from the nearest end of that range. nginx's random is a
weighted draw and keeps its expected share; when only the probe's own answers
are judged (no split log), the tolerance is widened to max(tolerance,
random_sigmas x sqrt(p(1-p)/n)) at those n answers.

Design note on ``balance leastconn`` (HAProxy): a server's key in the
leastconn tree is 0 while it has no connection in progress, whatever its
weight (src/lb_fwlc.c), so on an idle LB the servers with weight take turns
and the weights only count once requests overlap. The expected share is the
range from the equal share to the weight share, measured from the nearest end,
as for random. nginx's least_conn breaks ties by weighted round robin and keeps
the weight share.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping, Sequence

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import (
    EPSILON, inactive_reason, is_active, join_names, pct, plural)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import pct_number as pct_text
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import is_up
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters

SHARE_CHECKED = ("roundrobin", "static-rr", "leastconn", "random", "first")
ERROR_FIELDS = ("status_5xx", "connection_errors", "other_errors", "missing_header")
DEFAULTS: dict[str, Any] = {"tolerance": 0.10, "max_error_rate": 0.01, "random_sigmas": 3.0, "alpha": 0.001}
# Largest alpha accepted: above it the "confidence" would be a coin toss.
MAX_ALPHA = 0.5
#: Certificate fingerprints are shown by their first characters.
SHORT = 12


# ----------------------------------------------------------------------- settings


def _as_bool(value: Any, field: str) -> bool:
    """Bool from a bool or the usual yes/no strings; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    if isinstance(value, int):
        return bool(value)
    raise ValueError(f"settings.{field} must be a boolean, got {value!r}")


def _as_fraction(value: Any, field: str, high: float = 1.0) -> float:
    """Float 0..high from a number or numeric string; ValueError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"settings.{field} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not 0.0 <= number <= high or math.isnan(number):
        raise ValueError(f"settings.{field} must be between 0 and {high:g}, got {value!r}")
    return number


def _as_alpha(value: Any) -> float:
    """The false-alarm rate alpha: more than 0, at most MAX_ALPHA; ValueError otherwise."""
    alpha = _as_fraction(value, "alpha", high=MAX_ALPHA)
    if alpha <= 0:
        raise ValueError(f"settings.alpha must be more than 0, got {value!r}")
    return alpha


def normalise_settings(model: Mapping[str, Any], settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill defaults: tolerance 0.10, max_error_rate 0.01, random_sigmas 3, alpha 0.001,
    check_runtime true for haproxy, label "<environment> <host>"."""
    settings = dict(settings or {})
    known = ("tolerance", "max_error_rate", "check_runtime", "label", "random_sigmas", "alpha")
    unknown = sorted(str(key) for key in settings if key not in known)
    if unknown:
        raise ValueError(f"unknown settings {', '.join(unknown)}; known: {', '.join(known)}")
    engine = model.get("engine")
    label = settings.get("label")
    if label is None or str(label).strip() == "":
        label = " ".join(str(part) for part in (model.get("environment"), model.get("host")) if part) or "lb"
    return {
        "tolerance": _as_fraction(settings.get("tolerance", DEFAULTS["tolerance"]), "tolerance"),
        "max_error_rate": _as_fraction(settings.get("max_error_rate", DEFAULTS["max_error_rate"]),
                                       "max_error_rate"),
        "random_sigmas": _as_fraction(settings.get("random_sigmas", DEFAULTS["random_sigmas"]),
                                      "random_sigmas", high=10.0),
        "alpha": _as_alpha(settings.get("alpha", DEFAULTS["alpha"])),
        "check_runtime": _as_bool(settings.get("check_runtime", engine == "haproxy"), "check_runtime"),
        "label": str(label).strip(),
    }


# ------------------------------------------------------------------------ helpers


def counts_of(traffic: Mapping[str, Any]) -> dict[str, int]:
    """Successful responses per server name, as ints."""
    return {str(name): int(count) for name, count in dict(traffic.get("counts") or {}).items()}


def error_count(traffic: Mapping[str, Any]) -> int:
    """All failed requests of a service."""
    return sum(int(traffic.get(field) or 0) for field in ERROR_FIELDS)


def observed_shares(servers: Sequence[Mapping[str, Any]], counts: Mapping[str, int]) -> dict[str, float]:
    """Observed share per server: model servers in model order, then unknown ones sorted.

    Shares are counts / sum of all counts (unknown servers included); all 0.0 when
    nothing answered.
    """
    total = sum(counts.values())
    names = [str(server["name"]) for server in servers]
    names += sorted(name for name in counts if name not in names)
    return {name: (counts.get(name, 0) / total if total else 0.0) for name in names}


# ------------------------------------------------------------------- share test


def confidence_z(alpha: float, servers: int) -> float:
    """Two-sided normal quantile for ``alpha`` split over ``servers`` tests (Bonferroni).

    alpha 0.001: 3.29 for one server, 3.48 for two, 3.59 for three.
    """
    return NormalDist().inv_cdf(1 - alpha / (2 * max(int(servers), 1)))


def share_margin(expected: float, counted: int, z: float) -> float:
    """How far chance alone moves a share of ``counted`` requests: z * sqrt(p(1-p)/n)."""
    if counted <= 0:
        return math.inf
    return z * math.sqrt(max(expected * (1 - expected), 0.0) / counted)


def share_off(observed: float, expected: float, counted: int, tolerance: float, z: float) -> bool:
    """Whether a share is off by more than ``tolerance`` beyond chance.

    True when |observed - expected| - z * sqrt(p(1-p)/n) > tolerance (p the
    expected share, n the requests counted): the true share differs from the
    expected one by more than the tolerance with the confidence z stands for.
    """
    return abs(observed - expected) - share_margin(expected, counted, z) > tolerance + EPSILON


def judged_sample(model: Mapping[str, Any], service: Mapping[str, Any],
                  probe: Mapping[str, Any]) -> dict[str, Any]:
    """The requests rule c judges for one service, and where they come from.

    Returns {"counts": {server: requests}, "source": "counters" or "probe",
    "counted": n, "window_seconds": seconds or None, "origin": what counted
    (HAProxy counters, nginx split log), "note": why the probe's answers are
    counted, or None}. The counter window is used when the probe returned a
    usable one for the service that counted something.
    """
    name = service.get("name")
    probe_counts = counts_of(((probe or {}).get("traffic") or {}).get(name) or {})
    window = ((probe or {}).get("counters") or {}).get(name)
    haproxy = model.get("engine", "haproxy") == "haproxy"
    if not window:
        note = "no counters read" if haproxy else f"{model.get('engine')} split log not read"
    elif not window.get("usable"):
        note = f"counters unusable: {window.get('unusable_reason') or 'no reason given'}"
    else:
        counts = {str(server): int(count) for server, count in dict(window.get("lbtot") or {}).items()}
        if sum(counts.values()) > 0:
            origin = window.get("origin") or ("HAProxy counters" if haproxy else f"{model.get('engine')} split log")
            return {"counts": counts, "source": "counters", "counted": sum(counts.values()),
                    "window_seconds": float(window.get("window_seconds") or 0.0), "origin": origin, "note": None}
        note = "the counters counted nothing"
    return {"counts": probe_counts, "source": "probe", "counted": sum(probe_counts.values()),
            "window_seconds": None, "origin": None, "note": note}


def sample_text(sample: Mapping[str, Any]) -> str:
    """What was counted, in words: "all 2431 requests the LB sent in 1.2 s (HAProxy counters)"."""
    if sample.get("source") == "counters":
        return (f"counted all {sample['counted']} requests the LB sent in "
                f"{float(sample.get('window_seconds') or 0):.1f} s ({sample.get('origin') or 'HAProxy counters'})")
    note = f" ({sample['note']})" if sample.get("note") else ""
    return f"counted the probe's {sample.get('counted', 0)} answers{note}"


# -------------------------------------------------------------------------- rules


def running_model_problems(model: Mapping[str, Any], probe: Mapping[str, Any], label: str) -> list[str]:
    """Rule a: the live process runs the model that was just deployed."""
    expected = str(model.get("digest") or "")
    running = probe.get("running_model")
    if running is not None and str(running).strip() == expected and expected:
        return []
    if running is None:
        error = probe.get("running_model_error") or "no answer"
        shown = f"unknown: {error}"
    else:
        shown = str(running).strip()
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return [f"{label}: the running configuration is not the new release (running model {shown}, "
            f"expected {expected or 'unknown: the model has no digest'}): the reload did not take effect"]


def runtime_problems(service: Mapping[str, Any], runtime: Mapping[str, Any] | None, label: str) -> list[str]:
    """Rule b for one service: active servers UP, disabled servers MAINT, model weights, no unknown servers.

    ``runtime`` is {server: {"status", "weight"}} of the service's backend, or None
    when the backend is absent.
    """
    name = service.get("name")
    servers = list(service.get("servers") or [])
    runtime = dict(runtime or {})
    no_health_check = not (service.get("health_check") or {}).get("enabled", False)
    problems: list[str] = []

    def status_of(server_name: str) -> str | None:
        """Runtime status of a server, None when the runtime does not list it."""
        entry = runtime.get(server_name)
        return None if entry is None else str((entry or {}).get("status", "")).strip()

    active = [server for server in servers if is_active(server)]
    bad: list[str] = []
    for server in active:
        status = status_of(str(server["name"]))
        if status is None:
            bad.append(f"{server['name']} (missing from the runtime state)")
        elif not is_up(status, no_check=no_health_check):
            bad.append(f"{server['name']} ({status or 'no status'})")
    if bad:
        problems.append(f"{label} service {name}: servers DOWN: {', '.join(bad)}; "
                        f"expected UP: {', '.join(str(server['name']) for server in active)}")

    not_maint: list[str] = []
    for server in servers:
        if not server.get("disabled"):
            continue
        status = status_of(str(server["name"]))
        if status is None:
            not_maint.append(f"{server['name']} (missing from the runtime state)")
        elif not status.upper().startswith("MAINT"):
            not_maint.append(f"{server['name']} ({status or 'no status'})")
    if not_maint:
        problems.append(f"{label} service {name}: disabled servers not in MAINT: {', '.join(not_maint)}")

    reweighted = []
    for server in servers:
        status = status_of(str(server["name"]))
        if server.get("disabled") or status is None or not is_up(status, no_check=False):
            continue
        weight = str((runtime.get(str(server["name"])) or {}).get("weight", "")).strip()
        if weight != str(int(server.get("weight", 1))):
            reweighted.append(f"{server['name']} {weight or 'no weight'} (model {int(server.get('weight', 1))})")
    if reweighted:
        problems.append(f"{label} service {name}: runtime weights differ from the model: "
                        f"{', '.join(reweighted)}")

    model_names = {str(server["name"]) for server in servers}
    extra = sorted(server_name for server_name in runtime if server_name not in model_names)
    if extra:
        problems.append(f"{label} service {name}: the runtime has servers that are not in the model: "
                        f"{', '.join(extra)}")
    return problems


#: HAProxy's consistent-hash ring (src/lb_chash.c, 2.6): points per unit of
#: weight (BE_WEIGHT_SCALE) and the key space of one server (SRV_EWGHT_RANGE).
RING_POINTS_PER_WEIGHT = 16
RING_KEYS_PER_SERVER = 256 * RING_POINTS_PER_WEIGHT
UINT32 = 0xFFFFFFFF


def haproxy_full_hash(value: int) -> int:
    """HAProxy's full_hash(): Bob Jenkins' 32-bit integer hash, times a prime near 3/4 of 2^32."""
    a = value & UINT32
    a = ((a + 0x7ED55D16) + (a << 12)) & UINT32
    a = ((a ^ 0xC761C23C) ^ (a >> 19)) & UINT32
    a = ((a + 0x165667B1) + (a << 5)) & UINT32
    a = ((a + 0xD3A2646C) ^ (a << 9)) & UINT32
    a = ((a + 0xFD7046C5) + (a << 3)) & UINT32
    a = ((a ^ 0xB55A4F09) ^ (a >> 16)) & UINT32
    return (a * 3221225473) & UINT32


def haproxy_random_shares(servers: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Share of one random draw per active server, from HAProxy's hash ring.

    A server's id (puid) is its position in the backend, from 1, as the template
    writes every server of the model in order. Weight w puts 16w points at keys
    full_hash(id * 4096 + j); a random number goes to the closest point, so each
    point owns half the gap to each neighbour.
    """
    points = sorted((haproxy_full_hash(position * RING_KEYS_PER_SERVER + j), str(server["name"]))
                    for position, server in enumerate(servers, start=1) if is_active(server)
                    for j in range(int(server.get("weight", 1)) * RING_POINTS_PER_WEIGHT))
    owned = {str(server["name"]): 0 for server in servers if is_active(server)}
    for index, (key, name) in enumerate(points):
        next_key, next_name = points[(index + 1) % len(points)]
        gap = (next_key - key) & UINT32 or UINT32 + 1
        owned[name] += (gap + 1) // 2  # a tie goes to the point before (dp <= dn)
        owned[next_name] += gap // 2
    return {name: count / (UINT32 + 1) for name, count in owned.items()}


#: What each end of a range means, for the message: the share without
#: overlapping requests (idle) to the weight share (under load).
IDLE_SHARE_LABELS = {"random": "random's hash ring", "leastconn": "leastconn, idle"}


def idle_shares(service: Mapping[str, Any], engine: str | None) -> dict[str, float] | None:
    """Each active server's share when requests never overlap, where HAProxy differs from the weights.

    ``random``: the hash ring (``haproxy_random_shares``). ``leastconn``: with no
    connection in progress every server's key is 0 (src/lb_fwlc.c), so the
    servers with weight take turns, whatever their weights. None for the rest,
    and for nginx, whose least_conn breaks ties by weighted round robin.
    """
    servers = list(service.get("servers") or [])
    active = [str(s["name"]) for s in servers if is_active(s)]
    if engine != "haproxy" or not active:
        return None
    if service.get("balance") == "random":
        return haproxy_random_shares(servers)
    if service.get("balance") == "leastconn":
        return {name: 1.0 / len(active) for name in active}
    return None


def expected_ranges(service: Mapping[str, Any], engine: str | None) -> dict[str, tuple[float, float]]:
    """Each server's expected share as a range from its idle share to its weight share (one value for most)."""
    servers = list(service.get("servers") or [])
    weights = {str(s["name"]): float(s.get("expected_share") or 0.0) for s in servers}
    idle = idle_shares(service, engine)
    if idle is None:
        return {name: (share, share) for name, share in weights.items()}
    return {name: tuple(sorted((idle.get(name, share), share))) for name, share in weights.items()}


def share_tolerance(service: Mapping[str, Any], requests: int, tolerance: float, random_sigmas: float,
                    engine: str | None = None) -> float:
    """Tolerance used for a service's share check (widened for nginx's balance random, see module doc).

    ``requests`` is the probe's own answers, also when the counters are judged.
    HAProxy's random is modelled (``expected_ranges``) and keeps the tolerance.
    """
    if (service.get("balance") != "random" or engine == "haproxy" or requests <= 0
            or random_sigmas <= 0):
        return tolerance
    worst = max((float(server.get("expected_share") or 0.0) for server in service.get("servers") or []),
                key=lambda p: p * (1 - p), default=0.0)
    return max(tolerance, random_sigmas * math.sqrt(worst * (1 - worst) / requests))


def traffic_problem(service: Mapping[str, Any], traffic: Mapping[str, Any], tolerance: float,
                    label: str, random_sigmas: float = DEFAULTS["random_sigmas"],
                    sample: Mapping[str, Any] | None = None, alpha: float = DEFAULTS["alpha"],
                    engine: str | None = None) -> str | None:
    """Rule c for one HTTP service: at most one message, None when the split is right.

    ``sample`` (``judged_sample``) is what is judged; without it, the probe's
    answers in ``traffic``. Nothing to judge (no request counted) returns None:
    rule d reports a probe without answers.
    """
    name = service.get("name")
    servers = list(service.get("servers") or [])
    probe_counts = counts_of(traffic)
    if sample is None:
        sample = {"counts": probe_counts, "source": "probe", "counted": sum(probe_counts.values()),
                  "window_seconds": None, "note": None}
    counts = {str(server): int(count) for server, count in dict(sample.get("counts") or {}).items()}
    counted = sum(counts.values())
    if counted <= 0:
        return None
    shares = observed_shares(servers, counts)
    by_name = {str(server["name"]): server for server in servers}
    share_checked = service.get("balance") in SHARE_CHECKED
    # The widened tolerance of nginx's random is for the probe's small sample only.
    sampled = sum(probe_counts.values()) if sample.get("source") != "counters" else 0
    tol = share_tolerance(service, sampled, tolerance, random_sigmas, engine)
    ranges = expected_ranges(service, engine)
    max_share = float((service.get("policy") or {}).get("max_server_share", 1.0))
    z = confidence_z(alpha, sum(1 for server in servers if is_active(server)))

    def margin(server_name: str) -> float:
        """Chance's margin for one server's share."""
        return share_margin(float(by_name[server_name].get("expected_share") or 0), counted, z)

    reasons: list[str] = []
    named: set[str] = set()
    if share_checked:
        # Exact on purpose: a server with weight that gets nothing is the incident's signature.
        starved = [str(s["name"]) for s in servers
                   if float(s.get("expected_share") or 0) > 0 and counts.get(str(s["name"]), 0) == 0]
        if starved:
            verb = "has" if len(starved) == 1 else "have"
            reasons.append(f"{join_names(starved)} {verb} weight but received nothing")
            named.update(starved)
        # Beyond the limit by more than chance and the tolerance explain.
        over = over_share({server_name: share - margin(server_name) for server_name, share in shares.items()
                           if server_name in by_name}, max_share, slack=tol)
        if over:
            verb = "exceeds" if len(over) == 1 else "exceed"
            reasons.append(f"{join_names(over)} {verb} max_server_share {pct_text(max_share)}%")
            named.update(over)
        off = []
        for server in servers:
            server_name = str(server["name"])
            # The nearest expected share in the server's range (one value but for HAProxy's random).
            low, high = ranges[server_name]
            expected_share = min(max(shares[server_name], low), high)
            diff = shares[server_name] - expected_share
            if (server_name not in named and is_active(server)
                    and share_off(shares[server_name], expected_share, counted, tol, z)):
                off.append(f"{server_name} ({'+' if diff > 0 else '-'}{pct(abs(diff))}, "
                           f"chance +-{pct(margin(server_name))})")
        if off:
            verb = "is" if len(off) == 1 else "are"
            reasons.append(f"{join_names(off)} {verb} more than {pct_text(tol)} points off the expected share "
                           f"({pct_text(1 - alpha)}% confidence)")

    # The probe's own answers name servers too (a wrong header, a stray server).
    answered = [server_name for server_name in shares if counts.get(server_name, 0) > 0]
    answered += sorted(server_name for server_name, count in probe_counts.items()
                       if count > 0 and server_name not in answered)
    inactive = [f"{server_name} ({inactive_reason(by_name[server_name])})" for server_name in answered
                if server_name in by_name and not is_active(by_name[server_name])]
    if inactive:
        reasons.append(f"answered by inactive {'server' if len(inactive) == 1 else 'servers'} {join_names(inactive)}")
    unknown = [server_name for server_name in answered if server_name not in by_name]
    if unknown:
        reasons.append(f"answered by unknown {'server' if len(unknown) == 1 else 'servers'} {join_names(unknown)}")
    if not reasons:
        return None

    observed = ", ".join(f"{server_name} {pct(share)}%" for server_name, share in shares.items())
    if share_checked:
        expected = "/".join(str(pct(float(s.get("expected_share") or 0))) for s in servers)
        if any(low != high for low, high in ranges.values()):
            idle = "/".join(str(pct(ranges[str(s["name"])][0] + ranges[str(s["name"])][1]
                                    - float(s.get("expected_share") or 0))) for s in servers)
            expected = f"{idle} ({IDLE_SHARE_LABELS[service.get('balance')]}) to {expected} (weights)"
        head = f"{label} service {name}: observed {observed}; expected {expected} (+-{pct_text(tol)})"
    else:
        head = f"{label} service {name}: observed {observed} (balance {service.get('balance')}: share not checked)"
    return head + "; " + sample_text(sample) + "; " + "; ".join(reasons)


def error_problem(service: Mapping[str, Any], traffic: Mapping[str, Any] | None, max_error_rate: float,
                  label: str) -> str | None:
    """Rule d for one service: too many failed requests, or none made or none successful."""
    name = service.get("name")
    if traffic is None:
        return (f"{label} service {name}: the probe has no traffic result for this service: "
                "its traffic cannot be verified")
    requests = int(traffic.get("requests") or 0)
    http = service.get("mode", "http") == "http"
    unit = "requests" if http else "connections"
    if requests <= 0:
        return f"{label} service {name}: no probe {unit} were made: its traffic cannot be verified"
    failed = error_count(traffic)
    successes = sum(counts_of(traffic).values()) if http else max(requests - failed, 0)
    rate = failed / requests
    if rate <= max_error_rate + EPSILON and successes > 0:
        return None
    parts = []
    for field, singular, plural_form in (("status_5xx", "5xx", "5xx"),
                                         ("connection_errors", "connection error", None),
                                         ("other_errors", "other HTTP error", None),
                                         ("missing_header", "response without the served-by header",
                                          "responses without the served-by header")):
        count = int(traffic.get(field) or 0)
        if count:
            parts.append(plural(count, singular, plural_form))
    detail = f"{rate * 100:.1f}%" + (": " + ", ".join(parts) if parts else "")
    message = (f"{label} service {name}: {failed} of {requests} {unit} failed ({detail}); "
               f"limit {pct_text(max_error_rate)}%")
    if successes <= 0:
        message += f"; no {unit[:-1]} succeeded"
    return message


def _route_text(target: Mapping[str, Any]) -> str:
    host = target.get("host") or "no Host name"
    return f"{'https' if target.get('tls') else 'http'} port {target.get('port')}, {host}, path {target.get('path')}"


def answer_problems(where: str, pool: Any, pools: Mapping[str, int], certificate: Any,
                    certificates: Mapping[str, int]) -> list[str]:
    """Answers of one route's requests that came from another pool, or with another certificate.

    ``pools``: answers per pool header value; ``certificates``: TLS handshakes per
    fingerprint; ``certificate``: the fingerprint the model expects ("" without TLS).
    """
    problems = []
    others = {seen: count for seen, count in pools.items() if seen != pool}
    if others:
        shown = ", ".join(f"{f'pool {seen}' if seen else 'no pool header'} {count}" for seen, count in others.items())
        problems.append(f"{where}: {sum(others.values())} of {sum(pools.values())} answers came from elsewhere "
                        f"({shown}); the model sends them to pool {pool}")
    wrong = {fingerprint: count for fingerprint, count in certificates.items() if fingerprint != certificate}
    if certificate and wrong:
        shown = ", ".join(f"{fingerprint[:SHORT]} ({count})" for fingerprint, count in wrong.items())
        problems.append(f"{where}: the load balancer presented certificate {shown}, not {certificate[:SHORT]} "
                        "of the model")
    return problems


def route_problems(service: Mapping[str, Any], traffic: Mapping[str, Any] | None, label: str) -> list[str]:
    """A pool of lb_pools: its route's answers came from another pool, or with the wrong certificate."""
    target = service.get("probe")
    if not isinstance(target, Mapping) or not traffic:
        return []
    name = service.get("name")
    return answer_problems(f"{label} pool {name}, measured through its route ({_route_text(target)})", name,
                           traffic.get("pools") or {}, target.get("certificate") if target.get("tls") else "",
                           traffic.get("certificates") or {})


def route_check_problems(model: Mapping[str, Any], probe: Mapping[str, Any], label: str) -> list[str]:
    """Every route (and default) of every http frontend answered by its own pool, with the model's certificate."""
    problems = []
    checked = probe.get("routes") or {}
    for frontend in model.get("frontends") or []:
        if frontend.get("mode", "http") != "http":
            continue
        name = frontend.get("name")
        items = checked.get(name)
        if not isinstance(items, list):
            problems.append(f"{label} frontend {name}: the probe did not check its routes")
            continue
        expected = [(f"routes[{i}]", r.get("probe") or {}) for i, r in enumerate(frontend.get("routes") or [])]
        expected.append(("default", frontend.get("default_probe") or {}))
        for item, (route, target) in zip(items, expected):
            where = f"{label} frontend {name} {route} (host {item.get('host') or 'none'}, path {item.get('path')})"
            if not item.get("pools"):
                problems.append(f"{where}: no answer ({item.get('errors')} failed requests)")
            problems += answer_problems(where, item.get("pool"), item.get("pools") or {},
                                        target.get("certificate") or "", item.get("certificates") or {})
    return problems


def redirect_problems(model: Mapping[str, Any], probe: Mapping[str, Any], label: str) -> list[str]:
    """A frontend with redirect_to_https whose plain request was not redirected where it should be."""
    problems = []
    redirects = probe.get("redirects") or {}
    for frontend in model.get("frontends") or []:
        if not frontend.get("redirect_to_https"):
            continue
        name = frontend.get("name")
        seen = redirects.get(name)
        if not isinstance(seen, Mapping):
            problems.append(f"{label} frontend {name}: the probe did not check its redirect to HTTPS")
        elif seen.get("status") not in (301, 308) or seen.get("location") != seen.get("expected"):
            problems.append(f"{label} frontend {name}: plain HTTP is not redirected to HTTPS: status "
                            f"{seen.get('status')}, Location {seen.get('location')}; expected 301 to "
                            f"{seen.get('expected')}")
    return problems


def verify_problems(model: Mapping[str, Any], probe: Mapping[str, Any],
                    settings: Mapping[str, Any] | None = None) -> list[str]:
    """All problems of one load balancer; empty list when it does what the model says."""
    conf = normalise_settings(model, settings)
    label = conf["label"]
    probe = probe or {}
    if probe.get("failed"):
        return [f"{label}: the probe failed ({probe.get('msg') or 'no message'}): nothing could be verified"]
    if probe.get("skipped"):
        return [f"{label}: the probe was skipped: nothing could be verified"]

    problems = running_model_problems(model, probe, label)
    services = list(model.get("services") or [])

    if conf["check_runtime"] and model.get("engine") == "haproxy":
        runtime = probe.get("runtime") or {}
        if probe.get("runtime_error"):
            problems.append(f"{label}: cannot verify the HAProxy runtime state: {probe['runtime_error']}")
        else:
            for service in services:
                problems += runtime_problems(service, runtime.get(service.get("name")), label)

    traffic_all = probe.get("traffic") or {}
    for service in services:
        traffic = traffic_all.get(service.get("name"))
        if traffic is not None and service.get("mode", "http") == "http":
            message = traffic_problem(service, traffic, conf["tolerance"], label, conf["random_sigmas"],
                                      judged_sample(model, service, probe), conf["alpha"], model.get("engine"))
            if message:
                problems.append(message)
    for service in services:
        message = error_problem(service, traffic_all.get(service.get("name")), conf["max_error_rate"], label)
        if message:
            problems.append(message)
        problems += route_problems(service, traffic_all.get(service.get("name")), label)
    return problems + route_check_problems(model, probe, label) + redirect_problems(model, probe, label)


def verify_summary(model: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per service: the probe's requests and failed requests, what rule c judged and its shares.

    {"requests": probe requests, "errors": failed probe requests, "source":
    "counters" or "probe", "counted": requests judged, "window_seconds": the
    counters' window (None for the probe), "note": why the probe was judged,
    "observed": shares of the judged requests (3 decimals), "expected": shares}.
    TCP services have no observed shares and count the probe's connections.
    """
    traffic_all = (probe or {}).get("traffic") or {}
    summary: dict[str, dict[str, Any]] = {}
    for service in model.get("services") or []:
        servers = list(service.get("servers") or [])
        traffic = traffic_all.get(service.get("name")) or {}
        http = service.get("mode", "http") == "http"
        sample = judged_sample(model, service, probe or {}) if http else {
            "counts": {}, "source": "probe", "counted": int(traffic.get("requests") or 0), "window_seconds": None,
            "note": "tcp: connections only"}
        observed = ({server_name: round(share, 3)
                     for server_name, share in observed_shares(servers, sample["counts"]).items()} if http else {})
        summary[str(service.get("name"))] = {
            "requests": int(traffic.get("requests") or 0),
            "source": sample["source"],
            "counted": int(sample["counted"]),
            "window_seconds": sample["window_seconds"],
            "note": sample["note"],
            "observed": observed,
            "expected": {str(s["name"]): round(float(s.get("expected_share") or 0), 3) for s in servers},
            "errors": error_count(traffic),
        }
    return summary


def share_table(service_summary: Mapping[str, Any]) -> str:
    """"web1 34%, web2 33%, web3 33%" from a service summary (or a {server: share} mapping)."""
    shares = service_summary.get("observed", service_summary) if service_summary else {}
    if not shares or not sum(float(share) for share in shares.values()):
        return "no responses"
    return ", ".join(f"{server_name} {pct(float(share))}%" for server_name, share in shares.items())


def expected_up(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per service, the servers rule b expects UP (``is_active``); {} without a runtime API (nginx)."""
    if model.get("engine", "haproxy") != "haproxy":
        return {}
    return {str(service.get("name")): [str(server["name"]) for server in service.get("servers") or []
                                       if is_active(server)]
            for service in model.get("services") or []}


def settle_note(model: Mapping[str, Any], seconds: Any, label: str) -> str:
    """What the wait after a reload awaits and for how long, in one line.

    "staging lb-stg-1: waiting up to 12 s for the running model 0f0f0f0f0f0f… and
    web1, web2, web3 UP"; a server of several services is named once.
    """
    waited = float(seconds)
    if math.isnan(waited) or waited < 0:
        raise ValueError(f"settle seconds must be 0 or more, got {seconds!r}")
    digest = str(model.get("digest") or "")
    awaited = [f"the running model {digest[:12]}…" if digest else "the running model (the model has no digest)"]
    names: list[str] = []
    for servers in expected_up(model).values():
        names += [name for name in servers if name not in names]
    if names:
        awaited.append(f"{', '.join(names)} UP")
    return f"{label}: waiting up to {waited:g} s for {' and '.join(awaited)}"


# ------------------------------------------------------------------------ filters


def _filter_error(exc: Exception) -> Exception:
    """AnsibleFilterError when Ansible is importable (always inside Ansible), else the error itself."""
    try:
        from ansible.errors import AnsibleFilterError
    except ImportError:  # pragma: no cover - outside Ansible
        return exc
    return AnsibleFilterError(f"lbguard_verify: {exc}")


def lbguard_verify_problems(model: Mapping[str, Any], probe: Mapping[str, Any],
                            settings: Mapping[str, Any] | None = None) -> list[str]:
    """Filter: problems of one load balancer (see module docstring)."""
    try:
        return verify_problems(model, probe, settings)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_summary(model: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Filter: per-service traffic summary for reports."""
    try:
        return verify_summary(model, probe)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_share_table(service_summary: Mapping[str, Any]) -> str:
    """Filter: observed shares of one service summary as short text."""
    try:
        return share_table(service_summary)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_expected_up(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """Filter: servers the settle wait expects UP, per service."""
    try:
        return expected_up(model)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_settle_note(model: Mapping[str, Any], seconds: Any, label: str) -> str:
    """Filter: the line that says what the settle wait awaits and for how long."""
    try:
        return settle_note(model, seconds, label)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


class FilterModule:
    """lbguard verification filters."""

    def filters(self) -> dict[str, Any]:
        """Filter names for Ansible."""
        return guarded_filters({
            "lbguard_verify_problems": lbguard_verify_problems,
            "lbguard_verify_summary": lbguard_verify_summary,
            "lbguard_share_table": lbguard_share_table,
            "lbguard_verify_expected_up": lbguard_verify_expected_up,
            "lbguard_verify_settle_note": lbguard_verify_settle_note,
        })
