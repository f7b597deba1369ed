"""Names the generated rules use, in one place (Sloth's conventions, plus ours).

Recording rules ``slo:sli_error:ratio_rate<window>`` hold each SLO's error ratio over a
window; the metadata rules hold its objective, budget and burn rates. Labels ``sloth_id``,
``sloth_service``, ``sloth_slo`` identify the SLO, ``sloth_window`` the window.
Severities: the seed's CRITICAL / MAJOR / MINOR as lower-case ``severity`` labels; a burn
alert that pages is ``critical``, one that opens a ticket is ``minor`` (business hours), and
``sloth_severity`` says which (``page`` / ``ticket``).
"""

from __future__ import annotations

import re

SLI_ERROR = "slo:sli_error:ratio_rate{window}"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD_DAYS = "slo:time_period:days"
CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
PERIOD_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"

LABEL_ID = "sloth_id"
LABEL_SERVICE = "sloth_service"
LABEL_SLO = "sloth_slo"
LABEL_WINDOW = "sloth_window"
LABEL_SEVERITY_KIND = "sloth_severity"

SEVERITIES = ("critical", "major", "minor")
PAGE, TICKET = "page", "ticket"
BURN_SEVERITY = {PAGE: "critical", TICKET: "minor"}

GROUP_SLI = "vvtv-slo-sli-recordings"
GROUP_META = "vvtv-slo-meta-recordings"
GROUP_BURN = "vvtv-slo-burn-alerts"
GROUP_ABSENT = "vvtv-slo-absent-alerts"
GROUP_SEED = "vvtv-seed-alerts"

RULES_FILE = "alerts/prometheus_rules.yaml"
TESTS_DIR = "ops/tests"
RUNBOOKS_DIR = "ops/runbooks"
DASHBOARDS_DIR = "dashboards"
CATALOG_DIR = "ops/slo"
WINDOWS_FILE = "ops/slo/alert_windows_7d.yaml"


def sli_error(window: str) -> str:
    return SLI_ERROR.format(window=window)


def camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_ ]+", text) if p)


def burn_alert_name(service: str, slo: str) -> str:
    return f"{camel(service)}{camel(slo)}ErrorBudgetBurn"


def absent_alert_name(service: str, slo: str) -> str:
    return f"{camel(service)}{camel(slo)}MetricAbsent"


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")
