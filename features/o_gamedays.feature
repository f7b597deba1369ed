Feature: Game days (Epic O chaos criteria)
  Chaos Toolkit game days run against a live station with Debian's Prometheus and
  Alertmanager (`vvtvctl obs`, at a lab time scale) and the on-call receiver; their steady
  state is the SLO probes on that Prometheus, and each checks the paging path. One short
  game day runs here; the four (IO throttle, provider kill, gateway latency too) run in the
  o3_gameday_drill of `make drill`.

  Scenario: Restart the encoder: the stream stays fresh (Reiniciar o encoder)
    Given a live station watched by Prometheus and Alertmanager at a lab time scale of 60
    And the on-call receiver behind Alertmanager
    When the game day "encoder-restart" runs
    Then stream_segment_age_seconds never exceeds 10 s for more than 2 minutes
    And the alert StreamSegmentAgeHigh does not fire
    And the alert StreamingSegmentAgeMetricAbsent does not fire
    And Alertmanager delivers the page, the receiver pages L1 and the runbook anchor exists
    And the rollback ran and the encoder is up
    And the report says the lab time scale and PASS per criterion
