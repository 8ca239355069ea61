"""Behaviour of tui.core.privacy.tripwire: real identifying data is found, ordinary
roleplay prose (times, years, counts, dates, ranges) is left alone."""

from __future__ import annotations

import time

import pytest

from tui.core.privacy.tripwire import KINDS, Hit, scan


def found(text: str, deny: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(h.kind, text[h.start : h.end]) for h in scan(text, deny)]


PROSE = """\
At 10:30 the ferry left the harbour, just as it had every morning since 1999.
Mira counted 3 cats on the pier, 12 gulls on the railings and one very
patient dog. "Table for 2?" asked the waiter at the café; the bill came to
$47.50, a 15% tip on top. They walked 3 miles down the coast road, past
chapter 7 of her book, and on 2024-05-01 (or 01.05.2024, or 5/1/24) she wrote
it all down. The lighthouse is 41 metres tall, built 1887-1891, restored in
the 1990s; somewhere between 100-1000 ships pass it each year. Room 204, page
345, flight 370, version 2.3.1, 24/7, 9 to 5, a score of 3-0, 1,000,000 stars,
pi is about 3.14159265, and the year 2000 came and went. ISBN 978-3-16-148410-0.
"""


def test_ordinary_prose_has_no_hits():
    assert scan(PROSE) == []


def test_hit_shape_and_labels():
    text = "Write to wren@example.org please."
    [hit] = scan(text)
    assert hit == Hit("email", 9, 25, "an email address")
    assert set(KINDS) == {"email", "card", "iban", "ssn", "phone", "address", "name"}


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "a+tag@mail.example.co.uk", "first_last-1@sub-domain.example.io"],
)
def test_emails(email):
    assert found(f"Reach me at {email}, thanks.") == [("email", email)]


def test_not_emails():
    assert found("She wrote @harbour and met me @ 9, and user@localhost too.") == []


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+1 (555) 123-4567",
        "+33612345678",
        "0044 20 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "020 7946 0958",
        "07700 900123",
        "06 12 34 56 78",
        "030 12345678",
        "555-0123",
    ],
)
def test_phone_numbers(phone):
    assert found(f"Call me on {phone} tonight.") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    ["at 10:30", "in 1999", "3 cats", "on 2024-05-01", "on 01.02.2023", "100-1000 gold", "agent 007", "+5 strength"],
)
def test_not_phone_numbers(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "3782 822463 10005"],
)
def test_luhn_valid_cards(card):
    assert found(f"My card is {card}.") == [("card", card)]


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1112", "1234567890123", "0000 0000 0000 0000", "4111 1111-1111 1111"]
)
def test_luhn_invalid_or_oddly_grouped_numbers_are_not_cards(number):
    assert [k for k, _ in found(f"Code {number}.")] != ["card"]


@pytest.mark.parametrize(
    "iban", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR14 2004 1010 0505 0001 3M02 606"]
)
def test_checksum_valid_ibans(iban):
    assert found(f"Send it to {iban} today.") == [("iban", iban)]


def test_iban_followed_by_a_capitalised_word_and_bad_checksum():
    text = "IBAN GB82 WEST 1234 5698 7654 32 OK?"
    assert found(text) == [("iban", "GB82 WEST 1234 5698 7654 32")]
    assert found("IBAN GB82 WEST 1234 5698 7654 33 here") == []
    assert found("IBAN DE89370400440532013001 here") == []


def test_ssn():
    assert found("SSN 123-45-6789.") == [("ssn", "123-45-6789")]
    assert [k for k, _ in found("000-12-3456 and 666-12-3456 and 123-00-4567")].count("ssn") == 0


@pytest.mark.parametrize(
    "address",
    [
        "221B Baker Street",
        "12 Elm St",
        "1600 Pennsylvania Avenue",
        "4 Privet Drive",
        "10 Rose Crescent",
        "Hauptstraße 5",
        "Lindenweg 12a",
        "12 rue de la Paix",
        "42 oak street",
    ],
)
def test_street_addresses(address):
    assert found(f"I live at {address}, come by.") == [("address", address)]


def test_not_addresses():
    text = "She walked 3 miles down the road. Chapter 3 The Long Road. 2 Main characters."
    assert found(text) == []


def test_deny_list_names_whole_word_case_insensitive():
    text = "Mira waved at MIRA STONE and mira\nstone, but not at Miranda or Admira."
    hits = found(text, ("Mira Stone", "mira", "  ", ""))
    assert hits == [("name", "Mira"), ("name", "MIRA STONE"), ("name", "mira\nstone")]


def test_deny_list_special_characters_are_literal():
    assert found("Say hi to O'Brien and A.J. and AxJx.", ("O'Brien", "A.J.")) == [
        ("name", "O'Brien"),
        ("name", "A.J."),
    ]


def test_overlaps_reported_once_and_in_order():
    text = "Phone 555-123-4567, mail mira@example.com, card 4111 1111 1111 1111."
    assert found(text, ("mira",)) == [
        ("phone", "555-123-4567"),
        ("email", "mira@example.com"),
        ("card", "4111 1111 1111 1111"),
    ]


def test_large_adversarial_input_is_fast():
    nasty = (
        "0" * 20000
        + " +"
        + "1 " * 5000
        + "4-" * 5000
        + "a@" * 5000
        + "12 Aa " * 3000
        + "GB82 " * 3000
        + PROSE * 50
    )
    started = time.perf_counter()
    scan(nasty, ("Mira", "Wren"))
    assert time.perf_counter() - started < 3.0
