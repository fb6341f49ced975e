"""The aggregator's ack book: acks are valid contract messages, list only committed ids, coalesce per device,
and keep a resent old window listed; dead letters with a msg_id are acked, garbage is not."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from classpulse_contract import Ack, parse_message
from cloud_aggregator.acks import KEEP_IDS, AckBook, dead_letter_key


def test_ack_is_a_valid_contract_message_and_coalesces():
    book = AckBook(flush_s=1.0)
    book.record([("s1", "r1", "d1", 10), ("s1", "r1", "d1", 11), ("s1", "r2", "d2", 5)])
    out = dict(book.due(100.0))
    assert set(out) == {"classpulse/v1/s1/r1/d1/ack", "classpulse/v1/s1/r2/d2/ack"}
    ack, ignored = parse_message(out["classpulse/v1/s1/r1/d1/ack"], "classpulse.ack")
    assert isinstance(ack, Ack) and ack.device == "d1" and ack.msg_ids == [10, 11] and ignored == []
    book.record([("s1", "r1", "d1", 12)])
    assert book.due(100.5) == []  # within flush_s: waits, the next flush covers it
    assert book.due(100.5, force=True)[0][0].endswith("/d1/ack")
    assert book.due(200.0) == []  # nothing new


def test_resent_old_window_is_listed_again_and_list_is_bounded():
    book = AckBook(flush_s=0)
    book.record([("s", "r", "d", i) for i in range(KEEP_IDS + 50)])
    book.record([("s", "r", "d", 3)])  # long gone from the list; a resend puts it back at the newest end
    ids = json.loads(book.due(1.0)[0][1])["msg_ids"]
    assert len(ids) == KEEP_IDS and ids[-1] == 3 and 4 not in ids


@given(st.binary(max_size=300), st.text(max_size=80))
def test_dead_letter_key_never_raises(payload, topic):
    k = dead_letter_key(topic, payload)
    assert k is None or isinstance(k[3], int)


def test_dead_letter_key_only_for_a_device_topic_with_its_msg_id():
    t = "classpulse/v1/s1/r1/d1/agg"
    assert dead_letter_key(t, b'{"msg_id": 7, "device": "d1"}') == ("s1", "r1", "d1", 7)
    assert dead_letter_key(t, b'{"msg_id": 7, "device": "d2"}') is None
    assert dead_letter_key(t, b'{"msg_id": true, "device": "d1"}') is None
    assert dead_letter_key("classpulse/v1/s1/r1/d1/health", b'{"msg_id": 7, "device": "d1"}') is None
