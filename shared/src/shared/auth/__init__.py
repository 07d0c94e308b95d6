from shared.auth.api_keys import ApiKey, generate_api_key, hash_api_key, key_prefix, verify_api_key
from shared.auth.key_cache import VerifiedKeyCache
from shared.auth.tokens import AuthError, Role, StaffClaims, issue_token, verify_token

__all__ = [
    "ApiKey",
    "AuthError",
    "Role",
    "StaffClaims",
    "VerifiedKeyCache",
    "generate_api_key",
    "hash_api_key",
    "issue_token",
    "key_prefix",
    "verify_api_key",
    "verify_token",
]
