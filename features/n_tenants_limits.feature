Feature: N - tenants, rate limits and monthly quotas
  Each tenant has a token bucket (burst, requests per minute, route weights) and a monthly
  quota of its plan, reserved at admission. Operators suspend tenants and change limits
  without a restart; a tenant reads only its own usage.

  Background:
    Given a running pool-api over emulated models

  Scenario: The rate limit holds per tenant and refills per minute
    Given a tenant "Busy" with a burst of 3 and 60 requests per minute
    When "Busy" sends 5 signed inferences
    Then 3 are answered and 2 are refused with 429 RATE_LIMITED and Retry-After
    When the clock moves 1 seconds on
    And "Busy" sends 2 signed inferences
    Then 1 are answered and 1 are refused with 429 RATE_LIMITED and Retry-After

  Scenario: One tenant's limit does not touch another's
    Given a tenant "Busy" with a burst of 3 and 60 requests per minute
    And a tenant "Calm" with a burst of 3 and 60 requests per minute
    When "Busy" sends 5 signed inferences
    And "Calm" sends 3 signed inferences
    Then "Calm" had every request answered

  Scenario: The monthly quota warns at 80 and 90 percent and stops at 100
    Given a tenant "Small" on a plan of 10 requests a month
    When "Small" sends 10 signed inferences
    Then the 8th answer warns at 80% and the 9th at 90%
    When "Small" sends a signed inference
    Then the answer is 402 QUOTA_EXCEEDED

  Scenario: A suspended tenant is refused within a second, without a restart
    Given a tenant "Acme" with scopes infer and usage
    When the operator suspends "Acme"
    And the clock moves 1 seconds on
    And "Acme" sends a signed inference
    Then the answer is 403 AUTH_FAILED

  Scenario: A tenant cannot read another tenant's usage
    Given a tenant "Acme" with scopes infer and usage
    And a tenant "Beta" with scopes infer and usage
    When "Beta" sends 2 signed inferences
    And "Acme" asks for the usage of "Beta"
    Then the answer is 403 AUTH_FAILED
    When "Acme" asks for its own usage
    Then the usage shows 0 inferences for "Acme"
