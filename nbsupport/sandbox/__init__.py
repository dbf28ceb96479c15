"""A loopback venue that speaks Kraken spot's and Kraken Futures' real REST wire format and fails on demand.

The real ccxt clients talk to it with their API URLs' scheme and host replaced by the sandbox origin
(`nbsupport.venues.urls.rewrite_urls`); paths, signing and response shapes are the venues' own.
"""

from nbsupport.sandbox.cast import CastMember, demo_cast
from nbsupport.sandbox.egress_proxy import EgressProxy
from nbsupport.sandbox.keys import Fault, Product, SandboxKey
from nbsupport.sandbox.ratelimit import RateLimitPolicy
from nbsupport.sandbox.requestlog import RecordedRequest, RequestLog
from nbsupport.sandbox.server import SandboxServer

__all__ = [
    "CastMember",
    "EgressProxy",
    "Fault",
    "Product",
    "RateLimitPolicy",
    "RecordedRequest",
    "RequestLog",
    "SandboxKey",
    "SandboxServer",
    "demo_cast",
]
