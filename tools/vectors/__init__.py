"""Test vectors from PyPI cryptography-vectors, extracted into host_tests/fixtures/vectors
so the firmware tests read them on both interpreters: gcm (NIST CAVP AES-GCM, `python -m
tools.vectors.gcm`), ed25519 (RFC 8032, `python -m tools.vectors.ed25519`), fixture_file
(writing a fixture, or checking that it is up to date)."""
