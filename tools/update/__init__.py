"""The operator's and vendor's signing tool (`python -m tools.update`): cli (the commands),
container (the package writer and reader, as the meter reads it), keys (PEM files and
PKCS#11 tokens). The meter's side is firmware/update."""
