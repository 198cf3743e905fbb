"""Constants for the 46elks integration."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Final

DOMAIN: Final = "elks"
LOGGER = logging.getLogger(__package__)

CONF_BASE_URL: Final = "base_url"
CONF_ADVANCED: Final = "advanced"
CONF_CALLER_ID: Final = "caller_id"
CONF_RING_TIMEOUT: Final = "ring_timeout"
CONF_CLOUDHOOK_URL: Final = "cloudhook_url"

# Limits and timings.
DEFAULT_RING_TIMEOUT: Final = 60
MIN_RING_TIMEOUT: Final = 5
MAX_RING_TIMEOUT: Final = 300
# How long a call may plausibly stay unfinished before it is forgotten, and
# how many finished calls are remembered to recognise repeated hangups.
CALL_MAX_AGE_SECONDS: Final = 12 * 3600
FINISHED_CALLS_KEPT: Final = 500
# A hangup that arrives while its POST /calls response is still on its way is
# parked this long for the placement to claim it.
EARLY_HANGUP_GRACE_SECONDS: Final = 120
# Longest a call may take once answered, for escalations waiting on it.
MAX_CALL_SECONDS: Final = 15 * 60
BALANCE_UPDATE_MINUTES: Final = 30

SERVICE_CALL: Final = "call"
ATTR_TO: Final = "to"
ATTR_FROM: Final = "from"
ATTR_PLAY: Final = "play"
ATTR_CONNECT: Final = "connect"
ATTR_ACTIONS: Final = "actions"
ATTR_TIMEOUT: Final = "timeout"

EVENT_CALL_ENDED: Final = "elks_call_ended"

ISSUE_NO_PUBLIC_URL: Final = "no_public_url"

EVENT_KEYPRESS: Final = "elks_keypress"
EVENT_ESCALATION_FINISHED: Final = "elks_escalation_finished"
ISSUE_ESCALATION_INTERRUPTED: Final = "escalation_interrupted"
ISSUE_LOW_BALANCE: Final = "low_balance"
ISSUE_NUMBER_NOT_UPDATED: Final = "number_not_updated"

SERVICE_CANCEL: Final = "cancel"
ATTR_MESSAGE: Final = "message"
ATTR_TTS_ENGINE: Final = "tts_engine"
ATTR_LANGUAGE: Final = "language"
ATTR_TTS_OPTIONS: Final = "tts_options"
ATTR_REPEAT: Final = "repeat"
ATTR_LEAD_IN: Final = "lead_in"
ATTR_REQUIRE_ACK: Final = "require_ack"
ATTR_ACK_DIGIT: Final = "ack_digit"
ATTR_MENU: Final = "menu"
ATTR_PIN: Final = "pin"
ATTR_MODE: Final = "mode"
ATTR_ROUNDS: Final = "rounds"
ATTR_WAIT: Final = "wait"
ATTR_ESCALATION_ID: Final = "escalation_id"

CONF_LOW_BALANCE: Final = "low_balance"
CONF_RECIPIENT_NUMBER: Final = "number"
SUBENTRY_RECIPIENT: Final = "recipient"

CONF_TTS_ENGINE: Final = "tts_engine"
CONF_LANGUAGE: Final = "language"
CONF_ONLY_46ELKS_SOURCES: Final = "only_46elks_sources"
# Where 46elks says its webhooks come from (it does not sign them).
ELKS_WEBHOOK_SOURCES: Final = (
    "176.10.154.199",
    "85.24.146.132",
    "185.39.146.243",
    "2001:9b0:2:902::199",
)

# Assist by phone (assist.py): an ``assist`` subentry's data.
SUBENTRY_ASSIST: Final = "assist"
CONF_ASSIST_PIPELINE: Final = "pipeline"
CONF_ASSIST_TOKEN: Final = "token"
CONF_ASSIST_CALLERS: Final = "callers"
CONF_ASSIST_GREETING: Final = "greeting"
CONF_ASSIST_NUMBER: Final = "websocket_number"
CONF_ASSIST_NUMBER_ID: Final = "websocket_number_id"
CONF_ASSIST_DIAL_IN: Final = "dial_in_number"
CONF_ASSIST_DIAL_IN_ID: Final = "dial_in_number_id"
DEFAULT_ASSIST_GREETING: Final = "Hello, this is Home Assistant. How can I help?"
SERVICE_SEND_SMS: Final = "send_sms"
ATTR_FLASH: Final = "flash"
ATTR_DRY_RUN: Final = "dry_run"
EVENT_SMS_STATUS: Final = "elks_sms_status"

CONF_REACH_BY: Final = "reach_by"
ATTR_SMS_FIRST: Final = "sms_first"
ATTR_SMS_FALLBACK: Final = "sms_fallback"
ATTR_SMS_MESSAGE: Final = "sms_message"
SUBENTRY_INCOMING_SMS: Final = "incoming_sms"
CONF_NUMBER_ID: Final = "number_id"
CONF_ALLOWED_SENDERS: Final = "allowed_senders"
CONF_PREVIOUS_SMS_URL: Final = "previous_sms_url"
EVENT_SMS_RECEIVED: Final = "elks_sms_received"

# Incoming calls: a subentry per 46elks number (its data keys).
SUBENTRY_INCOMING_CALL: Final = "incoming_call"
CONF_PREVIOUS_VOICE_START: Final = "previous_voice_start"
CONF_ALLOW_ANYONE: Final = "allow_anyone"
CONF_ALLOWED: Final = "allowed"
CONF_ALLOWED_ACTION: Final = "allowed_action"
CONF_GREETING: Final = "greeting"
CONF_PIN: Final = "pin"
CONF_MENU: Final = "menu"
CONF_UNKNOWN_ACTION: Final = "unknown_action"
CONF_UNKNOWN_MESSAGE: Final = "unknown_message"
CONF_FORWARD_TO: Final = "forward_to"
CONF_NO_ANSWER: Final = "no_answer"
CONF_NO_ANSWER_MESSAGE: Final = "no_answer_message"
EVENT_INCOMING_CALL: Final = "elks_incoming_call"
EVENT_RECORDING_SAVED: Final = "elks_recording_saved"


@dataclass(frozen=True, slots=True)
class DispatcherSignal:
    """A dispatcher signal of one account or subentry: call it with that id."""

    name: str

    def __call__(self, owner_id: str) -> str:
        """Return the signal's name for ``owner_id``."""
        return f"{DOMAIN}_{owner_id}_{self.name}"


# The dispatcher signals, by the entry id (or subentry id) they belong to.
# A call of the entry was placed or ended.
signal_call_updated: Final = DispatcherSignal("call_updated")
# Subentries were added to the entry.
signal_subentries_added: Final = DispatcherSignal("subentries_added")
# For the entry's Call event entity.
signal_call_event: Final = DispatcherSignal("call_event")
# An SMS of the entry was sent or reported.
signal_sms_updated: Final = DispatcherSignal("sms_updated")
# For the event entity of an Incoming SMS subentry (by subentry id).
signal_sms_received: Final = DispatcherSignal("sms_received")
# For the incoming-call entities of the entry.
signal_incoming_event: Final = DispatcherSignal("incoming_event")
