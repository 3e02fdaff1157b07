"""What the consumer page prints: the event's own local time, product and place names from master data."""

from __future__ import annotations

from baas.apps.traceability.app import _display_time, location_label, product_info


def test_an_event_written_in_utc_shows_in_its_own_zone() -> None:
    assert _display_time("2026-03-02T01:00:00.250Z", "+08:00") == "2026-03-02 09:00 (UTC+08:00)"
    assert _display_time("2026-03-02T09:00:00+08:00", "+08:00") == "2026-03-02 09:00 (UTC+08:00)"
    assert _display_time("2026-03-01T23:30:00Z", "-05:30") == "2026-03-01 18:00 (UTC-05:30)"
    assert _display_time("2026-03-02T01:00:00Z", None) == "2026-03-02 01:00 (UTC+00:00)"
    assert _display_time("not a time", "+08:00") == "not a time"


def test_product_name_and_image_come_from_the_finest_master_data() -> None:
    data = {
        "item": {"https://gs1.org/voc/productName": "Tin no. 1001"},
        "lot": {"urn:epcglobal:cbv:mda#descriptionShort": "Lot 2603", "https://gs1.org/voc/image": "javascript:x"},
        "gtin": {"urn:epcglobal:cbv:mda#descriptionShort": "Green tea", "https://gs1.org/voc/image": "https://i/x.png"},
    }
    assert product_info(lambda key: data.get(key, {}), ["item", "lot", "gtin"]) == {
        "name": "Tin no. 1001", "image": "https://i/x.png"}  # a javascript: URL is never an image
    assert product_info(lambda key: {}, ["item"]) == {}


def test_location_label() -> None:
    assert location_label({"urn:epcglobal:cbv:mda#name": "Estate", "urn:epcglobal:cbv:mda#city": "Hangzhou"}) == \
        "Estate, Hangzhou"
    assert location_label({"urn:epcglobal:cbv:mda#city": "Hangzhou"}) is None
