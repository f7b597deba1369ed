"""Epic O: operations as code.

    conventions  rule names, labels, severities, file locations (one constants module)
    catalog      the SLO catalog (``ops/slo/slo_*.yaml``), validated with pydantic
    windows      the multi-window multi-burn-rate table (``ops/slo/alert_windows_7d.yaml``)
    promql       PromQL built from structured SLIs; metric names read back from PromQL
    rules        catalog -> recording, metadata, burn-rate, absent and direct alert rules
    fixtures     catalog -> ``promtool test rules`` files (fire / just below, per alert)
    dashboards   catalog -> Grafana dashboards (grafana-foundation-sdk)
    generate     everything above written to the repository, or checked for staleness
    promtool     Debian's promtool: check and test the rules
    prometheus   a short-lived Debian Prometheus scraping given targets with the rules
    samples      recordings of ``/metrics`` and the SLIs evaluated on them in Python
    budget       error budget consumed / remaining, from Prometheus or a recording
    openslo      the catalog as OpenSLO v1 documents
    exporters    live checks: an exporter exports what its service declares
    runbooks     runbook anchors, links and commands checked
    describe     the catalog as table rows;  report: what the O1 drill shows

Layer: imports core, vault, media, station (and later guardian, pool); never ritual,
revival, hibernation, drills or cli.
"""
