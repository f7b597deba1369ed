Feature: On-call tools, feature flags and change management (Epic O)
  Operators change running services with flags, ship changes through an automated
  preflight, and know who is paged when.

  Scenario: Flags apply their effect without restart (Flags aplicam efeitos sem restart)
    Given a running lab station whose curator applies its proposals
    When the operator runs "vvtvctl flags set curator.apply_enabled=false"
    Then the running station applies the flag within a second without restarting
    And the curator only advises from then on
    And the change is audited with who, when, old, new and reason

  Scenario: Change request with an automated preflight (CR de mudança com preflight automatizado)
    Given an approved change request for the Sunday 02:00-03:00 UTC window
    When the operator runs the preflight inside the window with the error budget intact
    Then validate all, promtool, the window and the budget gate pass
    And the Locust smoke fails naming the missing lab API
    When the operator runs the preflight outside the window with the budget spent
    Then the window and the budget gate fail with their reasons

  Scenario: Escalation honours hours and acknowledgements
    Given the on-call rota and the escalation policy
    When an alert fires on a Sunday at 02:30 UTC and nobody acknowledges
    Then only the level 1 operator is paged, at minute 0 and again at minute 35
    When an alert fires on a Monday at 10:00 UTC and is acknowledged after 12 minutes
    Then level 1 is paged at minute 0 and level 2 at minute 5, and nobody after
