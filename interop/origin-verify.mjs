// An origin (RFC 9577 section 2.2.3) checking a token type 0x0002 token with
// privacypass-ts.
//
// stdin:  {"public_key": SPKI, "token": Token, "challenge": TokenChallenge}  (base64)
// stdout: {"ok": bool, "signature_ok": bool, "challenge_ok": bool,
//          "token_key_id_ok": bool, "token_key_id": base64}
//
// "ok" is the origin's verdict: the token answers this challenge, names this
// key, and its authenticator verifies under it (publicVerif.Origin.verify).
// "token_key_id" is SHA-256 of the SPKI as privacypass-ts re-exports the
// imported key, so a caller can compare it with its own key id.

import { TOKEN_TYPES, Token, TokenChallenge, publicVerif } from '@cloudflare/privacypass-ts';

import { equalBytes, fromBase64, importTokenKey, run, sha256, toBase64 } from './common.mjs';

const { BlindRSAMode, Origin, getPublicKeyBytes } = publicVerif;

await run(async (input) => {
    const spki = fromBase64(input.public_key);
    const challengeBytes = fromBase64(input.challenge);
    const tokenBytes = fromBase64(input.token);

    const publicKey = await importTokenKey(spki);
    const tokenKeyId = await sha256(await getPublicKeyBytes(publicKey));

    const challenge = TokenChallenge.deserialize(challengeBytes);
    if (challenge.tokenType !== TOKEN_TYPES.BLIND_RSA.value) {
        throw new Error(`the challenge is for token type ${challenge.tokenType}`);
    }
    if (tokenBytes.length !== 2 + 32 + 32 + 32 + TOKEN_TYPES.BLIND_RSA.Nk) {
        throw new Error(`a token type 0x0002 token is 354 bytes, got ${tokenBytes.length}`);
    }
    const token = Token.deserialize(TOKEN_TYPES.BLIND_RSA, tokenBytes);

    const origin = new Origin(BlindRSAMode.PSS, challenge.originInfo);
    const signatureOk = await origin.verify(token, publicKey);
    const challengeOk = equalBytes(
        token.authInput.challengeDigest,
        await sha256(challenge.serialize()),
    );
    const tokenKeyIdOk = equalBytes(token.authInput.tokenKeyId, tokenKeyId);
    const typeOk = token.authInput.tokenType === TOKEN_TYPES.BLIND_RSA.value;
    return {
        ok: signatureOk && challengeOk && tokenKeyIdOk && typeOk,
        signature_ok: signatureOk,
        challenge_ok: challengeOk,
        token_key_id_ok: tokenKeyIdOk,
        token_key_id: toBase64(tokenKeyId),
    };
});
