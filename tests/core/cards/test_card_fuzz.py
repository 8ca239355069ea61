"""Property-based tests: thousands of mutated cards never crash or hang the
readers; each one gives either a valid card or a clear one-line error."""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import zipfile
import zlib

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from tui.core.cards.adult_guard import check_card, check_text
from tui.core.cards.card import CardError, card_to_v3, parse_card
from tui.core.cards.card_json import card_to_json_bytes
from tui.core.cards.charx import card_to_charx
from tui.core.cards.file_types import LoadedCard
from tui.core.cards.files import read_card_bytes
from tui.core.cards.png_card import card_to_png, placeholder_png

FAST = settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_CALL_S = 2.0

SEED = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        "name": "Iris Vale",
        "description": "{{char}} is a 41-year-old lighthouse keeper.",
        "personality": "calm",
        "first_mes": "The lamp turns.",
        "alternate_greetings": ["Hello again."],
        "tags": ["calm", "sea"],
        "extensions": {"x": {"y": [1, 2]}},
        "character_book": {"entries": [{"keys": ["lamp"], "content": "Old lamp.", "use_regex": False}]},
        "group_only_greetings": [],
        "assets": [{"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"}],
        "creation_date": 1700000000,
    },
}
SEED_JSON = json.dumps(SEED).encode()
SEED_CARD = parse_card(SEED)
SEED_PNG = card_to_png(SEED_CARD)
SEED_CHARX = card_to_charx(SEED_CARD, SEED_PNG, "png")
BARE_PNG = placeholder_png(8)


def _note(what: str) -> None:
    """Count outcomes (see ``pytest --hypothesis-show-statistics``)."""
    try:
        event(what)
    except InvalidArgument:  # called outside a property test
        pass


def check_outcome(data: bytes, source: str = "fuzz.bin") -> LoadedCard | None:
    """Either a card that survives a save/load round trip, or a CardError
    whose message is one line naming the source. Anything else fails."""
    start = time.perf_counter()
    try:
        loaded = read_card_bytes(data, source)
    except CardError as exc:
        msg = str(exc)
        assert msg.startswith(source + ": "), msg
        assert "\n" not in msg and len(msg) < 600, msg
        loaded = None
        _note("refused: " + msg[len(source) + 2:].split(" (")[0][:50])
    else:
        _note("read a valid card")
        card = loaded.card
        assert isinstance(card.name, str) and card.name.strip()
        again = read_card_bytes(card_to_json_bytes(card), "again.json").card
        assert card_to_v3(again) == card_to_v3(card)
        check_card(card)  # the guard never crashes on a card we accept
    assert time.perf_counter() - start < SLOW_CALL_S, "reader took too long"
    return loaded


# -- byte-level mutations -------------------------------------------------------

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**9), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**9), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**9), st.integers(1, 64)),
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, arg in ops:
        if not buf:
            break
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= arg
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf.insert(i, arg)
        else:
            del buf[i:i + arg]
    return bytes(buf)


@FAST
@given(st.lists(mutation, min_size=1, max_size=6))
def test_mutated_json_bytes(ops):
    check_outcome(mutate(SEED_JSON, ops))


@FAST
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_png_bytes(ops):
    check_outcome(mutate(SEED_PNG, ops), "fuzz.png")


@FAST
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_charx_bytes(ops):
    check_outcome(mutate(SEED_CHARX, ops), "fuzz.charx")


# -- structured mutations: valid containers around mutated card JSON ----------

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)
KEYS = ["spec", "spec_version", "data", "name", "description", "alternate_greetings", "tags",
        "extensions", "character_book", "assets", "nickname", "group_only_greetings", "source",
        "creator_notes_multilingual", "creation_date", "version", "first_mes"]


@st.composite
def mutated_card(draw) -> dict:
    card = json.loads(SEED_JSON)
    for _ in range(draw(st.integers(1, 5))):
        where = card if draw(st.booleans()) else card.setdefault("data", {})
        if not isinstance(where, dict):
            where = card
        key = draw(st.sampled_from(KEYS))
        if draw(st.integers(0, 4)) == 0:
            where.pop(key, None)
        else:
            where[key] = draw(json_value)
    return card


def png_with(keyword: str, payload: bytes) -> bytes:
    """A plain image plus one tEXt chunk (valid CRC) holding ``payload``."""
    body = keyword.encode() + b"\x00" + payload
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return BARE_PNG[:-12] + chunk + BARE_PNG[-12:]


@FAST
@given(mutated_card(), st.sampled_from(["chara", "ccv3"]))
def test_mutated_cards_inside_png(card, keyword):
    check_outcome(png_with(keyword, base64.b64encode(json.dumps(card).encode())), "fuzz.png")


@FAST
@given(mutated_card())
def test_mutated_cards_inside_charx(card):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", json.dumps(card))
        zf.writestr("assets/icon/images/main.png", SEED_PNG)
    check_outcome(buf.getvalue(), "fuzz.charx")


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_in_a_png_card_chunk(payload):
    check_outcome(png_with("ccv3", payload), "fuzz.png")


@FAST
@given(st.text(max_size=400))
def test_guard_never_crashes_on_any_text(text):
    for phrase, why in check_text(text, ("Iris", "Vale")):
        assert phrase and why


def test_a_valid_seed_survives_every_format():
    for data, source in ((SEED_JSON, "s.json"), (SEED_PNG, "s.png"), (SEED_CHARX, "s.charx")):
        loaded = check_outcome(data, source)
        assert loaded is not None and card_to_v3(loaded.card) == card_to_v3(SEED_CARD)
