"""Wire formats of ageverify: strict JSON, compact JWS, SD-JWT VC age credentials and
verifier attestations.

Nothing here touches storage, configuration or the web layer: a platform
verifying presentations installs this package and ``ageverify.sdk`` only.
"""
