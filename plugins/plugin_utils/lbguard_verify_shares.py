"""Verification settings and the share test: counts, observed shares, the confidence
margin, the sample judged, and the expected share ranges (HAProxy's random ring,
leastconn when idle). See lbguard_verify_rules for the rules these serve."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping, Sequence

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import EPSILON, is_active


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
