Feature: M2 hibernation — lockdown, the sleepguardd guardian, and resume without losing state
  After the shutdown ritual the snapshot is made immutable, guarded by a guardian that never
  writes into what it guards, and the station comes back in a safe order with proof that no
  state was lost.

  Scenario: Immutability flags are active on snapshots and manifests after lockdown
    Given a live station that went through the shutdown ritual and was locked down
    Then every snapshot and manifest path is immutable as the baseline records
    And the state log says hibernating
    And the station is down

  Scenario: No false alarm over a soak equivalent to 24 hours
    Given a live station that went through the shutdown ritual and was locked down
    When the guardian runs 96 cycles at 1:16
    Then no cycle reports a divergence
    And every file was re-hashed within each window of 16 cycles
    And the guardian report chain verifies

  Scenario Outline: The guardian detects tampering and names the path
    Given a locked-down lab snapshot guarded at 1:4
    When an intruder does "<tamper>"
    Then a "<kind>" divergence naming that path is reported within <cycles> cycle(s)

    Examples:
      | tamper    | kind    | cycles |
      | flip_byte | content | 4      |
      | touch     | mtime   | 1      |
      | chmod     | mode    | 1      |
      | unflag    | flag    | 1      |
      | new_file  | new     | 1      |
      | delete    | missing | 1      |

  Scenario: A disk below the threshold is reported in the next cycle
    Given a locked-down lab snapshot guarded at 1:4
    When the free-disk threshold is set above the free space
    Then a "disk" divergence naming vault is reported in the next cycle

  Scenario: Resume restores services without error and without loss of state
    Given a live station that went through the shutdown ritual and was locked down
    When the operator resumes the station
    Then every resume step passed
    And the databases equal what the manifest recorded
    And the station is up, unpaused, unfrozen and playing from the item it froze on
    And the state log says awake
