"""Schemathesis hooks (SCHEMATHESIS_HOOKS=schemathesis_hooks): how to make a `/data` cursor. A cursor
is an opaque token the API encodes (`next_cursor`); a fuzzer cannot guess one, so the OpenAPI
document names its format, `kasparro-cursor`, and this strategy builds well-formed ones: base64url
of `v1|<microseconds>|<source>|<source_id>`, as DataQuery.Cursor encodes them. Any other string is
schema-invalid, and the server answers it 400."""
import base64
import string

import schemathesis
from hypothesis import strategies as st


def encode(micros: int, source: str, source_id: str) -> str:
    raw = f"v1|{micros}|{source}|{source_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


schemathesis.openapi.format("kasparro-cursor", st.builds(
    encode,
    st.integers(min_value=0, max_value=4_102_444_800_000_000),  # 1970 to 2100
    st.sampled_from(["coinpaprika", "coingecko", "csv"]),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=64)))
