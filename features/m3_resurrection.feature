Feature: M3 - resurrection on a new node, with proof of continuity
  A station that went through the shutdown ritual and was locked down is brought back on a
  new node from its signed snapshot folder: verified with a pinned key, restored, checked,
  proven continuous with the frame it left on, reactivated, and recorded as a new generation.

  Background:
    Given a station's signed ritual snapshot, locked down for hibernation

  Scenario: Signature valid and hashes equal
    When it is revived on a new node with the continuity proof
    Then the signature was verified with the pinned foundation key
    And every archive and artifact hash equals the manifest

  Scenario: Databases intact and services up without critical warnings
    When it is revived on a new node with the continuity proof
    Then every database passed integrity_check and foreign_key_check and equals the manifest
    And the station answered /status without ingest before the broadcaster started
    And no warning of the revival is critical

  Scenario: Continuity proof approved
    When it is revived on a new node with the continuity proof
    Then the first frame after revival matches the final frame within every threshold
    And the playout item, plan, slot and offset match the recorded position

  Scenario: Final report generated, signed and archived with Generation+1
    When it is revived on a new node with the continuity proof
    Then the new node holds resurrection_report.json signed by its node key
    And resurrection_report.jsonl is an intact chain with one line per phase
    And the history gains the next generation whose ancestor is the snapshot's signature

  Scenario: Round trip ritual, lockdown, revival on a second root loses nothing (RPO 0)
    When it is revived on a new node with the continuity proof
    Then the revived databases equal the original station's, table by table

  Scenario Outline: A bad snapshot or an untrusted origin is refused and the new node is untouched
    Given a copy of the snapshot with <fault>
    When a revival onto a new node is attempted
    Then it is refused in the <phase> phase with a report naming <named>
    And the new node is left exactly as it was

    Examples:
      | fault                                  | phase    | named                  |
      | one archive byte flipped               | verify   | snapshot_data.tar.zst  |
      | a manifest signed by an untrusted key  | verify   | unknown key            |
      | a wrong --pubkey                       | verify   | unknown key            |
      | blocklisted content                    | restore  | storage/ready          |
      | an older generation than the node's    | verify   | older than generation  |
