"""Account numbers pointed at Home Assistant for subentries, and given back after.

A subentry (incoming calls, incoming SMS, Assist by phone) claims one field
of one 46elks number: its ``voice_start`` or ``sms_url``. The value the
field had before is stored durably *before* it is overwritten, so removing
the subentry (or the whole account) restores it exactly, also after a
restart or a crash in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from yarl import URL

from homeassistant.components import persistent_notification
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_exception_message

from .api import ElksError, PhoneNumber
from .const import DOMAIN, LOGGER
from .models import AccountContext, NumberClaim, NumberField
from .repairs import async_number_not_updated

STORAGE_VERSION = 1
# After a failed update, 46elks is asked again this much later (and at the
# next start, and whenever the subentries change).
RETRY_SECONDS = 300

type ClaimProvider = Callable[[], Iterable[NumberClaim]]


def storage_key(entry_id: str) -> str:
    """Return the storage key of an account's number bindings."""
    return f"{DOMAIN}.{entry_id}.numbers"


def points_at_us(
    value: str | None, webhook_id: str, cloudhook_url: str | None = None
) -> bool:
    """Return whether ``value`` (a number's field) already leads to this account."""
    if not value:
        return False
    if cloudhook_url and value.startswith(cloudhook_url):
        return True
    try:
        path = URL(value).path
    except ValueError:
        return False
    return path.rstrip("/") == f"/api/webhook/{webhook_id}"


def number_selector(
    numbers: Iterable[PhoneNumber],
    *extra: SelectOptionDict,
    translation_key: str | None = None,
) -> SelectSelector:
    """Return the flows' number picker: each number with its 46elks name.

    ``extra`` options come first; ``translation_key`` translates their labels.
    """
    config = SelectSelectorConfig(
        options=[
            *extra,
            *(
                SelectOptionDict(
                    value=n.id, label=f"{n.number} ({n.name})" if n.name else n.number
                )
                for n in numbers
            ),
        ],
        mode=SelectSelectorMode.DROPDOWN,
    )
    if translation_key:
        config["translation_key"] = translation_key
    return SelectSelector(config)


def sms_unique_id(number_id: str) -> str:
    """Return an Incoming SMS subentry's unique id.

    Home Assistant keeps subentry unique ids unique across all kinds of an
    entry: the number's calls (Incoming calls, Assist by phone: the number id)
    and its SMS must not share one.
    """
    return f"{number_id}/{NumberField.SMS_URL}"


def describe_target(value: str | None) -> str:
    """Return where ``value`` leads, safe to show: a host or "an action".

    A full URL may hold somebody's secret (a webhook id, a token).
    """
    if not value:
        return "-"
    if value.lstrip().startswith("{"):
        return "a call action"
    try:
        return URL(value).host or "-"
    except ValueError:
        return "-"


@dataclass(slots=True)
class _Binding:
    """A field we point at Home Assistant, and what to give back."""

    subentry_id: str
    number: str
    previous: str | None
    # What we last set; None until 46elks confirmed it.
    applied: str | None = None


class NumberBindings:
    """Claims, applies and restores the fields of an account's numbers."""

    def __init__(self, account: AccountContext) -> None:
        """Prepare for the account; ``async_load`` reads what was bound before."""
        self._account = account
        self._store: Store[dict[str, Any]] = Store(
            account.hass, STORAGE_VERSION, storage_key(account.entry.entry_id)
        )
        self._bindings: dict[tuple[str, NumberField], _Binding] = {}
        self._providers: list[ClaimProvider] = []
        self._lock = asyncio.Lock()
        self._cancel_retry: CALLBACK_TYPE | None = None

    async def async_load(self) -> None:
        """Read the bindings stored by earlier runs."""
        stored = await self._store.async_load() or {}
        for item in stored.get("bindings", []):
            key = (str(item["number_id"]), NumberField(item["field"]))
            self._bindings[key] = _Binding(
                subentry_id=str(item["subentry_id"]),
                number=str(item["number"]),
                previous=item.get("previous"),
                applied=item.get("applied"),
            )

    @callback
    def async_add_claims(self, provider: ClaimProvider) -> CALLBACK_TYPE:
        """Add a source of claims (read live at each sync); returns its remover."""
        self._providers.append(provider)
        return lambda: self._providers.remove(provider)

    def _claims(self) -> dict[tuple[str, NumberField], NumberClaim]:
        """Return the current claims, one per field of a number.

        Two subentries claiming the same field (set up by hand, or by two
        kinds of subentry) cannot both be served: the one bound first keeps
        it, and the other is logged.
        """
        claims: dict[tuple[str, NumberField], NumberClaim] = {}
        for provider in self._providers:
            for claim in provider():
                key = (claim.number_id, claim.field)
                kept = claims.get(key)
                bound = self._bindings.get(key)
                if kept is not None and (
                    bound is None or bound.subentry_id != claim.subentry_id
                ):
                    LOGGER.warning(
                        "%s of %s is already taken by another subentry; ignored",
                        claim.field,
                        claim.number,
                    )
                    continue
                claims[key] = claim
        return claims

    @callback
    def claimed(self, field: NumberField) -> set[str]:
        """Return the ids of the numbers whose ``field`` any subentry claims.

        For the flows, which offer only the others; read without resolving
        (and logging) conflicts, which only a sync does.
        """
        return {
            claim.number_id
            for provider in self._providers
            for claim in provider()
            if claim.field is field
        }

    def previous_value(self, number_id: str, field: NumberField) -> str | None:
        """Return the value a bound field had before we took it."""
        binding = self._bindings.get((number_id, field))
        return binding.previous if binding else None

    @callback
    def async_unload(self) -> None:
        """Stop a pending retry; the bindings stay stored."""
        if self._cancel_retry is not None:
            self._cancel_retry()
            self._cancel_retry = None

    async def async_sync(self, *, give_back_all: bool = False) -> None:
        """Point every claimed field at us; give back those of removed subentries.

        ``give_back_all`` gives back every field (the account is removed).

        Failures are logged and shown as a repair issue, and retried later;
        they never fail the caller.
        """
        async with self._lock:
            self.async_unload()
            claims = {} if give_back_all else self._claims()
            released = list(self._bindings) if give_back_all else self._released(claims)
            wanted = [
                claim
                for key, claim in claims.items()
                if claim.value is not None
                and (
                    key in released  # given back first, then taken anew
                    or key not in self._bindings
                    or self._bindings[key].applied != claim.value
                )
            ]
            if not released and not wanted:
                return
            try:
                numbers = await self._account.client.list_numbers()
            except ElksError as err:
                LOGGER.warning("Cannot read the account's numbers: %s", err)
                self._report(
                    [claim.number for claim in wanted]
                    + [self._bindings[key].number for key in released]
                )
                return
            self._report(await self._async_apply(numbers, released, wanted))

    async def _async_apply(
        self,
        numbers: list[PhoneNumber],
        released: list[tuple[str, NumberField]],
        wanted: list[NumberClaim],
    ) -> list[str]:
        """Give back ``released``, then take ``wanted``; return what failed."""
        # What each field of the account's numbers holds, kept current as we go.
        held: dict[tuple[str, NumberField], str | None] = {
            (number.id, field): getattr(number, field.value)
            for number in numbers
            for field in NumberField
        }
        failed: list[str] = []
        for key in released:
            binding = self._bindings[key]
            if not await self._async_release(key, held):
                failed.append(binding.number)
        failed.extend(
            [
                claim.number
                for claim in wanted
                if not await self._async_claim(claim, held)
            ]
        )
        return failed

    def _released(
        self, claims: dict[tuple[str, NumberField], NumberClaim]
    ) -> list[tuple[str, NumberField]]:
        """Return the bound fields whose subentry is gone or claims another number.

        A field is not given back merely because no claim names it: a claim
        provider that registers late must not undo a binding at startup.
        """
        claimed = {(c.subentry_id, c.field) for c in claims.values()}
        return [
            key
            for key, binding in self._bindings.items()
            if binding.subentry_id not in self._account.entry.subentries
            or (key not in claims and (binding.subentry_id, key[1]) in claimed)
        ]

    def _report(self, failed: list[str]) -> None:
        async_number_not_updated(
            self._account.hass,
            self._account.entry.entry_id,
            {"numbers": ", ".join(sorted(set(failed)))} if failed else None,
        )
        if failed and not self._account.hass.is_stopping:
            self._cancel_retry = async_call_later(
                self._account.hass, RETRY_SECONDS, self._retry
            )

    @callback
    def _retry(self, _now: Any) -> None:
        self._cancel_retry = None
        self._account.entry.async_create_background_task(
            self._account.hass, self.async_sync(), "elks number bindings retry"
        )

    async def _async_claim(
        self, claim: NumberClaim, held: dict[tuple[str, NumberField], str | None]
    ) -> bool:
        """Point ``claim``'s field at its value; the old value is stored first."""
        key = (claim.number_id, claim.field)
        if key not in held:
            LOGGER.warning("Number %s is no longer on the 46elks account", claim.number)
            return False
        binding = self._bindings.get(key)
        if binding is None:
            binding = _Binding(claim.subentry_id, claim.number, previous=held[key])
            self._bindings[key] = binding
            # Stored before 46elks is changed: a crash cannot lose the old value.
            await self._async_save()
        if held[key] != claim.value:
            try:
                await self._account.client.update_number(
                    claim.number_id, **{claim.field.value: claim.value}
                )
            except ElksError as err:
                LOGGER.warning(
                    "Cannot point %s at Home Assistant: %s", claim.number, err
                )
                return False
            held[key] = claim.value
        binding.applied = claim.value
        await self._async_save()
        return True

    async def _async_release(
        self,
        key: tuple[str, NumberField],
        held: dict[tuple[str, NumberField], str | None],
    ) -> bool:
        """Give a field back its old value, unless somebody changed it since."""
        binding = self._bindings[key]
        number_id, field = key
        if key in held and held[key] == binding.applied:
            try:
                await self._account.client.update_number(
                    number_id, **{field.value: binding.previous or ""}
                )
            except ElksError as err:
                LOGGER.warning(
                    "Cannot give %s back its %s: %s", binding.number, field, err
                )
                return False
            held[key] = binding.previous
            self._notify_restored(binding, field)
        elif key not in held:
            LOGGER.info("Number %s is no longer on the 46elks account", binding.number)
        else:
            LOGGER.info(
                "Left %s of %s as it is: it was changed outside Home Assistant",
                field,
                binding.number,
            )
        del self._bindings[key]
        await self._async_save()
        return True

    def _notify_restored(self, binding: _Binding, field: NumberField) -> None:
        """Tell the user the number no longer leads to Home Assistant."""
        message = async_get_exception_message(
            DOMAIN,
            f"number_restored_{field.value}",
            {"number": binding.number, "target": describe_target(binding.previous)},
        )
        LOGGER.info(message)
        persistent_notification.async_create(
            self._account.hass,
            message,
            title="46elks",
            notification_id=f"{DOMAIN}_restored_{binding.number}_{field.value}",
        )

    async def _async_save(self) -> None:
        await self._store.async_save(
            {
                "bindings": [
                    {"number_id": number_id, "field": field.value, **asdict(binding)}
                    for (number_id, field), binding in self._bindings.items()
                ]
            }
        )

    async def async_remove(self) -> None:
        """Forget the stored bindings (the account is gone, fields given back)."""
        await self._store.async_remove()

    @property
    def pending(self) -> int:
        """How many bindings are kept (for diagnostics)."""
        return len(self._bindings)
