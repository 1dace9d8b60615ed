"""Why a leg ended: Q.850-style cause names (as FreeSWITCH and Webitel report them) and
their mapping to and from SIP status codes (RFC 3398, RFC 4497)."""

from __future__ import annotations

from enum import StrEnum


class HangupCause(StrEnum):
    NORMAL_CLEARING = "NORMAL_CLEARING"
    ORIGINATOR_CANCEL = "ORIGINATOR_CANCEL"
    USER_BUSY = "USER_BUSY"
    NO_ANSWER = "NO_ANSWER"
    NO_USER_RESPONSE = "NO_USER_RESPONSE"
    CALL_REJECTED = "CALL_REJECTED"
    UNALLOCATED_NUMBER = "UNALLOCATED_NUMBER"
    USER_NOT_REGISTERED = "USER_NOT_REGISTERED"
    INCOMPATIBLE_DESTINATION = "INCOMPATIBLE_DESTINATION"
    NORMAL_TEMPORARY_FAILURE = "NORMAL_TEMPORARY_FAILURE"
    RECOVERY_ON_TIMER_EXPIRE = "RECOVERY_ON_TIMER_EXPIRE"
    LOSE_RACE = "LOSE_RACE"
    BLIND_TRANSFER = "BLIND_TRANSFER"
    DESTINATION_OUT_OF_ORDER = "DESTINATION_OUT_OF_ORDER"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INVALID_NUMBER_FORMAT = "INVALID_NUMBER_FORMAT"


_FROM_SIP = {
    404: HangupCause.UNALLOCATED_NUMBER,
    408: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    480: HangupCause.NO_USER_RESPONSE,
    484: HangupCause.INVALID_NUMBER_FORMAT,
    486: HangupCause.USER_BUSY,
    487: HangupCause.ORIGINATOR_CANCEL,
    488: HangupCause.INCOMPATIBLE_DESTINATION,
    503: HangupCause.SERVICE_UNAVAILABLE,
    600: HangupCause.USER_BUSY,
    603: HangupCause.CALL_REJECTED,
}

_TO_SIP = {
    HangupCause.NORMAL_CLEARING: 200,
    HangupCause.ORIGINATOR_CANCEL: 487,
    HangupCause.USER_BUSY: 486,
    HangupCause.NO_ANSWER: 480,
    HangupCause.NO_USER_RESPONSE: 480,
    HangupCause.CALL_REJECTED: 603,
    HangupCause.UNALLOCATED_NUMBER: 404,
    HangupCause.USER_NOT_REGISTERED: 480,
    HangupCause.INCOMPATIBLE_DESTINATION: 488,
    HangupCause.NORMAL_TEMPORARY_FAILURE: 503,
    HangupCause.RECOVERY_ON_TIMER_EXPIRE: 408,
    HangupCause.LOSE_RACE: 200,
    HangupCause.BLIND_TRANSFER: 200,
    HangupCause.DESTINATION_OUT_OF_ORDER: 502,
    HangupCause.SERVICE_UNAVAILABLE: 503,
    HangupCause.INVALID_NUMBER_FORMAT: 484,
}


def cause_from_sip(status: int) -> HangupCause:
    if status < 300:
        return HangupCause.NORMAL_CLEARING
    known = _FROM_SIP.get(status)
    if known is not None:
        return known
    if status >= 600:
        return HangupCause.CALL_REJECTED
    if status >= 500:
        return HangupCause.NORMAL_TEMPORARY_FAILURE
    return HangupCause.CALL_REJECTED


def sip_status_of(cause: HangupCause) -> int:
    return _TO_SIP.get(cause, 500)
