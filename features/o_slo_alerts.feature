Feature: SLOs, alerts and runbooks (Epic O)
  The SLO catalog generates the alert rules, their promtool fixtures and the dashboards;
  every alert links to a runbook section; every service exports the seed's metrics.

  Scenario: Alerts fire on fixtures (Alertas disparam em fixtures)
    Given the SLO catalog and the alert rules generated from it
    When promtool checks the rules and runs the generated fixtures
    Then every alert has a series that fires it and one just below its threshold
    And promtool reports every fixture passing

  Scenario: Runbooks referenced by every alert (Runbooks referenciados por todos os alertas)
    Given the SLO catalog and the alert rules generated from it
    Then every alert carries the labels service and severity and a summary
    And every runbook_url names a runbook file and an anchor that exist
    And every command the runbooks show exists

  Scenario: Metrics export: every service answers (Export de métricas: todos os serviços respondem)
    Given a running lab station with its metrics endpoint
    When the operator probes the station's metrics endpoint
    Then it exports every station metric the seed names
    And every dashboard query uses exported or declared metric names
