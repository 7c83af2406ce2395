// The error-code catalogue: every stable code Warden returns, with its HTTP status and its
// messages in English and Korean. Each entry must name all four, or this file does not compile.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace warden {

// X(code, http_status, english, korean)
#define WARDEN_ERROR_CODES(X)                                                                  \
  X(OK, 200, "OK", "정상")                                                                     \
  X(INTERNAL_ERROR, 500, "Internal error", "내부 오류")                                        \
  X(INTERNAL_STORE_ERROR, 500, "Storage error", "저장소 오류")                                 \
  X(INTERNAL_SHUTTING_DOWN, 503, "Server is shutting down", "서버가 종료 중입니다")            \
  X(INTERNAL_NOT_READY, 503, "Server is not ready", "서버가 준비되지 않았습니다")              \
  X(SERVER_OVERLOADED, 503, "Server is overloaded; retry later",                               \
    "서버에 요청이 많습니다. 잠시 후 다시 시도하세요")                                        \
  X(ROUTE_NOT_FOUND, 404, "No such route", "존재하지 않는 경로입니다")                         \
  X(METHOD_NOT_ALLOWED, 405, "Method not allowed", "허용되지 않는 메서드입니다")               \
  X(REQUEST_MALFORMED, 400, "Malformed HTTP request", "잘못된 HTTP 요청입니다")              \
  X(REQUEST_TIMEOUT, 408, "Request timed out", "요청 시간이 초과되었습니다")                   \
  X(REQUEST_DUPLICATE_HEADER, 400, "A header that must appear once was repeated",            \
    "한 번만 있어야 하는 헤더가 반복되었습니다")                                              \
  X(VALIDATION_BODY_TOO_LARGE, 413, "Request body too large", "요청 본문이 너무 큽니다")       \
  X(VALIDATION_UNSUPPORTED_MEDIA_TYPE, 415, "Content-Type must be application/json",          \
    "Content-Type은 application/json이어야 합니다")                                            \
  X(VALIDATION_MALFORMED_JSON, 400, "Malformed JSON", "잘못된 JSON 형식입니다")                \
  X(VALIDATION_DUPLICATE_KEY, 400, "Duplicate key in a JSON object",                          \
    "JSON 객체에 중복된 키가 있습니다")                                                       \
  X(VALIDATION_UNKNOWN_FIELD, 400, "Unknown field", "알 수 없는 필드입니다")                   \
  X(VALIDATION_MISSING_FIELD, 400, "Required field missing", "필수 필드가 없습니다")           \
  X(VALIDATION_WRONG_TYPE, 400, "Field has the wrong type", "필드의 타입이 잘못되었습니다")    \
  X(VALIDATION_INVALID_AMOUNT, 400,                                                            \
    "Amount must be a decimal string of an unsigned integer below 2^256",                      \
    "금액은 2^256 미만의 부호 없는 정수를 나타내는 10진수 문자열이어야 합니다")                \
  X(VALIDATION_INVALID_VALUE, 400, "Field has an invalid value", "필드 값이 잘못되었습니다")   \
  X(VALIDATION_INVALID_ASSET, 400,                                                            \
    "Asset must be \"native\", a valid token address or an upper-case code such as USD",       \
    "자산은 \"native\", 올바른 토큰 주소 또는 USD 같은 대문자 코드여야 합니다")                 \
  X(VALIDATION_INVALID_CURSOR, 400, "Invalid pagination cursor", "잘못된 페이지 커서입니다")   \
  X(VALIDATION_FAILED, 400, "Validation failed", "검증에 실패했습니다")                        \
  X(AUTH_MASTER_REQUIRED, 401, "Master password required", "마스터 비밀번호가 필요합니다")     \
  X(AUTH_MASTER_INVALID, 401, "Invalid master password", "마스터 비밀번호가 올바르지 않습니다") \
  X(AUTH_TOO_MANY_ATTEMPTS, 429, "Too many failed authentication attempts",                   \
    "인증 실패 횟수가 너무 많습니다")                                                          \
  X(AUTH_SESSION_REQUIRED, 401, "Session token required", "세션 토큰이 필요합니다")            \
  X(AUTH_SESSION_INVALID, 401, "Invalid session token", "세션 토큰이 올바르지 않습니다")       \
  X(AUTH_SESSION_EXPIRED, 401, "Session expired", "세션이 만료되었습니다")                     \
  X(AUTH_SESSION_REVOKED, 401, "Session revoked", "세션이 폐기되었습니다")                     \
  X(AUTH_FORBIDDEN, 403, "Not allowed for this principal", "이 주체에게 허용되지 않습니다")    \
  X(AGENT_NOT_FOUND, 404, "Agent not found", "에이전트를 찾을 수 없습니다")                    \
  X(AGENT_NOT_ACTIVE, 403, "Agent is not active", "에이전트가 활성 상태가 아닙니다")           \
  X(AGENT_PUBLIC_KEY_EXISTS, 409, "An agent with this public key exists",                     \
    "같은 공개 키를 가진 에이전트가 이미 있습니다")                                            \
  X(AGENT_INVALID_TRANSITION, 409, "Agent status change not allowed",                         \
    "허용되지 않는 에이전트 상태 변경입니다")                                                  \
  X(SESSION_NOT_FOUND, 404, "Session not found", "세션을 찾을 수 없습니다")                    \
  X(SESSION_RENEWAL_LIMIT, 403, "Session renewal limit reached",                              \
    "세션 갱신 한도에 도달했습니다")                                                           \
  X(SESSION_ABSOLUTE_EXPIRED, 403, "Session reached its absolute expiry",                     \
    "세션이 절대 만료 시각에 도달했습니다")                                                    \
  X(SESSION_CONSTRAINT_VIOLATED, 403, "The session's constraints do not allow this",          \
    "세션 제약 조건이 이 작업을 허용하지 않습니다")                                           \
  X(POLICY_NOT_FOUND, 404, "Policy not found", "정책을 찾을 수 없습니다")                      \
  X(POLICY_DUPLICATE, 409, "A policy with the same content exists",                           \
    "같은 내용의 정책이 이미 있습니다")                                                        \
  X(POLICY_VALIDATION_FAILED, 400, "Policy validation failed", "정책 검증에 실패했습니다")     \
  X(POLICY_INVALID_TYPE, 400, "Unknown policy type", "알 수 없는 정책 유형입니다")             \
  X(TX_NOT_FOUND, 404, "Transaction not found", "거래를 찾을 수 없습니다")                    \
  X(TX_AMOUNT_EXCEEDS_RESERVED, 422, "Final amount exceeds the reserved amount",              \
    "최종 금액이 예약된 금액을 초과합니다")                                                    \
  X(TX_INVALID_STATE, 409, "Transaction is not in a state that allows this",                 \
    "거래가 이 작업을 허용하는 상태가 아닙니다")                                               \
  X(TX_IDEMPOTENCY_CONFLICT, 409, "Idempotency key reused with a different request",         \
    "같은 멱등성 키가 다른 요청에 사용되었습니다")                                             \
  X(TX_SETTLEMENT_FORBIDDEN, 403, "Settling below the reserved amount needs a settlement credential", \
    "예약 금액보다 낮게 정산하려면 정산 자격 증명이 필요합니다")                             \
  X(TX_HASH_CONFLICT, 409, "This transaction hash was already confirmed",                   \
    "이 거래 해시는 이미 확정되었습니다")                                                     \
  X(APPROVAL_NOT_FOUND, 404, "Approval not found", "승인 요청을 찾을 수 없습니다")             \
  X(APPROVAL_NOT_PENDING, 409, "Approval is no longer pending", "승인 요청이 더 이상 대기 중이 아닙니다") \
  X(MODEL_NOT_FOUND, 404, "Model deployment not found", "모델 배포를 찾을 수 없습니다")          \
  X(MODEL_NAME_EXISTS, 409, "A model deployment with this name exists",                      \
    "같은 이름의 모델 배포가 이미 있습니다")                                                   \
  X(API_KEY_NOT_FOUND, 404, "API key not found", "API 키를 찾을 수 없습니다")                   \
  X(ORG_NOT_FOUND, 404, "Organization not found", "조직을 찾을 수 없습니다")                      \
  X(ORG_NAME_EXISTS, 409, "An organization with this name exists",                          \
    "같은 이름의 조직이 이미 있습니다")                                                        \
  X(ORG_HAS_AGENTS, 409, "The organization still has agents", "조직에 아직 에이전트가 있습니다") \
  X(AUTOMATION_NOT_FOUND, 404, "Automation not found", "자동화를 찾을 수 없습니다")             \
  X(AUTOMATION_INVALID, 400, "Automation spec has blocking issues",                          \
    "자동화 명세에 차단 문제가 있습니다")                                                      \
  X(AUTOMATION_DUPLICATE, 409, "An automation with the same spec exists",                    \
    "같은 명세의 자동화가 이미 있습니다")                                                      \
  X(AUTOMATION_ACTION_INVALID, 422, "An action does not match its driver",                   \
    "작업이 드라이버 스키마와 맞지 않습니다")                                                  \
  X(AUTOMATION_ENABLE_BLOCKED, 409, "The latest dry-run has an error or none was run",       \
    "최근 드라이런에 오류가 있거나 드라이런이 없습니다")                                       \
  X(AUTOMATION_NO_INVERSE, 422, "An action's verb has no inverse",                           \
    "작업의 동사에 역동작이 없습니다")                                                         \
  X(AUTOMATION_DRIVER_BAD_ANSWER, 502, "The driver's answer is not the expected shape",      \
    "드라이버 응답 형식이 올바르지 않습니다")                                                  \
  X(AUTOMATION_DRIVER_FAILED, 502, "The driver failed", "드라이버가 실패했습니다")               \
  X(AUTOMATION_DRIVER_TIMEOUT, 504, "The driver did not answer in time",                     \
    "드라이버가 제시간에 응답하지 않았습니다")                                                 \
  X(AUTOMATION_HOST_NOT_FOUND, 404, "Host not found", "호스트를 찾을 수 없습니다")                          \
  X(EVENT_QUEUE_FULL, 503, "The event queue is full; retry later",                           \
    "이벤트 대기열이 가득 찼습니다. 나중에 다시 시도하세요")                                   \
  X(EVENT_INVALID, 400, "Invalid event", "잘못된 이벤트입니다")                                  \
  X(IDEMPOTENCY_KEY_REUSED, 409, "Idempotency key reused with different arguments",         \
    "같은 멱등성 키가 다른 인수로 사용되었습니다")                                             \
  X(LEDGER_BUDGET_EXCEEDED, 402, "Not enough credit for this amount",                         \
    "이 금액에 필요한 크레딧이 부족합니다")                                                    \
  X(LEDGER_CURRENCY_UNKNOWN, 400,                                                             \
    "Currency must be \"native\", a token address or an upper-case code such as USD",          \
    "통화는 \"native\", 토큰 주소 또는 USD 같은 대문자 코드여야 합니다")                        \
  X(LEDGER_OWNER_UNKNOWN, 400, "The owner is not a known agent",                              \
    "소유자가 등록된 에이전트가 아닙니다")                                                     \
  X(LEDGER_HOLD_NOT_FOUND, 404, "Hold not found", "보류를 찾을 수 없습니다")                   \
  X(LEDGER_HOLD_NOT_PENDING, 409, "Hold is no longer pending",                                \
    "보류가 더 이상 대기 중이 아닙니다")                                                       \
  X(LEDGER_AMOUNT_EXCEEDS_HOLD, 422, "Amount exceeds what the hold holds",                    \
    "금액이 보류된 금액을 초과합니다")                                                         \
  X(LEDGER_PAYMENT_CONFLICT, 409, "A payment event contradicts the stored payment",           \
    "결제 이벤트가 저장된 결제와 맞지 않습니다")                                              \
  X(WEBHOOK_PROVIDER_UNKNOWN, 404, "No webhook secret is configured for this provider",       \
    "이 공급자에 대한 웹훅 비밀 키가 설정되지 않았습니다")                                    \
  X(WEBHOOK_SIGNATURE_INVALID, 401, "Webhook signature is missing or invalid",               \
    "웹훅 서명이 없거나 올바르지 않습니다")                                                    \
  X(WEBHOOK_TIMESTAMP_STALE, 401, "Webhook signature timestamp is too old or in the future",   \
    "웹훅 서명 시각이 너무 오래되었거나 미래입니다")                                          \
  X(WEBHOOK_PAYLOAD_INVALID, 400, "Webhook payload is not a valid payment event",             \
    "웹훅 본문이 올바른 결제 이벤트가 아닙니다")                                               \
  X(STORE_SCHEMA_TOO_NEW, 500, "Database schema is newer than this binary",                  \
    "데이터베이스 스키마가 이 프로그램보다 새 버전입니다")                                     \
  X(STORE_NOT_INITIALIZED, 500, "Data directory is not initialized; run `warden init`",     \
    "데이터 디렉터리가 초기화되지 않았습니다. `warden init`을 실행하세요")                     \
  X(STORE_CONSTRAINT, 409, "Storage constraint violated", "저장소 제약 조건 위반입니다")       \
  X(AUDIT_CHAIN_BROKEN, 500, "Audit chain is broken", "감사 로그 체인이 손상되었습니다")       \
  X(CONFIG_INVALID, 400, "Invalid configuration", "잘못된 설정입니다")

enum class ErrorCode : std::uint16_t {
#define WARDEN_ERROR_ENUM(code, http, en, ko) code,
  WARDEN_ERROR_CODES(WARDEN_ERROR_ENUM)
#undef WARDEN_ERROR_ENUM
};

enum class Language { kEnglish, kKorean };

// Stable SCREAMING_SNAKE name, e.g. "POLICY_NOT_FOUND".
std::string_view error_code_name(ErrorCode code);
int error_http_status(ErrorCode code);
std::string_view error_message(ErrorCode code, Language lang);
std::optional<ErrorCode> error_code_from_name(std::string_view name);
// Picks the language from an Accept-Language header value ("ko-KR,ko;q=0.9" → Korean).
Language language_from_accept(std::string_view accept_language);

}  // namespace warden
