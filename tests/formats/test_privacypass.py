"""Privacy Pass token type 0x0002: structures, key ids, PrivateToken headers, directory.

Known-good values come from the RFCs: the issuance vectors of RFC 9578
Appendix A (the same as tests/vectors/rfc9578-type2-issuance.json,
without the private key and blinding values this module has no use for) and
the challenge and header vectors of RFC 9577 Appendix A. Independent checks
use ``hashlib``, ``base64``, ``json`` and ``cryptography`` directly.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from hypothesis import given
from hypothesis import strategies as st

from ageverify.errors import CODES, AgeVerifyError
from ageverify.formats import privacypass as pp

# --- Vectors ------------------------------------------------------------------

# RFC 9578 Appendix A: the issuer's public key, shared by every vector (an
# RSASSA-PSS SubjectPublicKeyInfo of a 2048-bit key).
PKS_HEX = (
    "30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a86"
    "4886f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100cb1aed"
    "6b6a95f5b1ce013a4cfcab25b94b2e64a23034e4250a7eab43c0df3a8c12993af12b111908d4b471bec3"
    "1d4b6c9ad9cdda90612a2ee903523e6de5a224d6b02f09e5c374d0cfe01d8f529c500a78a2f67908fa68"
    "2b5a2b430c81eaf1af72d7b5e794fc98a3139276879757ce453b526ef9bf6ceb99979b8423b90f4461a2"
    "2af37aab0cf5733f7597abe44d31c732db68a181c6cbbe607d8c0e52e0655fd9996dc584eca0be87afbc"
    "d78a337d17b1dba9e828bbd81e291317144e7ff89f55619709b096cbb9ea474cead264c2073fe49740c0"
    "1f00e109106066983d21e5f83f086e2e823c879cd43cef700d2a352a9babd612d03cad02db134b7e225a"
    "5f0203010001"
)
ISSUANCE_VECTORS = [
    {
        "token_challenge": (
            "0002000e6973737565722e6578616d706c65208e7acc900e393381e8810b7c9e4a68b5163f1f"
            "880ab6688a6ffe780923609e88000e6f726967696e2e6578616d706c65"
        ),
        "nonce": ("aa72019d1f951df197021ce63876fe8b0a02dc1c31a12b0a2dd1508d07827f05"),
        "token_request": (
            "0002086a95be84b63cfed0993bb579194a72a95057e1548ac463a9a5b33b011f2b2011d59487"
            "f01862f1d8e4d5ea42e73a660fbc3d010b944a54da3a4e0942f8894c0884589b438cb902e9a3"
            "4278970f33c16f351f7dae58d273c3ab66ef368da36f785e89e24d1d983d5c34311cd21f290f"
            "9e89e8646ab0d0a48988fcd46230de5e7603cd12cc95c7ec5002e5e26737aa7eb69c626476e6"
            "c8d46510ee404a3d7daf3a23b7c66735d363ca13676925c6ed0117f60d165ce1f8ba616d041b"
            "6384baf6da3e2f757cb18e879a4f8595c2dc895ddf1f4279c75768d108b5c47f95f94e81e2d8"
            "b9c8b74476924ab3b7c45243fc99ac5466e8a3680ad37fa15c96010b274094"
        ),
        "token_response": (
            "675d84b751d9e593330ec4b6d7ab69c9a61517e98971f4b736150508174b4335761464f237be"
            "2d72bbae4b94dffc6143413f6351f1aa4efde6c32d4d6d9392a008290d56d1222f9b77a13362"
            "13e01934f7d972f3bf9ea5a5786c321352f103b3667e605379a55f0fb925fbb09b8a9f85e7dd"
            "4b388a3b49d06fd70ba28f6a780e3bc8f6421554fd6c38b63ef19f84ccfcf14709dd0b4d7221"
            "3c1f060893854eba0ea1a147e275da320db5e9849882d5f9179efa8a2d8d3b803f9d1445ef5c"
            "1f660be08883ce9b29a0a992fc035d2938cbb61c440044438dbb8b3ce7158a8f9827d230482f"
            "622d291406ab236b32b122627ae0fd36bd0d6b7607b8044ace404d44"
        ),
        "token": (
            "0002aa72019d1f951df197021ce63876fe8b0a02dc1c31a12b0a2dd1508d07827f055969f643"
            "b4cfda5196d4aa86aeb5368834f4f06de46950ed435b3b81bd036d44ca572f8982a9ca248a30"
            "56186322d93ca147266121ddeb5632c07f1f71cd2708bc6a21b533d07294b5e900faf5537dd3"
            "eb33cee4e08c9670d1e5358fd184b0e00c637174f5206b14c7bb0e724ebf6b56271e5aa2ed94"
            "c051c4a433d302b23bc52460810d489fb050f9de5c868c6c1b06e3849fd087629f704cc724bc"
            "0d0984d5c339686fcdd75f9a9cdd25f37f855f6f4c584d84f716864f546b696d620c5bd41a81"
            "1498de84ff9740ba3003ba2422d26b91eb745c084758974642a42078201543246ddb58030ea8"
            "e722376aa82484dca9610a8fb7e018e396165462e17a03e40ea7e128c090a911ecc708066cb2"
            "01833010c1ebd4e910fc8e27a1be467f78671836a508257123a45e4e0ae2180a434bd1037713"
            "466347a8ebe46439d3da1970"
        ),
    },
    {
        "token_challenge": (
            "0002000e6973737565722e6578616d706c6500000e6f726967696e2e6578616d706c65"
        ),
        "nonce": ("98c1345ff38a554b429b428b0f206cfe4f3892f8041995f2c24873d90e84488d"),
        "token_request": (
            "00020892d26a271c0104657ba10c0b5cb2827bb209d86e80027f96bfb861e0f40cb897f0fc42"
            "6498433141ce9bc8b4a95914fefe4e40bdd3802a121cb0b59a4ae7e03255275c4abf071d991c"
            "82ead402606c0ef912178b0a0f68d303e06a966079230592827b84979dbcb5f21ab8904e9908"
            "638ddf705c4f8af8a053c19a66090726b60c6b4063976e4c66eab33522dd3f9d64828441db4a"
            "a82d55adcc3d3920592884cd1e5a3f490d5c81f1306705dcc5c61d82373f1dbd7d2ae4b2fea0"
            "f7339f5d868415f59312766e3074ee4a7305f5f053da82673ee6747a727a26d8d10ea1b1a349"
            "1d26b0c38b962c02a774ac78932153aae9dcc98a9b1db1f5389644682f7727"
        ),
        "token_response": (
            "113a5124c1aef6fc230d9fc42b789226f45ca941aad4da3f48cf37c7744a8d7fd1dcfd71cd39"
            "d09e9324760180ea0bade3360efaf7322a1fa15f41247be3857fde8c5c92ec6d67a7ee33be8f"
            "dadf8b27bb0db706117448e55bce9927cb6bfb1f87f9edb054181a4558af0c0d3973d7033b95"
            "99e674c20cf08a7bbcf0da815a2edaab7c4fb80dee4ea2cc53576a9691e857da931c6c592d2c"
            "69dd21afda8ea653dd90157adfe80e2375c08e75beb497df8b7b73192fbbd4e80359d9bbaece"
            "a14e0acebdda92596f71ec1d57e26b6497b3152976bc07a4409148cb84389eb207fb8e841106"
            "012408c6e19b4f964008b6a909aaab767a661a061c97da1643040455"
        ),
        "token": (
            "000298c1345ff38a554b429b428b0f206cfe4f3892f8041995f2c24873d90e84488d11e15c91"
            "a7c2ad02abd66645802373db1d823bea80f08d452541fb2b62b5898bca572f8982a9ca248a30"
            "56186322d93ca147266121ddeb5632c07f1f71cd27083350a206c5e9b7c0898f97611ce0bb8d"
            "74d310bb194ab67e094e32ff6da90886924b1b9e7b569402c1101d896d2fc3a7371ef77f0231"
            "0db1dc9f81c8535828c2d0e9d9051720d182cd54e1c2c3bf417da2fc7aa72bb70ccc834ef274"
            "a2e809c9821b3d395d6535423f7428b3f29175d6eb840b4b7685336e57e2b6afeaabc0c17ea4"
            "f557e8a9cc2f624e245c6ccd7cbdd6c32c97c5c6974e802f688e2d25f0aba4215f609f692244"
            "517d5d3407e0172273982c001c158f5fcbe1b5d2447c26a87e89f5a9e72b498b0c59ce749823"
            "d2cf253d3cf6cd4e64fa0e434d95e488789247a9ceed756ff4ff33a8d2402c0db381236d3310"
            "92838b608a42002552092897"
        ),
    },
    {
        "token_challenge": (
            "0002000e6973737565722e6578616d706c65000017666f6f2e6578616d706c652c6261722e65"
            "78616d706c65"
        ),
        "nonce": ("9e7a22bdc5d715682434cebc07eb5fa53f622f776a17a6d91757af1592df0e71"),
        "token_request": (
            "0002080f6bd84fba1822c577c8cd670f1136cca107f84ddd9d405d5ed22ad15da975538f0314"
            "33bad4a2688999732927efe2928d4c132389a122f40b639b083d6fcbbed7a55fb18db536d2dc"
            "baefe6dc0a70730e6565b08a7dfd783913a59f37d798de0cfc262c9e90a7ee884a3ec355eacb"
            "d44e5f6779fea6a785b05ac352fdd51a116cf2be1d8e38b0bfacd6a3d53a88c99f747cce908f"
            "86b33562691f540e3e88562092cd17cc2f78ce0fb53312a5f2dc918bdb1dc90d9d65091c7ba9"
            "080ccc1755cb5437989364dc92f0e8fea18f66d631451feb02a3d68af41de1a3f9be925dda5c"
            "4ca0706fc4ca28b3317e939f6573442c6d03be17cd141fa8260d382d134c6b"
        ),
        "token_response": (
            "2dd08ce89cf4f62bc236ab7b75266e13c57c750345e328e0bea107537c4cbeea5bfc99071695"
            "0440628ea2e37dbc5c9c6d84f9a965cbf0cbfffb89516b1fd19a90d69cc52a28890bbdcf782f"
            "56aefadad85b6e861a74170ce910891c89e4293f37978dbd41cc8b5c68802de3d86d9f0326b9"
            "c22b8095122458966a6ddd1aeb3828d239c3b359efc9b375390eb19050d5656c2b084304d9bd"
            "8a81614f631bf82a7e4588413b44a0cb6d94e942fa134790b396cb71e3ed33b557b5bd0734e7"
            "26fa79abdca8694703b81d0e289b749801d4383e0d4f825dcde0dd98c43d3ba81c028dd8833a"
            "4fc24961f60e118d4421dce5b611d53e9ca96156a52509bfa9afeb7e"
        ),
        "token": (
            "00029e7a22bdc5d715682434cebc07eb5fa53f622f776a17a6d91757af1592df0e710042eee4"
            "5ac4dd5acb8f6e65c4d8dd47504f73f7463507ef96a4d7227d2774f3ca572f8982a9ca248a30"
            "56186322d93ca147266121ddeb5632c07f1f71cd270815b010bbc0d5f55e9c856d2e9ffaefba"
            "007d33c2d5452fbeb0b15919b973e0dc9180aaeb18242043758d9fb0ac9ac5e04da9ff74ec93"
            "644ae6cdb7068ea76ce2295b9b95e383ed3a9856e9f618dafdf4cec5d2b53ea4297c2f3990ba"
            "bca71e3ccd6c07a437daae7ed27b6b81178fb7ce5fa5dd63781cc64ac1e410f441c034b0a5cc"
            "873a2ce875e8b38c92bab563635c4f8f4fa35d1f582ef19edf7da75aa11a503a82e32a12bd4d"
            "a41e0ca7ec7f451caf586f5b910003fcbbb9ff5ffa2408c28d6807737d03da651ea9bfafcc27"
            "47a6830e19a1d160fcd5c25d2f79dad86a8b3de8e926e08ca1addced72977f7b56398ef59c26"
            "e725df0a976a08f2a936ca42"
        ),
    },
    {
        "token_challenge": ("0002000e6973737565722e6578616d706c65000000"),
        "nonce": ("494dae41fc7e300c2d09990afcd5d5e1fc95305337dc12f78942c45340bfe8e6"),
        "token_request": (
            "000208244840027ca8c620f8b14caded9a198ba388ccd8541e962f68a0071535d958d18494af"
            "d0bc11da4da8c8b33864f5a8f623b697cd56348594e11a75479048a72c0ed179b070506c09a7"
            "eb6ed3582f572df38cf60fcde11a52c5ce6d7b23435b60200ad9f66d21f40f323c9aa54307d0"
            "b966d4457c37542b66bb183ddeafca914fc74831698b5d52f498ee3d165685f49a8d86e39fe6"
            "c4b7ec678f5250908d25e5b873c69b422368121aa4210cadd6fc640907d3cb9a7a3e827a0e74"
            "2470f00c2f49dc6c0e8cc9470dbfd73df0ccbb96c10b02af0dd7dee719eca11ff8e1b4929e59"
            "f3cf319de9bda29a6d968b43083b5d4242f3448d76ada08b8014f70b97e719"
        ),
        "token_response": (
            "c2746ff644cffb28a2c19395fa19dfb61fd135daa837844fbf9fbe06c253e64e69f53aefddc0"
            "fb4833b1b5e58f571134a34f245499c3e73419549c2c9111cf94f2f68fea3996d47f71e8d8d6"
            "fc5b1c074bf74fa59de4cbf32f5f08d45ea45492f0279c3b1a8d852698edbe1651eb8e09eb22"
            "3a27386c0feb2f6a8260235edb36cf433da518100829b63166284b325d87fc941ea3bafe7b67"
            "61b7082e09397837f74b4f0fc838bce8af7242089dd5561f57735926bcbad219fc9fee85ae49"
            "a8e8951f63ca194b7ff018c06ee02267e7267bb996432dc76973819da80e3e86947b0a4b36d3"
            "a972dafaaa3db0e1044b325f02c679996d9bcd3ce51390d54bc10b8c"
        ),
        "token": (
            "0002494dae41fc7e300c2d09990afcd5d5e1fc95305337dc12f78942c45340bfe8e6b741ec1b"
            "6fd05f1e95f8982906aec1612896d9ca97d53eef94ad3c9fe023f7a4ca572f8982a9ca248a30"
            "56186322d93ca147266121ddeb5632c07f1f71cd2708a55c83dc04292b5d92add1a87b37e54f"
            "22f61c58840586f390c50b231824423378ddcf50e69dc817d45bfad06c7f2a0ac35d2acd7f26"
            "b0bc9954c192b0a0ef28a2a5650e390098dd3cb1166a7cb1716d3dd2d19dc5ca3b1ea6206359"
            "de0002d82bc4fa7e69fb07214b06addcbd2203d1e17f57fc580bcc5a13e0ac15cf942182cc2b"
            "5d6eaa737a712704114e357e2ec2f10047463ded02a1a0766dc346dd7212b9711e03ac95eb25"
            "8ac1164104dc9a0d3e738ae742ab5ed8c5139fc07145a788b9f891741ee68f0a66782b7b84a9"
            "bb4cb4b3d1b26b67106f397b35b641d882d7b0185168946de898ef72349a44a47dbdd6d46e9b"
            "a9ba543d5701b65c63d645c2"
        ),
    },
    {
        "token_challenge": (
            "0002000e6973737565722e6578616d706c65208e7acc900e393381e8810b7c9e4a68b5163f1f"
            "880ab6688a6ffe780923609e880000"
        ),
        "nonce": ("a1aa8b371c37c9a8ddbd7342ab4f9dd5227d5b1600dca6517b60f63143cd43a3"),
        "token_request": (
            "0002083d6495c72529bbc4f5c0b49e94e4561baec1ca638a93b2940ea9e37b838db7b1a91ec1"
            "f257d49b45c4f75119c2ab9eb5578541ad2b9bac1bd627abc709097f503f83d98fed6dbeb615"
            "c3be9bf09cbf8ea25ea8026c1b8ba1c704ff516ed87c3d7d85342fd00111d8a80492d4b8fdbb"
            "092a282f74f13901e5edc1b3b02cfe24c950affe6130fbb57c1482d674db3c6944812ba081c2"
            "235a16d01eeec0932a8619d85732fc3e36179f0b50377bf9cb7a50ce3abeb3f31ed5f0f3deec"
            "7aae7290f5397cec61318357d652b029a0fda0f100a78e36c4ef56ba3779963e8745fdf4e347"
            "763c63d825836878e249833a0f4bd315392cc06ccca2c955e921efbc4f941d"
        ),
        "token_response": (
            "8db727000018a98a2fe9fda8bbde5b8e9cedc31efbcaed6950eb1e0f8d9af9db632def52f74f"
            "07cdab304bbde40519080dd0388fb2b8900528b4791d2bca40aa2c2a6d1b92f010c1849bfb78"
            "1cc813cc204855dd05e8a2dd31ea5220981b8ab6b008e153083dc8f594206440d66286fea9c2"
            "1b56807be8655506ab7818bb9c8c69489dda56fe6390a5397268c8b5711f9d2df6f2584740cc"
            "cf0345fd67f93f345426f33c078a0aceb90845df9eef74f6248d06c36d19e191da325b721ddc"
            "12ea78ed37b0c3b6170590536e3aee7eb0efc7d11a2c9d072a394f12ffa67ecf316c49efd8f3"
            "1723b11fe46740636bd89ad4f7ef96bc38b2cb4916d9dc04ba1b2fc6"
        ),
        "token": (
            "0002a1aa8b371c37c9a8ddbd7342ab4f9dd5227d5b1600dca6517b60f63143cd43a3bb8a8cf1"
            "c59e7a251358ed76fe0ccff61044bc79dd261f16020324d22f2d434cca572f8982a9ca248a30"
            "56186322d93ca147266121ddeb5632c07f1f71cd27082899f4bc385b4147a650a3e7efc7d23a"
            "743cb944bb53e2ed8b88ee03a9c0b1cf1f73fd7f15c1bd1f850a5a96a34d4ee9f295543f30ac"
            "920825e9a0ce26e924f2c145583019dd14408c565b660e8b702fbea559908b1a8c8f9d21ef22"
            "f7cc6a4641c57c146e6c5497d2890ca230a6749f5f83a8fdd79eba0722f10dff9e81a2fb2d05"
            "fa4d989acc2e93f595ae69c98c3daa3b169efcdd6e59596b2f049f16ba49528761f661032da6"
            "5a3ee0fe8a22409766e90daf8c60323c16522818c49273c795f26bbab306dc63cfc16fe1702a"
            "f2464028cf819cc647d6f9b8a8f54d7d6585a268fdb8c75f76618c64aba266836a3b2db7cdd7"
            "39815a021d7ff2b36ef91f23"
        ),
    },
]

SHARED_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9578-type2-issuance.json"

PKS = bytes.fromhex(PKS_HEX)
# RFC 9577 Appendix A.1 lists this id for the same key.
PKS_KEY_ID = bytes.fromhex("ca572f8982a9ca248a3056186322d93ca147266121ddeb5632c07f1f71cd2708")

# RFC 9577 Appendix A.2: WWW-Authenticate values, unfolded. The first offers one
# type 0x0002 challenge; the second adds a type 0x0001 one; the third holds Basic,
# a grease challenge (type 0x0000) and a type 0x0001 challenge.
RFC9577_KEY_B64 = (
    "MIIBUjA9BgkqhkiG9w0BAQowMKANMAsGCWCGSAFlAwQCAqEaMBgGCSqGSIb3DQEBCDALBglghkgBZQMEAgKiAwIB"
    "MAOCAQ8AMIIBCgKCAQEAyxrta2qV9bHOATpM_KsluUsuZKIwNOQlCn6rQ8DfOowSmTrxKxEZCNS0cb7DHUtsmtnN"
    "2pBhKi7pA1I-beWiJNawLwnlw3TQz-Adj1KcUAp4ovZ5CPpoK1orQwyB6vGvcte155T8mKMTknaHl1fORTtSbvm_"
    "bOuZl5uEI7kPRGGiKvN6qwz1cz91l6vkTTHHMttooYHGy75gfYwOUuBlX9mZbcWE7KC-h6-814ozfRex26noKLvY"
    "HikTFxROf_ifVWGXCbCWy7nqR0zq0mTCBz_kl0DAHwDhCRBgZpg9IeX4PwhuLoI8h5zUPO9wDSo1Kpur1hLQPK0C"
    "2xNLfiJaXwIDAQAB"
)
RFC9577_TYPE2 = (
    'PrivateToken challenge="AAIADmlzc3Vlci5leGFtcGxlIIo-g6M9mABdLzC-9Bn6a_TNXGAF42sShbu0zNQPpL'
    'ODAA5vcmlnaW4uZXhhbXBsZQ==", token-key="' + RFC9577_KEY_B64 + '",unknownChallengeAttribute'
    '="ignore-me", max-age="10"'
)
RFC9577_TYPE1 = (
    'PrivateToken challenge="AAEADmlzc3Vlci5leGFtcGxlIIo-g6M9mABdLzC-9Bn6a_TNXGAF42sShbu0zNQPpL'
    'ODAA5vcmlnaW4uZXhhbXBsZQ==", token-key="67H-0zgxA2HAjQx1dpaWcSluBemaF9eSbfwopT-r1In6wPgryo'
    'YkmmaPOlv6s3TJ",unknownChallengeAttribute="ignore-me", max-age="10"'
)
RFC9577_GREASE = (
    'Basic realm="grease", PrivateToken challenge="AACsw7JXlcY2_Z3YsSmCOUq7qHd9NZeOh3_IhIiSohcj'
    'MEWsJaPVXAfFTv5jcpc_7gBz53_GG_GauIDyDt9dYnUC",token-key="hW3jxxC4kufMoa5esSGvQsqOd5E3oRIkI'
    "oybmbBym_hNUFfQMAADCbjw0GzP-hdWH56s1MMS6YWmvGD_vqBhAmTcsXJiVTE9qB1mVpJoah2GRPFRa_YSzqAJ5t_"
    '22ampWftTjhtbI0PAkpkpQjgr3eItWzJLHkYY7SHXgGKGws4=",' + RFC9577_TYPE1
)
RFC9577_CHALLENGE = bytes.fromhex(
    "0002000e6973737565722e6578616d706c65208a3e83a33d98005d2f30bef419fa6bf4cd5c6005e36b1285bbb4"
    "ccd40fa4b383000e6f726967696e2e6578616d706c65"
)

# RFC 9577 Appendix A.1, vectors 1 to 5: challenge fields and the resulting
# AuthenticatorInput, for one nonce and key.
RFC9577_NONCE = bytes.fromhex("e01978182c469e5e026d66558ee186568614f235e41ef7e2378e6f202688abab")
RFC9577_CONTEXT = bytes.fromhex("476ac2c935f458e9b2d7af32dacfbd22dd6023ef5887a789f1abe004e79bb5bb")
RFC9577_DIGESTS = [
    # (redemption_context, origin_info, challenge_digest inside token_authenticator_input)
    (
        RFC9577_CONTEXT,
        ("origin.example",),
        "8e1d5518ec82964255526efd8f9db88205a8ddd3ffb1db298fcc3ad36c42388f",
    ),
    (b"", ("origin.example",), "11e15c91a7c2ad02abd66645802373db1d823bea80f08d452541fb2b62b5898b"),
    (b"", (), "b741ec1b6fd05f1e95f8982906aec1612896d9ca97d53eef94ad3c9fe023f7a4"),
    (RFC9577_CONTEXT, (), "b85fb5bc06edeb0e8e8bdb5b3bea8c4fa40837c82e8bcaf5882c81e14817ea18"),
    (
        RFC9577_CONTEXT,
        ("foo.example", "bar.example"),
        "a2a775866b6ae0f98944910c8f48728d8a2735b9157762ddbf803f70e2e8ba3e",
    ),
]
# RFC 9577 Appendix A.1, vector 6: a grease challenge of type 0x0000 and random bytes.
RFC9577_GREASE_INPUT = bytes.fromhex(
    "000058405ad31e286e874cb42d0ef9d50461ae703bb71a21178beb429c43c0effe587456d856f0f2bdfc216ef9"
    "3d5c225e2a93e84cb686e63919788087f7ab1054aa817f09dcb919a0ed6f90fe887e8b08cd1eee44d5be8d813e"
    "da9f2656db61c932db8d73f8690604ded0120157923bbd19d5549e639e4de07530aee1d370f5187b678685715b"
    "d878dde24346751eb532a87b71ea40bbe5a13218658e303c648eb03817453690bfcbe8255081bf27ff0891cd02"
    "ee2483e48a2c494bdef696f943fa992a65303292c25d0d3f62da86a70d0b020f0ff5b90d0ff0f6abdb097d321f"
    "de04f3a1994e63bcd35a88c21236c7dc67600482223f54b25e39a250439f27ecb5ae9eb8ed548a3ec1f1d6f510"
    "d08281929c8fe088342959e35ea9b3b6f6a96fc1a8edba4ed297f4cf02d0e4482b79a11f671745d7b7db120edd"
    "d8a4c2b6501bbc895b2160b8071615d9c1b18f32e056bfee29deac6a7d6cf7b522a5badd63b9cb"
)

VECTOR = {name: bytes.fromhex(value) for name, value in ISSUANCE_VECTORS[0].items()}
CHALLENGE = pp.TokenChallenge.decode(VECTOR["token_challenge"])
TOKEN = pp.Token.decode(VECTOR["token"])

# The id-RSASSA-PSS AlgorithmIdentifier of RFC 9578 section 6.5, as in PKS.
PSS_ALGORITHM = bytes.fromhex(
    "303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108"
    "300b0609608648016503040202a203020130"
)
SHA384_OID = bytes.fromhex("0609608648016503040202")
SHA256_OID = bytes.fromhex("0609608648016503040201")
PSS_OID = bytes.fromhex("06092a864886f70d01010a")
MGF1_OID = bytes.fromhex("06092a864886f70d010108")


def code_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(AgeVerifyError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def b64(data: bytes) -> str:
    """Padded base64url, as RFC 9577 sends it."""
    return base64.urlsafe_b64encode(data).decode()


def der(tag: int, content: bytes) -> bytes:
    """One DER element; lengths up to 65535 bytes."""
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    if len(content) < 0x100:
        return bytes([tag, 0x81, len(content)]) + content
    return bytes([tag, 0x82]) + len(content).to_bytes(2, "big") + content


def der_uint(value: int) -> bytes:
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def pss_algorithm(hash_oid: bytes, *, salt: int = 48, null_params: bool = False) -> bytes:
    """An id-RSASSA-PSS AlgorithmIdentifier with the given hash, for MGF1 as well."""
    hash_alg = der(0x30, hash_oid + (b"\x05\x00" if null_params else b""))
    params = der(
        0x30,
        der(0xA0, hash_alg)
        + der(0xA1, der(0x30, MGF1_OID + hash_alg))
        + der(0xA2, der(0x02, bytes([salt]))),
    )
    return der(0x30, PSS_OID + params)


def spki(algorithm: bytes, n: int, e: int = 65537, *, rsa_key: bytes | None = None) -> bytes:
    """A SubjectPublicKeyInfo; ``rsa_key`` replaces the RSAPublicKey DER if given."""
    key = rsa_key if rsa_key is not None else der(0x30, der_uint(n) + der_uint(e))
    return der(0x30, algorithm + der(0x03, b"\x00" + key))


PKS_NUMBERS = load_der_public_key(PKS).public_numbers()  # type: ignore[union-attr]
N, E = PKS_NUMBERS.n, PKS_NUMBERS.e  # type: ignore[union-attr]


# --- RFC vectors ----------------------------------------------------------------


def test_embedded_vectors_match_the_shared_file() -> None:
    shared = json.loads(SHARED_VECTORS.read_text())
    assert [{name: vector[name] for name in ISSUANCE_VECTORS[0]} for vector in shared] == (
        ISSUANCE_VECTORS
    )
    assert {vector["pkS"] for vector in shared} == {PKS_HEX}


@pytest.mark.parametrize("index", range(len(ISSUANCE_VECTORS)))
def test_issuance_vector_structures_round_trip(index: int) -> None:
    vector = {name: bytes.fromhex(value) for name, value in ISSUANCE_VECTORS[index].items()}
    challenge = pp.TokenChallenge.decode(vector["token_challenge"])
    request = pp.TokenRequest.decode(vector["token_request"])
    response = pp.TokenResponse.decode(vector["token_response"])
    token = pp.Token.decode(vector["token"])
    assert challenge.encode() == vector["token_challenge"]
    assert request.encode() == vector["token_request"]
    assert response.encode() == vector["token_response"]
    assert token.encode() == vector["token"]
    assert challenge.issuer_name == "issuer.example"
    assert token.nonce == vector["nonce"]


@pytest.mark.parametrize("index", range(len(ISSUANCE_VECTORS)))
def test_issuance_vector_ids_and_digests(index: int) -> None:
    vector = {name: bytes.fromhex(value) for name, value in ISSUANCE_VECTORS[index].items()}
    token = pp.Token.decode(vector["token"])
    request = pp.TokenRequest.decode(vector["token_request"])
    key_id = pp.token_key_id(pp.decode_pss_spki(PKS))
    assert key_id == hashlib.sha256(PKS).digest() == PKS_KEY_ID == token.token_key_id
    assert request.truncated_token_key_id == key_id[-1] == pp.truncated_token_key_id(key_id)
    challenge = pp.TokenChallenge.decode(vector["token_challenge"])
    assert pp.challenge_digest(challenge) == hashlib.sha256(vector["token_challenge"]).digest()
    assert token.challenge_digest == pp.challenge_digest(challenge)


@pytest.mark.parametrize("index", range(len(ISSUANCE_VECTORS)))
def test_issuance_vector_authenticator_verifies(index: int) -> None:
    token = pp.Token.decode(bytes.fromhex(ISSUANCE_VECTORS[index]["token"]))
    message = pp.token_input(token)
    assert message == bytes.fromhex(ISSUANCE_VECTORS[index]["token"])[: 2 + 32 + 32 + 32]
    # cryptography reads the PSS SPKI itself: an independent parse of the key.
    public_key = load_der_public_key(PKS)
    assert isinstance(public_key, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    public_key.verify(token.authenticator, message, pss, hashes.SHA384())
    forged = dataclasses.replace(token, nonce=bytes(32))
    with pytest.raises(InvalidSignature):
        public_key.verify(token.authenticator, pp.token_input(forged), pss, hashes.SHA384())


@pytest.mark.parametrize(("context", "origins", "digest"), RFC9577_DIGESTS)
def test_rfc9577_authenticator_inputs(
    context: bytes, origins: tuple[str, ...], digest: str
) -> None:
    challenge = pp.TokenChallenge(
        issuer_name="issuer.example", redemption_context=context, origin_info=origins
    )
    assert pp.challenge_digest(challenge).hex() == digest
    assert pp.authenticator_input(RFC9577_NONCE, bytes.fromhex(digest), PKS_KEY_ID) == (
        b"\x00\x02" + RFC9577_NONCE + bytes.fromhex(digest) + PKS_KEY_ID
    )
    assert pp.TokenChallenge.decode(challenge.encode()) == challenge


def test_rfc9577_grease_challenge_is_unsupported() -> None:
    code = code_of(pp.TokenChallenge.decode, RFC9577_GREASE_INPUT)
    assert code == "privacypass-unsupported-token-type"


def test_decoded_challenge_fields() -> None:
    assert CHALLENGE.token_type == 2
    assert CHALLENGE.origin_info == ("origin.example",)
    assert len(CHALLENGE.redemption_context) == 32
    decoded = [
        pp.TokenChallenge.decode(bytes.fromhex(vector["token_challenge"]))
        for vector in ISSUANCE_VECTORS
    ]
    assert [(len(c.redemption_context), c.origin_info) for c in decoded] == [
        (32, ("origin.example",)),
        (0, ("origin.example",)),
        (0, ("foo.example", "bar.example")),
        (0, ()),
        (32, ()),
    ]


# --- Token keys -----------------------------------------------------------------


def test_encode_pss_spki_matches_the_rfc_encoding() -> None:
    key = load_der_public_key(PKS)
    assert isinstance(key, rsa.RSAPublicKey)
    assert pp.encode_pss_spki(key) == PKS
    assert PKS[4 : 4 + len(PSS_ALGORITHM)] == PSS_ALGORITHM
    decoded = pp.decode_pss_spki(PKS)
    assert decoded.public_numbers() == key.public_numbers()


def test_rsa_encryption_spki_gives_another_id() -> None:
    key = pp.decode_pss_spki(PKS)
    plain = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(plain).digest() != pp.token_key_id(key)
    assert code_of(pp.decode_pss_spki, plain) == "privacypass-bad-token-key"


def test_generated_key_round_trips() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    encoded = pp.encode_pss_spki(key)
    assert pp.decode_pss_spki(encoded).public_numbers() == key.public_numbers()
    assert pp.token_key_id(key) == hashlib.sha256(encoded).digest()
    loaded = load_der_public_key(encoded)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == key.public_numbers()


def test_keys_of_other_sizes_and_kinds_are_refused() -> None:
    small = rsa.RSAPublicNumbers(65537, (N >> 1024) | 1).public_key()
    assert code_of(pp.encode_pss_spki, small) == "privacypass-bad-token-key"
    assert code_of(pp.encode_pss_spki, "not a key") == "privacypass-bad-token-key"


MODULUS = N.to_bytes(256, "big")
BAD_SPKIS = {
    "empty": b"",
    "truncated": PKS[:-1],
    "trailing_byte": PKS + b"\x00",
    "null_hash_parameters": spki(pss_algorithm(SHA384_OID, null_params=True), N),
    "sha256": spki(pss_algorithm(SHA256_OID, salt=32), N),
    "salt_32_with_sha384": spki(pss_algorithm(SHA384_OID, salt=32), N),
    "salt_0_pss_zero": spki(pss_algorithm(SHA384_OID, salt=0), N),
    "rsa_encryption": spki(der(0x30, bytes.fromhex("06092a864886f70d0101010500")), N),
    "modulus_1024_bits": spki(PSS_ALGORITHM, N >> 1024),
    "modulus_4096_bits": spki(PSS_ALGORITHM, (N << 2048) | 1),
    "modulus_2047_bits": spki(PSS_ALGORITHM, N >> 1),
    "modulus_padded_with_zero": spki(
        PSS_ALGORITHM, 0, rsa_key=der(0x30, der(0x02, b"\x00\x00" + MODULUS) + der_uint(E))
    ),
    "modulus_negative": spki(PSS_ALGORITHM, 0, rsa_key=der(0x30, der(0x02, MODULUS) + der_uint(E))),
    "exponent_long_form_length": spki(
        PSS_ALGORITHM, 0, rsa_key=der(0x30, der_uint(N) + b"\x02\x81\x03\x01\x00\x01")
    ),
    "exponent_one": spki(PSS_ALGORITHM, N, 1),
    "exponent_even": spki(PSS_ALGORITHM, N, 65536),
    "exponent_missing": spki(PSS_ALGORITHM, 0, rsa_key=der(0x30, der_uint(N))),
    "extra_integer": spki(
        PSS_ALGORITHM, 0, rsa_key=der(0x30, der_uint(N) + der_uint(E) + der_uint(1))
    ),
    "bit_string_unused_bits": der(
        0x30, PSS_ALGORITHM + der(0x03, b"\x01" + der(0x30, der_uint(N) + der_uint(E)))
    ),
    "octet_string_not_bit_string": der(
        0x30, PSS_ALGORITHM + der(0x04, b"\x00" + der(0x30, der_uint(N) + der_uint(E)))
    ),
    "outer_length_three_octets": b"\x30\x83\x00\x01\x52" + PKS[4:],
}


@pytest.mark.parametrize("name", sorted(BAD_SPKIS))
def test_bad_token_keys(name: str) -> None:
    assert code_of(pp.decode_pss_spki, BAD_SPKIS[name]) == "privacypass-bad-token-key"


def test_the_bad_key_table_differs_from_the_good_key_only_by_its_defect() -> None:
    # The builders above, given the right inputs, produce the RFC's bytes.
    assert spki(PSS_ALGORITHM, N, E) == PKS
    assert pss_algorithm(SHA384_OID) == PSS_ALGORITHM


def test_decode_pss_spki_refuses_non_bytes() -> None:
    assert code_of(pp.decode_pss_spki, PKS.hex()) == "privacypass-bad-token-key"


@given(st.binary(max_size=400))
def test_decode_pss_spki_only_raises_coded_errors(data: bytes) -> None:
    try:
        pp.decode_pss_spki(data)
    except AgeVerifyError as error:
        assert error.code == "privacypass-bad-token-key"


@given(st.integers(min_value=0, max_value=len(PKS) - 1), st.integers(min_value=1, max_value=255))
def test_every_changed_byte_of_the_key_is_refused_or_another_key(position: int, xor: int) -> None:
    mutated = bytearray(PKS)
    mutated[position] ^= xor
    try:
        key = pp.decode_pss_spki(bytes(mutated))
    except AgeVerifyError as error:
        assert error.code == "privacypass-bad-token-key"
    else:
        # Only the modulus or exponent can change and still decode: to another key.
        assert key.public_numbers() != PKS_NUMBERS
        assert pp.encode_pss_spki(key) == bytes(mutated)


# --- Binary structures: bad input -----------------------------------------------


def challenge_bytes(
    *,
    token_type: bytes = b"\x00\x02",
    issuer: bytes = b"issuer.example",
    context: bytes = b"",
    origins: bytes = b"origin.example",
) -> bytes:
    """A TokenChallenge built by hand, lengths from the fields."""
    return (
        token_type
        + len(issuer).to_bytes(2, "big")
        + issuer
        + len(context).to_bytes(1, "big")
        + context
        + len(origins).to_bytes(2, "big")
        + origins
    )


GOOD_CHALLENGE = challenge_bytes()
BAD_CHALLENGES = {
    "empty": (b"", "privacypass-malformed"),
    "one_byte": (b"\x00", "privacypass-malformed"),
    "token_type_1": (challenge_bytes(token_type=b"\x00\x01"), "privacypass-unsupported-token-type"),
    "token_type_0_grease": (RFC9577_GREASE_INPUT, "privacypass-unsupported-token-type"),
    "token_type_0x0200": (
        challenge_bytes(token_type=b"\x02\x00"),
        "privacypass-unsupported-token-type",
    ),
    "trailing_byte": (GOOD_CHALLENGE + b"\x00", "privacypass-malformed"),
    "truncated_origin": (GOOD_CHALLENGE[:-1], "privacypass-malformed"),
    "truncated_in_issuer": (GOOD_CHALLENGE[:10], "privacypass-malformed"),
    "no_origin_length": (GOOD_CHALLENGE[: -len(b"origin.example") - 2], "privacypass-malformed"),
    "issuer_empty": (challenge_bytes(issuer=b""), "privacypass-malformed"),
    "issuer_with_userinfo": (
        challenge_bytes(issuer=b"user@issuer.example"),
        "privacypass-malformed",
    ),
    "issuer_with_path": (challenge_bytes(issuer=b"issuer.example/x"), "privacypass-malformed"),
    "issuer_with_space": (challenge_bytes(issuer=b"issuer example"), "privacypass-malformed"),
    "issuer_not_ascii": (
        challenge_bytes(issuer="émetteur.example".encode()),
        "privacypass-malformed",
    ),
    "issuer_nul": (challenge_bytes(issuer=b"issuer.example\x00"), "privacypass-malformed"),
    "context_16_bytes": (challenge_bytes(context=bytes(16)), "privacypass-malformed"),
    "context_31_bytes": (challenge_bytes(context=bytes(31)), "privacypass-malformed"),
    "context_33_bytes": (challenge_bytes(context=bytes(33)), "privacypass-malformed"),
    "context_length_over_data": (
        GOOD_CHALLENGE[:18] + b"\x20" + bytes(5),
        "privacypass-malformed",
    ),
    "origin_empty_entry": (
        challenge_bytes(origins=b"a.example,,b.example"),
        "privacypass-malformed",
    ),
    "origin_leading_comma": (challenge_bytes(origins=b",a.example"), "privacypass-malformed"),
    "origin_trailing_comma": (challenge_bytes(origins=b"a.example,"), "privacypass-malformed"),
    "origin_only_comma": (challenge_bytes(origins=b","), "privacypass-malformed"),
    "origin_with_space": (
        challenge_bytes(origins=b"a.example, b.example"),
        "privacypass-malformed",
    ),
    "origin_not_ascii": (challenge_bytes(origins="ü.example".encode()), "privacypass-malformed"),
}


@pytest.mark.parametrize("name", sorted(BAD_CHALLENGES))
def test_bad_token_challenges(name: str) -> None:
    data, code = BAD_CHALLENGES[name]
    assert code_of(pp.TokenChallenge.decode, data) == code


def test_good_hand_built_challenge_decodes() -> None:
    challenge = pp.TokenChallenge.decode(GOOD_CHALLENGE)
    assert challenge == pp.TokenChallenge(
        issuer_name="issuer.example", origin_info=("origin.example",)
    )
    port = challenge_bytes(issuer=b"issuer.example:8443", origins=b"[2001:db8::1]:443,a.example")
    assert pp.TokenChallenge.decode(port).origin_info == ("[2001:db8::1]:443", "a.example")


GOOD_REQUEST = bytes.fromhex(ISSUANCE_VECTORS[0]["token_request"])
BAD_REQUESTS = {
    "empty": (b"", "privacypass-malformed"),
    "one_byte": (b"\x00", "privacypass-malformed"),
    "type_only": (b"\x00\x02", "privacypass-malformed"),
    "one_byte_short": (GOOD_REQUEST[:-1], "privacypass-malformed"),
    "trailing_byte": (GOOD_REQUEST + b"\x00", "privacypass-malformed"),
    "token_type_1": (b"\x00\x01" + GOOD_REQUEST[2:], "privacypass-unsupported-token-type"),
    "token_type_1_voprf_length": (
        b"\x00\x01\x08" + bytes(49),
        "privacypass-unsupported-token-type",
    ),
    "token_type_0xffff": (b"\xff\xff" + GOOD_REQUEST[2:], "privacypass-unsupported-token-type"),
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_token_requests(name: str) -> None:
    data, code = BAD_REQUESTS[name]
    assert code_of(pp.TokenRequest.decode, data) == code


@pytest.mark.parametrize("length", [0, 1, 255, 257, 512])
def test_bad_token_responses(length: int) -> None:
    assert code_of(pp.TokenResponse.decode, bytes(length)) == "privacypass-malformed"


GOOD_TOKEN = bytes.fromhex(ISSUANCE_VECTORS[0]["token"])
BAD_TOKENS = {
    "empty": (b"", "privacypass-malformed"),
    "one_byte": (b"\x00", "privacypass-malformed"),
    "one_byte_short": (GOOD_TOKEN[:-1], "privacypass-malformed"),
    "trailing_byte": (GOOD_TOKEN + b"\x00", "privacypass-malformed"),
    "without_authenticator": (GOOD_TOKEN[:98], "privacypass-malformed"),
    "token_type_1": (b"\x00\x01" + GOOD_TOKEN[2:], "privacypass-unsupported-token-type"),
    "token_type_1_voprf_length": (
        b"\x00\x01" + bytes(32 * 3 + 48),
        "privacypass-unsupported-token-type",
    ),
    "token_type_0": (b"\x00\x00" + GOOD_TOKEN[2:], "privacypass-unsupported-token-type"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_tokens(name: str) -> None:
    data, code = BAD_TOKENS[name]
    assert code_of(pp.Token.decode, data) == code


@pytest.mark.parametrize(
    "decode",
    [pp.TokenChallenge.decode, pp.TokenRequest.decode, pp.TokenResponse.decode, pp.Token.decode],
)
@pytest.mark.parametrize("value", [None, "0002", 2, [0, 2]])
def test_decode_refuses_non_bytes(decode, value) -> None:  # type: ignore[no-untyped-def]
    assert code_of(decode, value) == "privacypass-malformed"


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert pp.Token.decode(bytearray(GOOD_TOKEN)) == TOKEN
    assert pp.Token.decode(memoryview(GOOD_TOKEN)) == TOKEN
    assert type(pp.Token.decode(bytearray(GOOD_TOKEN)).nonce) is bytes


BAD_CONSTRUCTIONS = {
    "challenge_token_type_1": (
        lambda: pp.TokenChallenge(token_type=1, issuer_name="i.example"),
        "privacypass-unsupported-token-type",
    ),
    "challenge_token_type_bool": (
        lambda: pp.TokenChallenge(token_type=True, issuer_name="i.example"),  # type: ignore[arg-type]
        "privacypass-malformed",
    ),
    "challenge_empty_issuer": (lambda: pp.TokenChallenge(issuer_name=""), "privacypass-malformed"),
    "challenge_context_bytearray": (
        lambda: pp.TokenChallenge(issuer_name="i.example", redemption_context=bytearray(32)),  # type: ignore[arg-type]
        "privacypass-malformed",
    ),
    "challenge_origin_list": (
        lambda: pp.TokenChallenge(issuer_name="i.example", origin_info=["a.example"]),  # type: ignore[arg-type]
        "privacypass-malformed",
    ),
    "challenge_origin_with_comma": (
        lambda: pp.TokenChallenge(issuer_name="i.example", origin_info=("a.example,b.example",)),
        "privacypass-malformed",
    ),
    "challenge_issuer_too_long": (
        lambda: pp.TokenChallenge(issuer_name="a" * 65536),
        "privacypass-malformed",
    ),
    "challenge_origins_too_long": (
        lambda: pp.TokenChallenge(issuer_name="i.example", origin_info=("a" * 40000, "b" * 40000)),
        "privacypass-malformed",
    ),
    "request_key_id_256": (
        lambda: pp.TokenRequest(truncated_token_key_id=256, blinded_msg=bytes(256)),
        "privacypass-malformed",
    ),
    "request_short_message": (
        lambda: pp.TokenRequest(truncated_token_key_id=1, blinded_msg=bytes(255)),
        "privacypass-malformed",
    ),
    "response_long_signature": (lambda: pp.TokenResponse(bytes(257)), "privacypass-malformed"),
    "token_short_nonce": (
        lambda: dataclasses.replace(TOKEN, nonce=bytes(31)),
        "privacypass-malformed",
    ),
    "token_token_type_1": (
        lambda: dataclasses.replace(TOKEN, token_type=1),
        "privacypass-unsupported-token-type",
    ),
    "token_input_short_key_id": (
        lambda: pp.authenticator_input(bytes(32), bytes(32), bytes(31)),
        "privacypass-malformed",
    ),
    "truncate_short_key_id": (
        lambda: pp.truncated_token_key_id(bytes(31)),
        "privacypass-malformed",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CONSTRUCTIONS))
def test_invalid_values_cannot_be_constructed(name: str) -> None:
    build, code = BAD_CONSTRUCTIONS[name]
    assert code_of(build) == code


def test_structures_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TOKEN.nonce = bytes(32)  # type: ignore[misc]


# --- Binary structures: properties -----------------------------------------------

SERVER_NAMES = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,30}(:[0-9]{1,5})?", fullmatch=True)
CHALLENGES = st.builds(
    pp.TokenChallenge,
    issuer_name=SERVER_NAMES,
    redemption_context=st.one_of(st.just(b""), st.binary(min_size=32, max_size=32)),
    origin_info=st.lists(SERVER_NAMES, max_size=4).map(tuple),
)
TOKENS = st.builds(
    pp.Token,
    nonce=st.binary(min_size=32, max_size=32),
    challenge_digest=st.binary(min_size=32, max_size=32),
    token_key_id=st.binary(min_size=32, max_size=32),
    authenticator=st.binary(min_size=256, max_size=256),
)
REQUESTS = st.builds(
    pp.TokenRequest,
    truncated_token_key_id=st.integers(min_value=0, max_value=255),
    blinded_msg=st.binary(min_size=256, max_size=256),
)
RESPONSES = st.builds(pp.TokenResponse, blind_sig=st.binary(min_size=256, max_size=256))
STRUCTURES = st.one_of(CHALLENGES, TOKENS, REQUESTS, RESPONSES)
STRUCTURE_CODES = {"privacypass-malformed", "privacypass-unsupported-token-type"}
DECODERS: list[Callable[[bytes], Any]] = [
    pp.TokenChallenge.decode,
    pp.TokenRequest.decode,
    pp.TokenResponse.decode,
    pp.Token.decode,
]


@given(STRUCTURES)
def test_structures_round_trip(value) -> None:  # type: ignore[no-untyped-def]
    encoded = value.encode()
    decoded = type(value).decode(encoded)
    assert decoded == value
    assert decoded.encode() == encoded


@given(CHALLENGES)
def test_challenge_encoding_matches_a_hand_built_one(challenge: pp.TokenChallenge) -> None:
    assert challenge.encode() == challenge_bytes(
        issuer=challenge.issuer_name.encode(),
        context=challenge.redemption_context,
        origins=",".join(challenge.origin_info).encode(),
    )
    assert pp.challenge_digest(challenge) == hashlib.sha256(challenge.encode()).digest()


@given(st.binary(max_size=600))
def test_decoders_only_raise_coded_errors(data: bytes) -> None:
    for decode in DECODERS:
        try:
            decoded = decode(data)
        except AgeVerifyError as error:
            assert error.code in STRUCTURE_CODES
        else:
            assert decoded.encode() == data


@given(STRUCTURES, st.data())
def test_mutated_encodings_decode_exactly_or_fail_with_a_code(value, data) -> None:  # type: ignore[no-untyped-def]
    encoded = bytearray(value.encode())
    action = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if action == "flip":
        position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    elif action == "truncate":
        del encoded[data.draw(st.integers(min_value=0, max_value=len(encoded) - 1)) :]
    elif action == "extend":
        encoded += data.draw(st.binary(min_size=1, max_size=40))
    else:
        position = data.draw(st.integers(min_value=0, max_value=len(encoded)))
        encoded[position:position] = data.draw(st.binary(min_size=1, max_size=3))
    try:
        decoded = type(value).decode(bytes(encoded))
    except AgeVerifyError as error:
        assert error.code in STRUCTURE_CODES
    else:
        assert decoded.encode() == bytes(encoded)


@given(TOKENS)
def test_token_input_is_the_prefix_before_the_authenticator(token: pp.Token) -> None:
    assert pp.token_input(token) == token.encode()[:-256]
    assert pp.token_input(token) == b"\x00\x02" + token.nonce + token.challenge_digest + (
        token.token_key_id
    )


# --- WWW-Authenticate -------------------------------------------------------------


def test_rfc9577_header_vector_with_one_challenge() -> None:
    (offered,) = pp.parse_www_authenticate(RFC9577_TYPE2)
    assert offered.challenge.encode() == RFC9577_CHALLENGE
    assert offered.token_key == PKS
    assert offered.max_age == 10


def test_rfc9577_header_vector_with_a_type_1_challenge() -> None:
    offered = pp.parse_www_authenticate(RFC9577_TYPE2 + ", " + RFC9577_TYPE1)
    assert [item.challenge.encode() for item in offered] == [RFC9577_CHALLENGE]


def test_rfc9577_header_vector_with_basic_grease_and_type_1() -> None:
    assert pp.parse_www_authenticate(RFC9577_GREASE) == []


def test_format_www_authenticate_exact_text() -> None:
    header = pp.format_www_authenticate([(CHALLENGE, PKS)], max_age=10)
    challenge_text = b64(VECTOR["token_challenge"])
    assert challenge_text.endswith("==")  # 67 bytes: RFC 9577 wants the padding sent
    assert header == (
        f'PrivateToken challenge="{challenge_text}", token-key="{b64(PKS)}", max-age=10'
    )
    assert pp.format_www_authenticate([(CHALLENGE, PKS)]) == (
        f'PrivateToken challenge="{challenge_text}", token-key="{b64(PKS)}"'
    )


def test_format_and_parse_several_challenges_in_order() -> None:
    other = pp.TokenChallenge(issuer_name="issuer.example", origin_info=("a.example", "b.example"))
    header = pp.format_www_authenticate([(CHALLENGE, PKS), (other, PKS)], max_age=0)
    assert pp.parse_www_authenticate(header) == [
        pp.PrivateTokenChallenge(CHALLENGE, PKS, 0),
        pp.PrivateTokenChallenge(other, PKS, 0),
    ]


def test_format_www_authenticate_refusals() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pp.format_www_authenticate([])
    with pytest.raises(ValueError, match="max_age"):
        pp.format_www_authenticate([(CHALLENGE, PKS)], max_age=-1)
    plain = pp.decode_pss_spki(PKS).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert code_of(pp.format_www_authenticate, [(CHALLENGE, plain)]) == "privacypass-bad-token-key"


CHALLENGE_B64 = b64(VECTOR["token_challenge"])
KEY_B64 = b64(PKS)
ITEM = f'PrivateToken challenge="{CHALLENGE_B64}", token-key="{KEY_B64}"'

# Valid spellings of the same offer: each must parse to the vector's challenge.
EQUIVALENT_HEADERS = {
    "plain": ITEM,
    "scheme_lower_case": ITEM.replace("PrivateToken", "privatetoken"),
    "parameter_names_upper_case": ITEM.replace("challenge=", "CHALLENGE=").replace(
        "token-key=", "Token-Key="
    ),
    "no_space_after_comma": ITEM.replace(", ", ","),
    "spaces_around_equals": ITEM.replace("challenge=", "challenge = "),
    "tabs": ITEM.replace(", ", "\t,\t").replace(" challenge", "\tchallenge"),
    "unpadded": ITEM.replace("==", ""),
    "token_unquoted_when_unpadded": (
        f"PrivateToken challenge={CHALLENGE_B64.rstrip('=')}, token-key={KEY_B64}"
    ),
    "quoted_pair_escapes": ITEM.replace('challenge="A', 'challenge="\\A'),
    "parameters_reordered": f'PrivateToken token-key="{KEY_B64}", challenge="{CHALLENGE_B64}"',
    "unknown_parameters": f'PrivateToken realm="x, y=\\"z\\"", {ITEM[13:]}, foo=bar',
    "empty_list_elements": f" , ,{ITEM} , , ",
    "after_other_schemes": f'Basic realm="simple", Bearer, Negotiate abc==, {ITEM}',
    "before_other_schemes": f"{ITEM}, Basic realm=simple",
    "rfc9110_example_around": (
        f'Newauth realm="apps", type=1, title="Login to \\"apps\\"", {ITEM}, Basic realm="simple"'
    ),
    "after_grease": RFC9577_GREASE + ", " + ITEM,
}


@pytest.mark.parametrize("name", sorted(EQUIVALENT_HEADERS))
def test_www_authenticate_grammar(name: str) -> None:
    offered = pp.parse_www_authenticate(EQUIVALENT_HEADERS[name])
    assert [(item.challenge, item.token_key) for item in offered] == [(CHALLENGE, PKS)]


def test_token_key_may_be_left_out() -> None:
    (offered,) = pp.parse_www_authenticate(f'PrivateToken challenge="{CHALLENGE_B64}"')
    assert (offered.challenge, offered.token_key, offered.max_age) == (CHALLENGE, None, None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0), ('"10"', 10), ("0010", 10), ("2147483648", 2**31), ("9" * 5000, 2**31)],
)
def test_max_age_values(value: str, seconds: int) -> None:
    (offered,) = pp.parse_www_authenticate(f"{ITEM}, max-age={value}")
    assert offered.max_age == seconds


# PrivateToken challenges a client must not act on: left out, the header still parses.
IGNORED_CHALLENGES = {
    "no_challenge_parameter": f'PrivateToken token-key="{KEY_B64}"',
    "no_parameters": "PrivateToken",
    "token68": f"PrivateToken {CHALLENGE_B64}",
    "challenge_repeated": f'{ITEM}, challenge="{CHALLENGE_B64}"',
    "challenge_repeated_other_case": f'{ITEM}, Challenge="{CHALLENGE_B64}"',
    "token_key_repeated": f'{ITEM}, token-key="{KEY_B64}"',
    "challenge_standard_base64": ITEM.replace(
        CHALLENGE_B64, base64.b64encode(VECTOR["token_challenge"]).decode()
    ),
    "challenge_wrong_padding": ITEM.replace("==", "="),
    "challenge_extra_padding": ITEM.replace("==", "==="),
    "challenge_not_base64": 'PrivateToken challenge="!!!!"',
    "challenge_type_1": RFC9577_TYPE1,
    "challenge_context_16_bytes": (
        f'PrivateToken challenge="{b64(challenge_bytes(context=bytes(16)))}", token-key="{KEY_B64}"'
    ),
    "challenge_trailing_byte": ITEM.replace(
        CHALLENGE_B64, b64(VECTOR["token_challenge"] + bytes(1))
    ),
    "token_key_rsa_encryption": ITEM.replace(
        KEY_B64,
        b64(pp.decode_pss_spki(PKS).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),
    ),
    "token_key_truncated": ITEM.replace(KEY_B64, b64(PKS[:-3])),
    "max_age_not_a_number": f"{ITEM}, max-age=ten",
    "max_age_negative": f'{ITEM}, max-age="-1"',
    "max_age_superscript_digit": f'{ITEM}, max-age="\u00b2"',  # str.isdigit() says yes
    "challenge_non_canonical_bits": ITEM.replace("ZQ==", "ZR=="),
    "token68_that_looks_like_a_parameter": "PrivateToken challenge",
    "token68_with_padding": "PrivateToken challenge=",
    "max_age_empty": f'{ITEM}, max-age=""',
}


@pytest.mark.parametrize("name", sorted(IGNORED_CHALLENGES))
def test_challenges_a_client_must_not_use_are_left_out(name: str) -> None:
    header = IGNORED_CHALLENGES[name]
    assert pp.parse_www_authenticate(header) == []
    # One broken challenge does not hide a good one beside it.
    assert len(pp.parse_www_authenticate(f"{header}, {ITEM}")) == 1


MALFORMED_WWW_AUTHENTICATE = {
    "missing_comma_between_parameters": "PrivateToken realm=a challenge=b",
    "parameter_equals_nothing": "PrivateToken realm=x, challenge=",
    "non_latin1_in_quote": f'{ITEM}, max-age="\u0661\u0660"',
    "unclosed_quote": 'PrivateToken challenge="abc',
    "escape_at_end": 'PrivateToken challenge="abc\\',
    "control_character_in_quote": 'PrivateToken challenge="ab\x01c"',
    "del_in_quote": 'PrivateToken challenge="ab\x7fc"',
    "newline": f"{ITEM}\r\n",
    "value_with_space": "PrivateToken challenge=a b",
    "token_then_quote": 'PrivateToken challenge=a"b"',
    "padding_unquoted": f"PrivateToken challenge={CHALLENGE_B64}",
    "no_space_after_scheme": f'PrivateToken"{CHALLENGE_B64}"',
    "starts_with_quote": '"PrivateToken"',
    "starts_with_equals": "=abc",
    "scheme_then_comma_then_parameter": "PrivateToken, challenge=abc",
    "semicolon_separator": f"{ITEM}; max-age=10",
    "beyond_latin1": 'PrivateToken challenge="ab\u20acc"',
    "too_long": ITEM + ", x=" + "a" * pp.MAX_HEADER_LENGTH,
    "not_text": ITEM.encode(),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_WWW_AUTHENTICATE))
def test_malformed_www_authenticate(name: str) -> None:
    header = MALFORMED_WWW_AUTHENTICATE[name]
    assert code_of(pp.parse_www_authenticate, header) == "privacypass-header-malformed"


def test_empty_www_authenticate_offers_nothing() -> None:
    assert pp.parse_www_authenticate("") == []
    assert pp.parse_www_authenticate(" , ") == []


# --- Authorization -----------------------------------------------------------------

TOKEN_B64 = b64(GOOD_TOKEN)


def test_format_authorization_exact_text() -> None:
    assert "=" not in TOKEN_B64  # 354 bytes: no padding to send
    assert pp.format_authorization(TOKEN) == f'PrivateToken token="{TOKEN_B64}"'
    assert pp.parse_authorization(pp.format_authorization(TOKEN)) == TOKEN


EQUIVALENT_AUTHORIZATIONS = {
    "plain": f'PrivateToken token="{TOKEN_B64}"',
    "unquoted": f"PrivateToken token={TOKEN_B64}",
    "scheme_upper_case": f'PRIVATETOKEN TOKEN="{TOKEN_B64}"',
    "spaces": f'  PrivateToken   token = "{TOKEN_B64}"  ',
    "unknown_parameters": f'PrivateToken extensions="AAA=", token="{TOKEN_B64}", x=y',
    "quoted_pair": f'PrivateToken token="\\{TOKEN_B64}"',
    "trailing_comma": f'PrivateToken token="{TOKEN_B64}",',
}


@pytest.mark.parametrize("name", sorted(EQUIVALENT_AUTHORIZATIONS))
def test_authorization_grammar(name: str) -> None:
    assert pp.parse_authorization(EQUIVALENT_AUTHORIZATIONS[name]) == TOKEN


STANDARD_B64 = base64.b64encode(GOOD_TOKEN).decode()
TYPE_1_TOKEN = b"\x00\x01" + GOOD_TOKEN[2:]
# 353 bytes leave two unused bits in the last character; set one of them.
NON_CANONICAL = b64(GOOD_TOKEN[:-1]).rstrip("=")[:-1] + "B"
BAD_AUTHORIZATIONS = {
    "empty": ("", "privacypass-header-malformed"),
    "only_separators": (" , ", "privacypass-header-malformed"),
    "other_scheme": (f"Bearer {TOKEN_B64}", "privacypass-header-malformed"),
    "other_scheme_with_token_parameter": (
        f'Basic token="{TOKEN_B64}"',
        "privacypass-header-malformed",
    ),
    "scheme_only": ("PrivateToken", "privacypass-header-malformed"),
    "token68": (f"PrivateToken {TOKEN_B64}", "privacypass-header-malformed"),
    "no_token_parameter": ('PrivateToken challenge="abc"', "privacypass-header-malformed"),
    "token_repeated": (
        f'PrivateToken token="{TOKEN_B64}", token="{TOKEN_B64}"',
        "privacypass-header-malformed",
    ),
    "token_repeated_other_case": (
        f'PrivateToken token="{TOKEN_B64}", Token="{TOKEN_B64}"',
        "privacypass-header-malformed",
    ),
    "two_credentials": (
        f'PrivateToken token="{TOKEN_B64}", PrivateToken token="{TOKEN_B64}"',
        "privacypass-header-malformed",
    ),
    "standard_base64": (f'PrivateToken token="{STANDARD_B64}"', "privacypass-header-malformed"),
    "wrong_padding": (f'PrivateToken token="{TOKEN_B64}="', "privacypass-header-malformed"),
    "non_canonical_last_character": (
        f'PrivateToken token="{NON_CANONICAL}"',
        "privacypass-header-malformed",
    ),
    "whitespace_inside_value": (
        f'PrivateToken token="{TOKEN_B64[:10]} {TOKEN_B64[10:]}"',
        "privacypass-header-malformed",
    ),
    "unclosed_quote": (f'PrivateToken token="{TOKEN_B64}', "privacypass-header-malformed"),
    "garbage_after": (f'PrivateToken token="{TOKEN_B64}" x', "privacypass-header-malformed"),
    "too_long": (
        f'PrivateToken token="{TOKEN_B64}", x="{"a" * 20000}"',
        "privacypass-header-malformed",
    ),
    "not_text": (f'PrivateToken token="{TOKEN_B64}"'.encode(), "privacypass-header-malformed"),
    "none": (None, "privacypass-header-malformed"),
    "empty_token": ('PrivateToken token=""', "privacypass-malformed"),
    "token_short": (f'PrivateToken token="{b64(GOOD_TOKEN[:-3])}"', "privacypass-malformed"),
    "token_long": (f'PrivateToken token="{b64(GOOD_TOKEN + bytes(3))}"', "privacypass-malformed"),
    "token_type_1": (
        f'PrivateToken token="{b64(TYPE_1_TOKEN)}"',
        "privacypass-unsupported-token-type",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_AUTHORIZATIONS))
def test_bad_authorizations(name: str) -> None:
    header, code = BAD_AUTHORIZATIONS[name]
    assert code_of(pp.parse_authorization, header) == code


HEADER_CODES = STRUCTURE_CODES | {"privacypass-header-malformed"}
HEADER_TEXT = st.text(
    alphabet=st.sampled_from(list(' \t,="\\=-_aAzZ09+/PrivateTokenchallengeky\x00\xff\u20ac')),
    max_size=80,
)


@given(st.one_of(st.text(max_size=200), HEADER_TEXT))
def test_header_parsers_only_raise_coded_errors(header: str) -> None:
    try:
        pp.parse_www_authenticate(header)
    except AgeVerifyError as error:
        assert error.code == "privacypass-header-malformed"
    try:
        pp.parse_authorization(header)
    except AgeVerifyError as error:
        assert error.code in HEADER_CODES


@given(st.integers(min_value=0, max_value=len(ITEM)), st.text(max_size=6))
def test_text_spliced_into_a_challenge_never_raises_uncoded(position: int, junk: str) -> None:
    header = ITEM[:position] + junk + ITEM[position:]
    try:
        offered = pp.parse_www_authenticate(header)
    except AgeVerifyError as error:
        assert error.code == "privacypass-header-malformed"
    else:
        assert all(item.challenge.encode() for item in offered)


OWS = st.text(alphabet=" \t", max_size=2)
OTHER_CHALLENGES = st.sampled_from(
    [
        'Basic realm="x"',
        "Bearer",
        "Negotiate abc==",
        'Newauth title="a, b=c", type=1',
        "PrivateToken",
    ]
)
UNKNOWN_PARAMETERS = st.lists(
    st.tuples(
        st.sampled_from(["realm", "unknown", "x-y", "max_age", "tokenkey", "REALM"]),
        st.one_of(
            st.from_regex(r"[A-Za-z0-9\-._~]{1,8}", fullmatch=True),
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8).map(
                lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            ),
        ),
    ),
    max_size=3,
    # A repeated parameter name invalidates a challenge (RFC 9110 section 11.2).
    unique_by=lambda param: param[0].lower(),
)


@given(
    st.lists(st.one_of(CHALLENGES, OTHER_CHALLENGES), max_size=4),
    UNKNOWN_PARAMETERS,
    st.booleans(),
    OWS,
    OWS,
    st.data(),
)
def test_generated_headers_find_every_challenge_in_order(  # type: ignore[no-untyped-def]
    items, extra, quote_values, before, after, data
) -> None:
    rendered = []
    for item in items:
        if isinstance(item, str):
            rendered.append(item)
            continue
        challenge_text = b64(item.encode())
        if not quote_values:
            challenge_text = challenge_text.rstrip("=")
        params = [("challenge", challenge_text), ("token-key", KEY_B64), *extra]
        params = data.draw(st.permutations(params))
        text = ",".join(
            f"{before}{name}{after}={after}"
            + (f'"{value}"' if quote_values and not value.startswith('"') else value)
            for name, value in params
        )
        rendered.append(f"PrivateToken {text}")
    header = (before + "," + after).join(rendered)
    offered = pp.parse_www_authenticate(header)
    expected = [item for item in items if not isinstance(item, str)]
    assert [(item.challenge, item.token_key) for item in offered] == [
        (challenge, PKS) for challenge in expected
    ]


# --- Issuer directory --------------------------------------------------------------


def other_key_der() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return pp.encode_pss_spki(key)


OTHER_KEY = other_key_der()


def test_build_directory_exact_json() -> None:
    body = pp.build_directory(
        "https://issuer.example/v1/privacy-pass/token-request",
        [
            pp.DirectoryKey(token_key=PKS, not_before=1686913811),
            pp.DirectoryKey(token_key=OTHER_KEY),
        ],
    )
    assert json.loads(body) == {
        "issuer-request-uri": "https://issuer.example/v1/privacy-pass/token-request",
        "token-keys": [
            {"token-type": 2, "token-key": b64(PKS), "not-before": 1686913811},
            {"token-type": 2, "token-key": b64(OTHER_KEY)},
        ],
    }
    parsed = pp.parse_directory(body)
    assert parsed.issuer_request_uri == "https://issuer.example/v1/privacy-pass/token-request"
    assert parsed.token_keys == (
        pp.DirectoryKey(token_key=PKS, not_before=1686913811),
        pp.DirectoryKey(token_key=OTHER_KEY),
    )
    assert parsed.token_keys[0].token_key_id == PKS_KEY_ID


def test_parse_rfc9578_example_directory() -> None:
    # RFC 9578 section 4's example, without its trailing commas (which JSON forbids),
    # with a type 0x0001 key added and an unknown member.
    body = json.dumps(
        {
            "issuer-request-uri": "https://issuer.example.net/request",
            "token-keys": [
                {
                    "token-type": 1,
                    "token-key": "67H-0zgxA2HAjQx1dpaWcSluBemaF9eSbfwopT-r1In6wPgryoYkmmaPOlv6s3TJ",
                },
                {"token-type": 2, "token-key": RFC9577_KEY_B64, "not-before": 1686913811},
                {"token-type": 2, "token-key": b64(OTHER_KEY).rstrip("="), "note": "x"},
            ],
            "extension": {"a": 1},
        }
    ).encode()
    parsed = pp.parse_directory(body)
    assert parsed.issuer_request_uri == "https://issuer.example.net/request"
    assert [key.token_key for key in parsed.token_keys] == [PKS, OTHER_KEY]
    assert [key.not_before for key in parsed.token_keys] == [1686913811, None]


def directory(**changes: object) -> bytes:
    """A good directory with members replaced (None removes one)."""
    document: dict[str, object] = {
        "issuer-request-uri": "https://issuer.example/request",
        "token-keys": [{"token-type": 2, "token-key": b64(PKS)}],
    }
    for name, value in changes.items():
        document[name.replace("_", "-")] = value
    return json.dumps(
        {name: value for name, value in document.items() if value is not None}
    ).encode()


def key_entry(**changes: object) -> list[dict[str, object]]:
    entry: dict[str, object] = {"token-type": 2, "token-key": b64(PKS)}
    for name, value in changes.items():
        entry[name.replace("_", "-")] = value
    return [{name: value for name, value in entry.items() if value is not None}]


PLAIN_SPKI = pp.decode_pss_spki(PKS).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
BAD_DIRECTORIES = {
    "not_json": (b"{", "json-invalid"),
    "duplicate_member": (
        b'{"issuer-request-uri":"a","issuer-request-uri":"b","token-keys":[]}',
        "json-duplicate-member",
    ),
    "not_utf8": (b'{"issuer-request-uri":"\xff"}', "json-not-utf8"),
    "array": (b"[]", "privacypass-directory-invalid"),
    "no_uri": (directory(issuer_request_uri=None), "privacypass-directory-invalid"),
    "uri_number": (directory(issuer_request_uri=1), "privacypass-directory-invalid"),
    "uri_empty": (directory(issuer_request_uri=""), "privacypass-directory-invalid"),
    "uri_with_space": (
        directory(issuer_request_uri="https://a.example/x y"),
        "privacypass-directory-invalid",
    ),
    "no_keys": (directory(token_keys=None), "privacypass-directory-invalid"),
    "keys_object": (directory(token_keys={}), "privacypass-directory-invalid"),
    "keys_empty": (directory(token_keys=[]), "privacypass-directory-invalid"),
    "only_type_1_keys": (
        directory(token_keys=key_entry(token_type=1)),
        "privacypass-directory-invalid",
    ),
    "entry_not_object": (directory(token_keys=[b64(PKS)]), "privacypass-directory-invalid"),
    "type_missing": (
        directory(token_keys=key_entry(token_type=None)),
        "privacypass-directory-invalid",
    ),
    "type_string": (
        directory(token_keys=key_entry(token_type="2")),  # noqa: S106 - not a secret
        "privacypass-directory-invalid",
    ),
    "type_true": (
        directory(token_keys=key_entry(token_type=True)),
        "privacypass-directory-invalid",
    ),
    "type_float": (
        directory(token_keys=key_entry(token_type=2.0)),
        "privacypass-directory-invalid",
    ),
    "type_too_large": (
        directory(token_keys=key_entry(token_type=65538)),
        "privacypass-directory-invalid",
    ),
    "key_missing": (
        directory(token_keys=key_entry(token_key=None)),
        "privacypass-directory-invalid",
    ),
    "key_not_string": (
        directory(token_keys=key_entry(token_key=1)),
        "privacypass-directory-invalid",
    ),
    "key_standard_base64": (
        directory(token_keys=key_entry(token_key=base64.b64encode(PKS).decode())),
        "privacypass-directory-invalid",
    ),
    "key_rsa_encryption": (
        directory(token_keys=key_entry(token_key=b64(PLAIN_SPKI))),
        "privacypass-directory-invalid",
    ),
    "not_before_float": (
        directory(token_keys=key_entry(not_before=1.5)),
        "privacypass-directory-invalid",
    ),
    "not_before_negative": (
        directory(token_keys=key_entry(not_before=-1)),
        "privacypass-directory-invalid",
    ),
    "not_before_string": (
        directory(token_keys=key_entry(not_before="1")),
        "privacypass-directory-invalid",
    ),
    "not_before_true": (
        directory(token_keys=key_entry(not_before=True)),
        "privacypass-directory-invalid",
    ),
    "key_listed_twice": (
        directory(token_keys=key_entry() + key_entry(not_before=5)),
        "privacypass-directory-invalid",
    ),
    "too_large": (directory(padding="a" * pp.MAX_DIRECTORY_SIZE), "privacypass-directory-invalid"),
    "not_bytes": ("{}", "privacypass-directory-invalid"),
}


@pytest.mark.parametrize("name", sorted(BAD_DIRECTORIES))
def test_bad_directories(name: str) -> None:
    data, code = BAD_DIRECTORIES[name]
    assert code_of(pp.parse_directory, data) == code


def test_the_bad_directory_builders_make_a_good_one_by_default() -> None:
    assert pp.parse_directory(directory()).token_keys == (pp.DirectoryKey(token_key=PKS),)
    assert pp.parse_directory(directory(token_keys=key_entry())).token_keys[0].token_key == PKS


BAD_BUILDS = {
    "no_keys": ("https://i.example/r", []),
    "uri_empty": ("", [pp.DirectoryKey(token_key=PKS)]),
    "key_twice": ("https://i.example/r", [pp.DirectoryKey(token_key=PKS)] * 2),
    "rsa_encryption_key": ("https://i.example/r", [pp.DirectoryKey(token_key=PLAIN_SPKI)]),
    "type_1": ("https://i.example/r", [pp.DirectoryKey(token_type=1, token_key=PKS)]),
    "not_before_negative": ("https://i.example/r", [pp.DirectoryKey(token_key=PKS, not_before=-1)]),
}


@pytest.mark.parametrize("name", sorted(BAD_BUILDS))
def test_build_directory_refusals(name: str) -> None:
    uri, keys = BAD_BUILDS[name]
    assert code_of(pp.build_directory, uri, keys) == "privacypass-directory-invalid"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
DIRECTORY_CODES = {
    "privacypass-directory-invalid",
    "json-invalid",
    "json-not-utf8",
    "json-too-deep",
}


@given(
    st.one_of(
        st.binary(max_size=200),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.dictionaries(
            st.sampled_from(["issuer-request-uri", "token-keys"]),
            st.one_of(
                JSON_VALUES,
                st.lists(
                    st.dictionaries(
                        st.sampled_from(["token-type", "token-key", "not-before"]),
                        st.one_of(JSON_VALUES, st.just(2), st.just(b64(PKS))),
                    ),
                    max_size=2,
                ),
            ),
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_parse_directory_only_raises_coded_errors(data: bytes) -> None:
    try:
        pp.parse_directory(data)
    except AgeVerifyError as error:
        assert error.code in DIRECTORY_CODES | {"json-duplicate-member"}


# --- Constants and codes -----------------------------------------------------------


def test_wire_constants() -> None:
    assert (
        pp.MEDIA_TYPE_TOKEN_REQUEST,
        pp.MEDIA_TYPE_TOKEN_RESPONSE,
        pp.MEDIA_TYPE_ISSUER_DIRECTORY,
    ) == (
        "application/private-token-request",
        "application/private-token-response",
        "application/private-token-issuer-directory",
    )
    assert pp.DIRECTORY_PATH == "/.well-known/private-token-issuer-directory"
    assert (pp.TOKEN_TYPE_BLIND_RSA, pp.NK, pp.NID, pp.SALT_LENGTH) == (2, 256, 32, 48)
    assert pp.AUTH_SCHEME == "PrivateToken"


def test_privacy_pass_codes_exist_with_their_statuses() -> None:
    assert CODES["privacypass-malformed"][0] == 422  # RFC 9578 section 6.2
    assert CODES["privacypass-unsupported-token-type"][0] == 422
    assert CODES["privacypass-bad-token-key"][0] == 422
    assert CODES["privacypass-header-malformed"][0] == 401
    assert CODES["privacypass-directory-invalid"][0] == 502
