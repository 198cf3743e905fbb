"""A local, protocol-faithful simulator of the 46elks voice API."""

from .faults import Faults, HangupFirst, HeldWebhook, RequestFault
from .incoming import IncomingResult
from .models import Account, Callee, Number, RecordedRequest, SimCall, WebhookDelivery
from .simulator import (
    DEMO_INACTIVE_NUMBER,
    DEMO_MOBILENUMBER,
    DEMO_PASSWORD,
    DEMO_SMS_NUMBER,
    DEMO_USERNAME,
    DEMO_VOICE_NUMBER,
    DemoSeed,
    Simulator,
    format_timestamp,
    parse_timestamp,
    validate_action,
)
from .sms import ReceivedSms, SimSms, SmsService, sms_parts

__all__ = [
    "DEMO_INACTIVE_NUMBER",
    "DEMO_MOBILENUMBER",
    "DEMO_PASSWORD",
    "DEMO_SMS_NUMBER",
    "DEMO_USERNAME",
    "DEMO_VOICE_NUMBER",
    "Account",
    "Callee",
    "DemoSeed",
    "Faults",
    "HangupFirst",
    "HeldWebhook",
    "IncomingResult",
    "Number",
    "ReceivedSms",
    "RecordedRequest",
    "RequestFault",
    "SimCall",
    "SimSms",
    "Simulator",
    "SmsService",
    "WebhookDelivery",
    "format_timestamp",
    "parse_timestamp",
    "sms_parts",
    "validate_action",
]
