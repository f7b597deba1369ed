"""On-call: the weekly rota (``ops/oncall/rota.ics``), the escalation policy
(``ops/oncall/escalation.yaml``), who is paged when, and an Alertmanager webhook receiver.

    rota.build_rota(...) -> icalendar.Calendar      weekly shifts, RFC 5545
    rota.Rota.load(path).who(level, at)             the person on shift at a time
    escalation.load_policy(path)                    levels, hours, timeouts
    escalation.simulate(policy, rota, alert, at, ack_after_min) -> Timeline
    receiver.Receiver / serve(...)                  records pages, applies the escalation

Every time comes from the caller (``--at`` or the injected clock): nothing here sleeps.
"""
