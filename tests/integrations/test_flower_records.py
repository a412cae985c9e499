"""RecordDict <-> plain conversion and the wire wrapping (no engine needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

flwr_app = pytest.importorskip("flwr.app")
fobs = pytest.importorskip("sealpack.fobs")

from sealpack.integrations.flower.errors import RefusedMessageError  # noqa: E402
from sealpack.integrations.flower.records import (  # noqa: E402
    plain_to_recorddict,
    recorddict_to_plain,
)
from sealpack.integrations.flower.wire import check_payload, unwrap_blob, wrap_blob  # noqa: E402

Array, ArrayRecord = flwr_app.Array, flwr_app.ArrayRecord
ConfigRecord, MetricRecord, RecordDict = (
    flwr_app.ConfigRecord,
    flwr_app.MetricRecord,
    flwr_app.RecordDict,
)

names = st.text(alphabet="abcdefgh-_", min_size=1, max_size=8)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
)
scalars = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False))
config_values = st.one_of(
    scalars,
    st.text(max_size=10),
    st.binary(max_size=10),
    st.booleans(),
    st.lists(st.integers(-100, 100), max_size=4),
)


def _same(left: RecordDict, right: RecordDict) -> None:
    assert list(left.keys()) == list(right.keys())
    for name in left:
        a, b = left[name], right[name]
        assert type(a) is type(b)
        if isinstance(a, ArrayRecord):
            assert list(a.keys()) == list(b.keys())
            for key in a:
                assert (a[key].dtype, a[key].shape, a[key].stype) == (
                    b[key].dtype,
                    b[key].shape,
                    b[key].stype,
                )
                np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
        else:
            assert dict(a) == dict(b)


@given(
    st.dictionaries(names, arrays, max_size=3),
    st.dictionaries(names, scalars, max_size=3),
    st.dictionaries(names, config_values, max_size=3),
)
def test_round_trip_through_the_codec(arrs: dict, metrics: dict, configs: dict) -> None:
    content = RecordDict(
        {
            "model": ArrayRecord(array_dict={k: Array(v) for k, v in arrs.items()}),
            "metrics": MetricRecord(metrics),
            "config": ConfigRecord(configs),
        }
    )
    back = plain_to_recorddict(fobs.loads(fobs.dumps(recorddict_to_plain(content))))
    _same(content, back)


def test_non_numpy_arrays_travel_verbatim() -> None:
    raw = Array(dtype="custom", shape=(3,), stype="my.format", data=b"\x01\x02\x03")
    back = plain_to_recorddict(
        recorddict_to_plain(RecordDict({"r": ArrayRecord(array_dict={"x": raw})}))
    )
    assert back["r"]["x"].data == b"\x01\x02\x03" and back["r"]["x"].stype == "my.format"


@pytest.mark.parametrize(
    "plain",
    [
        None,
        [],
        {"records": None},
        {"records": [["a", "arrays"]]},
        {"records": [[1, "metrics", {}]]},
        {"records": [["a", "nope", {}]]},
        {"records": [["a", "metrics", {"x": "str"}]]},
        {"records": [["a", "metrics", {}], ["a", "metrics", {}]]},
        {"records": [["a", "arrays", [["k", np.array([object()], dtype=object)]]]]},
        {
            "records": [
                ["a", "arrays", [["k", {"dtype": "x", "shape": [-1], "stype": "s", "data": b""}]]]
            ]
        },
        {"records": [["a", "arrays", [["k", 5]]]]},
        {"records": [["a", "arrays", [["k", np.zeros(1)]] * 2]]},
    ],
)
def test_hostile_plain_forms_are_refused(plain: object) -> None:
    with pytest.raises(RefusedMessageError):
        plain_to_recorddict(plain)


def test_unwrap_refuses_plaintext_and_extra_records() -> None:
    wire = wrap_blob(b"blob-bytes", kind="reply", sender="n")
    assert unwrap_blob(wire, kind="reply") == (b"blob-bytes", "n")
    with pytest.raises(RefusedMessageError):
        unwrap_blob(wire, kind="instruction")
    plain = RecordDict({"arrays": ArrayRecord([np.ones(3)])})
    with pytest.raises(RefusedMessageError, match="plaintext refused"):
        unwrap_blob(plain, kind="reply")
    wire["extra"] = MetricRecord({"leak": 1.0})
    with pytest.raises(RefusedMessageError):
        unwrap_blob(wire, kind="reply")


def test_check_payload_binds_every_field() -> None:
    payload = {"v": 2, "kind": "reply", "run_id": 3, "node": 9, "request": b"r" * 16}
    assert check_payload(
        payload, kind="reply", expected={"run_id": 3, "node": 9, "request": b"r" * 16}
    )
    for field, wrong in [("run_id", 4), ("node", 8), ("request", b"x" * 16), ("node", True)]:
        expected = {"run_id": 3, "node": 9, "request": b"r" * 16, field: wrong}
        with pytest.raises(RefusedMessageError):
            check_payload(payload, kind="reply", expected=expected)
    with pytest.raises(RefusedMessageError):
        check_payload(payload, kind="instruction", expected={})
    with pytest.raises(RefusedMessageError):
        check_payload([payload], kind="reply", expected={})
