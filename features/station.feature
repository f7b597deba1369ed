Feature: The lab station
  The lab runs a real VVTV station: FFmpeg publishes live HLS, workers write the
  databases, and the operator controls it with the seed's runbook commands.

  Scenario Outline: Bring the station up
    Given a provisioned lab station with profile "<profile>"
    When the operator brings the station up
    Then the live playlist serves segments with program date times
    And status shows the playing item and offset and at least 3600 seconds of queue
    And the live frame is the mezzanine frame the playout log names

    Examples:
      | profile    |
      | embedded   |
      | nginx-rtmp |

  Scenario: Pause the workers and freeze the queue
    Given a running lab station
    When the operator pauses the planner, the realizer and discovery
    And the operator freezes the queue
    And the operator waits until no job is in progress
    Then status shows every worker paused and the queue frozen
    And the business databases do not change while 3 more segments air

  Scenario: A command against a stopped station is refused clearly
    Given a provisioned lab station with profile "embedded"
    When the operator pauses the planner of the stopped station
    Then the command is refused with exit code 3

  Scenario: Recover after the supervisor is killed
    Given a running lab station
    When the supervisor is killed with SIGKILL
    Then status says the station is down
    When the operator brings the station up
    Then the live playlist serves segments with program date times
    And playout continues after the last segment aired before the crash
