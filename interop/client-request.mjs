// A client (RFC 9578 section 6.1) making a token type 0x0002 TokenRequest with
// privacypass-ts's publicVerif.Client.
//
// stdin:  {"public_key": SPKI, "challenge": TokenChallenge}  (base64)
// stdout: {"token_request": TokenRequest, "token_key_id": base64,
//          "state": {"public_key", "token_input", "inv"}}   (base64)
//
// "state" is what client-finalize.mjs needs to turn the issuer's TokenResponse
// into a Token: the Client's finalization data, which lives in memory between
// the library's createTokenRequest() and finalize(). It holds the blinding
// inverse, so it is as secret as a wallet's pending request.

import { TokenChallenge, publicVerif } from '@cloudflare/privacypass-ts';

import { fromBase64, run, sha256, toBase64 } from './common.mjs';

const { BlindRSAMode, Client } = publicVerif;

await run(async (input) => {
    const spki = fromBase64(input.public_key);
    const challenge = TokenChallenge.deserialize(fromBase64(input.challenge));

    const client = new Client(BlindRSAMode.PSS);
    const tokenRequest = await client.createTokenRequest(challenge, spki);

    // finData is declared private in the library's typings; it is a plain
    // property at run time. A version that renames it fails here, loudly.
    const pending = client.finData;
    if (!pending?.tokenInput || !pending?.inv) {
        throw new Error('privacypass-ts Client kept no finalization data');
    }
    return {
        token_request: toBase64(tokenRequest.serialize()),
        token_key_id: toBase64(await sha256(spki)),
        state: {
            public_key: toBase64(spki),
            token_input: toBase64(pending.tokenInput),
            inv: toBase64(pending.inv),
        },
    };
});
