"""Revision records built for a big batch are byte for byte what `encode` writes."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store.journal import encode
from engine.store.records import build

Record = tuple[int, str, str, list[str], bool, bytes]
_REV = st.from_regex(r"[1-9][0-9]{0,3}-[0-9a-f]{32}", fullmatch=True)
_RECORD = st.tuples(
    st.integers(0, 2**63 - 1),  # seq
    st.text(min_size=1, max_size=70),  # doc id (any text: the encoding must not care)
    _REV,
    st.lists(_REV, max_size=20),  # ancestors
    st.booleans(),  # deleted
    # bodies around each size at which msgpack's bin header grows
    st.sampled_from([0, 1, 255, 256, 1000, 65535, 65536, 70000]).map(lambda n: b"\x80" * n),
)


@settings(max_examples=100, deadline=None)
@given(records=st.lists(_RECORD, max_size=6))
def test_built_records_are_the_bytes_encode_gives(records: list[Record]) -> None:
    data, spans = build(msgpack.Packer(use_bin_type=True),
                        [field for record in records for field in record])
    last = len(records) - 1
    expected = [encode("R", i < last, seq, doc_id, rev, ancestors, deleted, body=body)
                for i, (seq, doc_id, rev, ancestors, deleted, body) in enumerate(records)]
    assert data == b"".join(expected)
    # and each span says where its record's body lies in those bytes
    end = 0
    for i, record in enumerate(expected):
        end += len(record)
        offset, length = spans[2 * i:2 * i + 2]
        assert length == len(records[i][5]) and offset + length == end
    assert len(spans) == 2 * len(records)
