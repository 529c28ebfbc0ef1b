"""A kind with no shape of its own is read by its record's fields: flat, wrapped, batched, camelCase."""

from __future__ import annotations

import json

import msgspec
import pytest

from analytics.events import ENVELOPE, RECORDS, Health, IndicatorAlert, Pattern
from dashboard.wire.generic import record_shape
from dashboard.wire.variants import Batch, Rejected, decode_shape
from tests.fixtures import sample_record

PUBLISHED = "2025-01-24T10:15:00Z"


def read(record, message, received: float = 1_750_000_000.0):
    channel = f"t:{record.__struct_config__.tag}"
    return decode_shape(record_shape(record), channel, json.dumps(message).encode(), received)


def fields_of(event) -> dict:
    """A record's own fields and session, as JSON would carry them."""
    return {k: v for k, v in msgspec.to_builtins(event).items() if k not in {*ENVELOPE, "kind"} or k == "session_id"}


@pytest.mark.parametrize("record", list(RECORDS.values()), ids=list(RECORDS))
def test_a_flat_message_of_the_records_fields_reads_back_as_the_record(record):
    sample = sample_record(record, channel=f"t:{record.__struct_config__.tag}")
    assert read(record, {**fields_of(sample), "timestamp": PUBLISHED}) == sample


def test_the_object_may_sit_in_a_wrapper_named_for_the_kind_or_come_in_a_batch_in_camel_case():
    sample = sample_record(IndicatorAlert, channel="t:indicator_alert")
    body = {"symbol": "SYMBOL", "alertType": "ALERT_TYPE", "data": {"a": 1.5}}
    assert read(IndicatorAlert, {"event": "x", "session_id": "s1", "timestamp": PUBLISHED,
                                 "indicator_alert": body}) == sample
    batch = read(IndicatorAlert, {"session_id": "s1", "timestamp": PUBLISHED, "indicator_alerts": [body, body]})
    assert type(batch) is Batch and list(batch) == [sample, sample]


def test_a_missing_required_field_or_a_bad_value_is_a_rejection_naming_it():
    with pytest.raises(Rejected, match="missing alert type") as missing:
        read(IndicatorAlert, {"symbol": "A"})
    assert missing.value.code == "missing_alert_type"
    with pytest.raises(Rejected, match="confidence is not a number") as bad:
        read(Pattern, {"symbol": "A", "pattern": "P", "confidence": "high", "detected_at": PUBLISHED})
    assert bad.value.code == "bad_field"
    with pytest.raises(Rejected) as late:
        read(Pattern, {"symbol": "A", "pattern": "P", "confidence": 0.5, "detected_at": "3000-01-01T00:00:00Z"})
    assert late.value.code == "bad_timestamp"
    assert read(Health, {"status": "ok", "cpu_percent": "12.5"}).cpu_percent == 12.5  # numeric text is a number
