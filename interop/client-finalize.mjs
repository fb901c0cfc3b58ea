// A client (RFC 9578 section 6.3) turning the issuer's TokenResponse into a
// Token with privacypass-ts's publicVerif.Client.finalize().
//
// stdin:  {"state": <client-request.mjs's state>, "token_response": TokenResponse}  (base64)
// stdout: {"token": Token}  (base64)
//
// The Client is rebuilt with the finalization data client-request.mjs saved,
// so that finalize() runs unchanged: it unblinds the signature and checks it
// as RSASSA-PSS before returning the token, and throws if it does not verify.

import { AuthenticatorInput, TOKEN_TYPES, publicVerif } from '@cloudflare/privacypass-ts';

import { fromBase64, importTokenKey, run, toBase64 } from './common.mjs';

const { BlindRSAMode, Client } = publicVerif;

await run(async (input) => {
    const { state } = input;
    const tokenInput = fromBase64(state.token_input);
    const authInput = AuthenticatorInput.deserialize(TOKEN_TYPES.BLIND_RSA, tokenInput, {
        bytesRead: 0,
    });

    const client = new Client(BlindRSAMode.PSS);
    // The same fields createTokenRequest() sets (see client-request.mjs).
    client.finData = {
        tokenInput,
        authInput,
        inv: fromBase64(state.inv),
        pkIssuer: await importTokenKey(fromBase64(state.public_key)),
    };
    const tokenResponse = client.deserializeTokenResponse(fromBase64(input.token_response));
    const token = await client.finalize(tokenResponse);
    return { token: toBase64(token.serialize()) };
});
