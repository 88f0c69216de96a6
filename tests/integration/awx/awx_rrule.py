"""The rules AWX's API applies to a schedule's rrule, so a bad one fails here first.

Restated from AWX's schedule serializer (validate_rrule): one DTSTART, with a
time zone (TZID=... or a trailing Z); at least one RRULE, each with INTERVAL;
no SECONDLY; no BYDAY with a numeric prefix (20MO); not COUNT and UNTIL
together; COUNT at most 999; no EXDATE or RDATE; and the whole string must
parse with dateutil's rrulestr, as AWX parses it.
"""

from __future__ import annotations

import re

from dateutil import tz
from dateutil.rrule import rrulestr

DTSTART = re.compile(r"DTSTART(?:;TZID=(?P<tzid>[^:]+))?:(?P<stamp>\d{8}T\d{6})(?P<utc>Z?)(?=\s|$)")
RRULE = re.compile(r"RRULE:(\S*)")


def awx_rrule_problems(rrule: str) -> list[str]:
    problems = []
    starts = list(DTSTART.finditer(rrule))
    if not starts:
        problems.append("a DTSTART (DTSTART;TZID=Zone:YYYYMMDDTHHMMSS or DTSTART:YYYYMMDDTHHMMSSZ) is required")
    elif len(starts) > 1:
        problems.append("only one DTSTART is allowed")
    for start in starts:
        if not start["tzid"] and not start["utc"]:
            problems.append("DTSTART must name a time zone (;TZID=...) or end in Z, not be a naive time")
        if start["tzid"] and tz.gettz(start["tzid"]) is None:
            problems.append(f"unknown TZID {start['tzid']}")
    lowered = rrule.lower()
    if "exdate:" in lowered or "rdate:" in lowered:
        problems.append("EXDATE and RDATE are not allowed")
    rules = RRULE.findall(rrule)
    if not rules:
        problems.append("at least one RRULE is required")
    for rule in rules:
        parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
        if "INTERVAL" not in parts:
            problems.append(f"INTERVAL is required: {rule}")
        if parts.get("FREQ") == "SECONDLY":
            problems.append(f"FREQ=SECONDLY is not supported: {rule}")
        if re.search(r"(?:^|,)[+-]?\d+[A-Z]{2}", parts.get("BYDAY", "")):
            problems.append(f"BYDAY with a numeric prefix is not supported: {rule}")
        if "COUNT" in parts and "UNTIL" in parts:
            problems.append(f"COUNT and UNTIL together are not allowed: {rule}")
        if parts.get("COUNT", "0").isdigit() and int(parts.get("COUNT", "0")) > 999:
            problems.append(f"COUNT over 999 is not supported: {rule}")
    if not problems:
        try:
            rrulestr(rrule, forceset=True)
        except (ValueError, TypeError) as error:
            problems.append(f"dateutil cannot parse it: {error}")
    return problems
