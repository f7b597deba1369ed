Feature: Game days (Epic O chaos criteria)
  Chaos Toolkit game days run against a live station with Debian's Prometheus and
  Alertmanager (`vvtvctl obs`, at a lab time scale) and the on-call receiver; their steady
  state is the SLO probes on that Prometheus, and each checks the paging path.

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

  Scenario: Throttle the station's storage IO: the stream goes on (Throttling de IO no storage)
    Given a live station watched by Prometheus and Alertmanager at a lab time scale of 60
    And the on-call receiver behind Alertmanager
    When the game day "io-throttle" runs
    Then the report names the IO throttling mechanism used
    And the encoder kept producing frames while throttled
    And stream_segment_age_seconds never exceeds 10 s for more than 2 minutes
    And the alert StreamSegmentAgeHigh does not fire
    And Alertmanager delivers the page, the receiver pages L1 and the runbook anchor exists
    And the rollback ran and the encoder is up
    And the report says the lab time scale and PASS per criterion
