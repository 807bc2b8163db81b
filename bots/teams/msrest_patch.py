"""A one-line fix for msrest (the HTTP layer under botbuilder 4.17, no longer maintained):
every connector client builds a retry policy that tests 999 status codes for membership in a
list of 500, about 4 ms of CPU, twice per activity; with a frozenset it is microseconds.
Same codes, same behaviour (Azure/msrest-for-python#266, never merged)."""

from msrest.universal_http.requests import ClientRetryPolicy


def apply() -> None:
    ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]
