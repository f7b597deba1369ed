Feature: N - the LLM pool under chaos
  The pool answers every task through healthy providers. A provider that dies is cut off
  by its breaker while FASTEST keeps answering; latency on the best provider is hedged
  away and p95 stays within the SLO; when every provider is slow the deadline is kept with a
  controlled 504; model output is sanitized strictly; the cache never crosses tenants.

  Scenario: Killing a provider opens its breaker and the hedge takes over
    Given a pool over three fresh emulated models
    And the pool has answered 6 requests
    When the best provider is killed
    And 10 more requests are sent with FASTEST
    Then every request is answered
    And the killed provider's breaker is open
    And callers saw no 502

  Scenario: Network latency on the best provider keeps p95 within the SLO
    Given a pool over three emulated models
    And the pool has answered 6 requests
    When 2000 ms of latency are added to the best provider
    And 10 more requests are sent with FASTEST
    Then every request is answered
    And the answers were hedged to another provider
    And the p95 of those requests is at most 1200 ms

  Scenario: Every provider slow gives a controlled 504 at the deadline
    Given a pool over three emulated models
    When 3000 ms of latency are added to every provider
    And a request is sent with each strategy and a deadline of 300 ms
    Then every request fails with DEADLINE_EXCEEDED
    And no provider call is left running

  Scenario Outline: Each strategy answers each task with schema-valid content
    Given a pool over three emulated models
    When a "<task>" request is sent with each strategy
    Then every request is answered with content valid for "<task>"

    Examples:
      | task              |
      | expand_queries    |
      | judge             |
      | rerank_candidates |
      | enrich_metadata   |
      | recovery_plan     |

  Scenario: Messy model output never reaches a caller
    Given a pool over one model whose every answer is messy
    When 30 requests are sent with FASTEST
    Then every request is answered with valid content or fails with PROVIDER_FAILED
    And both happened, and each invalid answer counted as the model's failure

  Scenario: The cache answers repeats and never crosses tenants
    Given a pool over three emulated models
    When tenant "t_a" asks the same question twice
    Then the second answer comes from the cache
    And tenant "t_b" asking the same question is not served from the cache

  Scenario: An operator disables a provider in a running pool
    Given a pool over three emulated models
    When the operator disables the best provider
    Then the next requests avoid it without a restart
