"""Fuzz ``ageverify.formats.privacypass``: every structure and header a client or issuer reads.

The first byte picks the reader: TokenChallenge, Token, TokenRequest and
TokenResponse decoding, a token key's SPKI, the issuer directory, a
WWW-Authenticate and an Authorization header. Contract: a value or a coded
AgeVerifyError. What decodes must encode back to the same bytes: each
structure has one encoding.
"""

from __future__ import annotations

from harness import expect_contract, instrumented, main, text_of

with instrumented():
    from ageverify.formats import privacypass

STRUCTURES = (
    privacypass.TokenChallenge,
    privacypass.Token,
    privacypass.TokenRequest,
    privacypass.TokenResponse,
)
READERS = 8


def test_one_input(data: bytes) -> None:
    """Read ``data[1:]`` with the reader ``data[0]`` picks."""
    if not data:
        return
    reader, body = data[0] % READERS, data[1:]
    if reader < len(STRUCTURES):
        structure = STRUCTURES[reader]
        value = expect_contract(lambda: structure.decode(body))
        if value is not None:
            assert value.encode() == body, structure.__name__
    elif reader == 4:
        key = expect_contract(lambda: privacypass.decode_pss_spki(body))
        if key is not None:
            assert privacypass.encode_pss_spki(key) == body
    elif reader == 5:
        expect_contract(lambda: privacypass.parse_directory(body))
    elif reader == 6:
        challenges = expect_contract(lambda: privacypass.parse_www_authenticate(text_of(body)))
        for offered in challenges or ():
            assert (
                privacypass.TokenChallenge.decode(offered.challenge.encode()) == offered.challenge
            )
    else:
        token = expect_contract(lambda: privacypass.parse_authorization(text_of(body)))
        if token is not None:
            assert privacypass.parse_authorization(privacypass.format_authorization(token)) == token


if __name__ == "__main__":
    main(test_one_input)
