"""Checking a request's AWS Signature Version 4 as AWS does, with botocore's own signer.

The endpoint rebuilds the request from what the client says it signed (`SignedHeaders`), lets botocore's
`SigV4Auth` compute the signature with the lab's secret at the request's own `X-Amz-Date`, and compares.
As AWS, it also refuses a request whose date is more than 15 minutes from now (a replayed request), whose
credential scope names another day or service, that did not sign `host` and `x-amz-date`, or whose
`X-Amz-Content-SHA256` is not the hash of its body.
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from labkit.emr.records import ApiError

SERVICE = "elasticmapreduce"
SKEW_SECONDS = 15 * 60
AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                  r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$")
STAMP = "%Y%m%dT%H%M%SZ"


def _refused(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message)


def _stamp(seconds: float) -> str:
    return time.strftime(STAMP, time.gmtime(seconds))


def check(method: str, path: str, headers, body: bytes, keys: dict[str, str],
          now: float | None = None) -> ApiError | None:
    """None when the request carries a valid, current SigV4 signature by one of `keys` (access key -> secret)."""
    match = AUTH.match(headers.get("Authorization", "").strip())
    if not match:
        return ApiError("MissingAuthenticationTokenException", "Request is missing a SigV4 Authorization header.")
    access_key, day, region, service, signed, signature = match.groups()
    if access_key not in keys:
        return ApiError("UnrecognizedClientException", "The security token included in the request is invalid.")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return _refused("'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.")
    missing = [n for n in names if headers.get(n) is None]
    if missing:
        return _refused(f"Signed header {missing[0]} is missing from the request.")
    amz_date = headers.get("X-Amz-Date")
    try:
        when = calendar.timegm(time.strptime(amz_date, STAMP))
    except ValueError:
        return _refused(f"X-Amz-Date {amz_date!r} is not an ISO-8601 basic timestamp such as 20240101T000000Z.")
    if day != amz_date[:8]:
        return _refused(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                        f"HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'.")
    if service != SERVICE:
        return _refused(f"Credential should be scoped to correct service: '{SERVICE}'.")
    now = time.time() if now is None else now
    if when < now - SKEW_SECONDS:
        return _refused(f"Signature expired: {amz_date} is now earlier than {_stamp(now - SKEW_SECONDS)} "
                        f"({_stamp(now)} - 15 min.)")
    if when > now + SKEW_SECONDS:
        return _refused(f"Signature not yet current: {amz_date} is still later than {_stamp(now + SKEW_SECONDS)} "
                        f"({_stamp(now)} + 15 min.)")
    content_hash = headers.get("X-Amz-Content-SHA256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        return _refused("The provided 'x-amz-content-sha256' header does not match what was computed.")
    request = AWSRequest(method=method, url=f"http://{headers.get('host')}{path}", data=body,
                         headers={n: headers.get(n) for n in names})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, keys[access_key]), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        return _refused("The request signature we calculated does not match the signature you provided. "
                        "Check your AWS Secret Access Key and signing method.")
    return None
