Feature: N - audit, metrics, usage and key rotation
  Every request, refused ones included, leaves one line in a hash-chained audit log that
  holds no payload, content, secret, signature or full IP; /metrics adds up to the requests
  sent; the monthly quota warns, then stops, and the daily rollup bills what the quota
  counted; a rotated key works at T0 and the old one until T0 + 7 days.

  Background:
    Given a running pool-api over emulated models

  Scenario: Logs and audit are consistent and hold no sensitive data
    Given a tenant "Acme" with scopes infer and usage
    When "Acme" sends 3 signed inferences about "okapi-plan-771"
    And "Acme" sends an inference with a wrong signature
    And "Acme" replays a signed inference
    And "Acme" sends an inference from the address "198.51.100.23" through the gateway
    Then the audit has one line per request with its status
    And the audit chain verifies and names an edited line by its number
    And no secret, signature, payload text or full IP is in the audit, the logs or /metrics

  Scenario: Metrics add up to the requests sent
    Given a tenant "Acme" with scopes infer and usage
    When "Acme" sends 3 signed inferences about "count"
    And "Acme" sends an inference with a wrong signature
    Then /metrics counts the requests by route and code

  Scenario: The monthly quota warns softly, then stops hard, and the rollup bills the same
    Given a tenant "Small" on a plan of 10 requests a month
    When "Small" sends 11 signed inferences about "quota"
    Then the 8th answer warns at 80%, the 9th at 90% and the 11th is 402 QUOTA_EXCEEDED
    And the audit holds the warnings at 80% and 90% and the 402
    And the day's rollup bills "Small" for 10 requests, as the quota counter says

  Scenario: A rotated key works at T0, the old one until T0 + 7 days
    Given a tenant "Rot" allowed to rotate its keys
    When "Rot" rotates its key through POST /v1/keys/rotate
    Then the new key and the old key are both answered
    And a second rotation of "Rot" within 24 hours is 429 RATE_LIMITED
    When the clock moves 7 days on
    Then the old key is 401 and the new key is answered
    And the rotation is in the audit chain with the new key's fingerprint only
