Feature: M1 - the shutdown ritual, with computable dignity
  The operator freezes a live station in a sound state and leaves a cryptographic proof:
  a snapshot folder with its archives, the final frame, a signed manifest and the last
  transmission. A failed pre-check refuses the ritual before anything is changed.

  Scenario: Snapshot verifiable and signature valid
    Given a live station that went through the shutdown ritual
    Then the signature verifies with the pinned foundation key
    And every archive and artifact hash equals the manifest

  Scenario: last_manifest.json complete
    Given a live station that went through the shutdown ritual
    Then the manifest records versions, selection seeds and the business-logic hash
    And the manifest records every archived file with its size and hash
    And a copy of the manifest and its signature is in vault/manifests

  Scenario: No pending writes in the databases
    Given a live station that went through the shutdown ritual
    Then no database has a pending write-ahead log
    And the archived databases carry no write-ahead log

  Scenario: Final frame reproducible
    Given a live station that went through the shutdown ritual
    Then the mezzanine frame at the recorded item and offset matches the final frame

  Scenario Outline: A failed pre-check refuses the ritual and changes nothing
    Given a live station on air
    And <condition>
    When the operator runs the ritual with "<override>"
    Then the ritual refuses naming the <check> check, its measured value and threshold
    And nothing on the station has changed

    Examples:
      | condition                            | override                                | check                              |
      | a corrupt database in data           | prechecks.encoder_stable_s=2            | db_integrity:ledger_archive.sqlite |
      | no other fault                       | prechecks.disk_free_min_pct=100         | disk_free                          |
      | the workers are not paused           | prechecks.queue_min_buffer_s=1000000    | queue_buffer                       |
      | no other fault                       | prechecks.encoder_stable_s=86400        | encoder_stable                     |
