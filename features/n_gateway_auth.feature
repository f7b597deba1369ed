Feature: N - the public API authenticates every call
  pool-api checks each request in the contract's order: body size, key, timestamp window,
  signature, nonce, tenant and scope, rate limit, quota, schema. Every refusal is one JSON
  error body with its code and the request id; nothing internal ever reaches the client.

  Background:
    Given a running pool-api over emulated models
    And a tenant "Acme" with scopes infer and usage

  Scenario: A valid HMAC signature is answered
    When "Acme" sends a signed inference
    Then the answer is 200 with the seed's fields

  Scenario Outline: An invalid HMAC request is refused with 401
    When "Acme" sends a signed inference with <fault>
    Then the answer is 401 AUTH_FAILED

    Examples:
      | fault                   |
      | a wrong signature       |
      | an unknown key          |
      | a timestamp 6 min old   |
      | a malformed timestamp   |
      | a nonce containing a pipe |

  Scenario: A valid JWT is answered and an expired one is refused
    When "Acme" sends an inference with a bearer token from the lab key
    Then the answer is 200 with the seed's fields
    When the clock moves 11 minutes on
    And "Acme" sends an inference with the same bearer token
    Then the answer is 401 AUTH_FAILED

  Scenario Outline: A JWT that breaks a rule is refused with 401
    When "Acme" sends an inference with a bearer token that has <flaw>
    Then the answer is 401 AUTH_FAILED

    Examples:
      | flaw                       |
      | alg none                   |
      | an unknown kid             |
      | a lifetime over 15 minutes |
      | the wrong audience         |

  Scenario: A replayed nonce is refused with 409
    When "Acme" sends a signed inference
    And "Acme" sends the same request again
    Then the answer is 409 NONCE_REPLAY

  Scenario: A request that breaks the task's schema is refused with 422
    When "Acme" sends a signed inference for the task "write_poem"
    Then the answer is 422 SCHEMA_INVALID

  Scenario Outline: A request no route takes keeps the error body and its headers
    When a client sends <method> <target> without credentials
    Then the answer is <status> <code>

    Examples:
      | method   | target     | status | code               |
      | DELETE   | /v1/infer  | 405    | METHOD_NOT_ALLOWED |
      | TRACE    | /v1/usage  | 405    | METHOD_NOT_ALLOWED |
      | GET      | /nothing   | 404    | NOT_FOUND          |
      | PROPFIND | /v1/usage  | 400    | SCHEMA_INVALID     |

  Scenario: A request no HTTP parser can read keeps the error body and its headers
    When a client sends a request line no HTTP parser can read
    Then the answer is 400 SCHEMA_INVALID

  Scenario: Messy model output never reaches a caller
    Given a running pool-api over a model whose every answer is messy
    And a tenant "Acme" with scopes infer and usage
    When "Acme" sends 5 signed inferences
    Then no answer carries content that breaks the task's schema
