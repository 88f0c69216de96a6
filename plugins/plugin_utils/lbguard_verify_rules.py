"""Judge what lbguard_probe measured on a load balancer against the lbguard model.

Filters (filter_plugins/lbguard_verify.py, thin wrappers over the pure functions here and in
lbguard_verify_shares and lbguard_verify_report):

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

from typing import Any, Mapping

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import (
    EPSILON,
    inactive_reason,
    is_active,
    join_names,
    pct,
    pct_number as pct_text,
    plural,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import is_up
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_verify_shares import (
    confidence_z,
    counts_of,
    DEFAULTS,
    error_count,
    expected_ranges,
    IDLE_SHARE_LABELS,
    observed_shares,
    sample_text,
    SHARE_CHECKED,
    share_margin,
    share_off,
    share_tolerance,
)


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
