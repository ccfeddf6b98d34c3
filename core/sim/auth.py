"""The venue's side of CLOB authentication: L1 (EIP-712 wallet signature), L2 (HMAC with API creds),
and recovery of the signer of a V2 order. Written from the protocol, independently of the client library,
so the real client is genuinely checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
MAX_CLOCK_SKEW_S = 300

_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class AuthError(Exception):
    """The request is not authenticated; `message` is what the venue answers (HTTP 401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ApiCreds:
    api_key: str
    secret: str
    passphrase: str
    address: str


def verify_l1(headers: Mapping[str, str], chain_id: int, now_s: int) -> tuple[str, int]:
    """The wallet address and nonce of a valid L1 request (EIP-712 `ClobAuth` signature)."""
    try:
        address = headers["POLY_ADDRESS"]
        signature = headers["POLY_SIGNATURE"]
        timestamp = headers["POLY_TIMESTAMP"]
        nonce = int(headers.get("POLY_NONCE", "0"))
    except (KeyError, ValueError):
        raise AuthError("Invalid L1 Request headers") from None
    _check_skew(timestamp, now_s)
    typed = {
        "primaryType": "ClobAuth",
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": CLOB_AUTH_MESSAGE},
    }
    if _recover(typed, signature) != address.lower():
        raise AuthError("Invalid L1 Request headers")
    return address, nonce


def derive_creds(server_secret: bytes, address: str, nonce: int) -> ApiCreds:
    """Deterministic API creds per (wallet, nonce), as `derive-api-key` promises."""
    seed = hmac.new(server_secret, f"{address.lower()}:{nonce}".encode(), hashlib.sha256).digest()
    return ApiCreds(
        api_key=str(uuid.UUID(bytes=seed[:16], version=4)),
        secret=base64.urlsafe_b64encode(seed).decode(),
        passphrase=hashlib.sha256(seed).hexdigest()[:32],
        address=address,
    )


def l2_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """urlsafe-base64(HMAC-SHA256(urlsafe-b64decode(secret), timestamp + METHOD + path + body))."""
    message = f"{timestamp}{method}{path}{body}"
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def verify_l2(
    headers: Mapping[str, str],
    creds_by_key: Mapping[str, ApiCreds],
    *,
    method: str,
    path: str,
    body: str,
    now_s: int,
) -> ApiCreds:
    """The creds of a valid L2 request; `path` excludes the query string, `body` is the raw body."""
    try:
        key = headers["POLY_API_KEY"]
        signature = headers["POLY_SIGNATURE"]
        timestamp = headers["POLY_TIMESTAMP"]
        passphrase = headers["POLY_PASSPHRASE"]
        address = headers["POLY_ADDRESS"]
    except KeyError:
        raise AuthError("Unauthorized/Invalid api key") from None
    creds = creds_by_key.get(key)
    if creds is None or not hmac.compare_digest(creds.passphrase, passphrase):
        raise AuthError("Unauthorized/Invalid api key")
    if address.lower() != creds.address.lower():
        raise AuthError("Unauthorized/Invalid api key")
    _check_skew(timestamp, now_s)
    expected = l2_signature(creds.secret, timestamp, method, path, body)
    if not hmac.compare_digest(expected, signature):
        raise AuthError("Unauthorized/Invalid api key")
    return creds


def order_typed_data(order: Mapping[str, Any], chain_id: int, exchange: str = EXCHANGE_V2) -> dict[str, Any]:
    """The EIP-712 message a V2 order's signature covers (`expiration` is sent but not signed)."""
    return {
        "primaryType": "Order",
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": chain_id,
            "verifyingContract": exchange,
        },
        "message": {
            "salt": int(order["salt"]),
            "maker": order["maker"],
            "signer": order["signer"],
            "tokenId": int(order["tokenId"]),
            "makerAmount": int(order["makerAmount"]),
            "takerAmount": int(order["takerAmount"]),
            "side": 0 if order["side"] == "BUY" else 1,
            "signatureType": int(order["signatureType"]),
            "timestamp": int(order["timestamp"]),
            "metadata": _bytes32(order["metadata"]),
            "builder": _bytes32(order["builder"]),
        },
    }


def order_signer(order: Mapping[str, Any], chain_id: int, exchange: str = EXCHANGE_V2) -> str:
    """The lowercase address that signed an EOA (signature type 0) V2 order."""
    return _recover(order_typed_data(order, chain_id, exchange), str(order["signature"]))


def order_hash(order: Mapping[str, Any], chain_id: int, exchange: str = EXCHANGE_V2) -> str:
    """The order's EIP-712 digest: the venue's order id."""
    signable = encode_typed_data(full_message=order_typed_data(order, chain_id, exchange))
    return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


def _recover(typed: dict[str, Any], signature: str) -> str:
    try:
        signable = encode_typed_data(full_message=typed)
        return str(Account.recover_message(signable, signature=signature)).lower()
    except Exception:  # a malformed signature is just an invalid one
        return ""


def _bytes32(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x").zfill(64))


def _check_skew(timestamp: str, now_s: int) -> None:
    try:
        skew = abs(int(timestamp) - now_s)
    except ValueError:
        raise AuthError("Invalid L1 Request headers") from None
    if skew > MAX_CLOCK_SKEW_S:
        raise AuthError("Unauthorized/Invalid api key")
