"""What the power-on self-test (post.py) found: the one part of it the running meter keeps.
A module of its own so that the self-test's checks and known answers leave the heap once
they have run (main.BOOT_ONLY)."""


class PostResult:
    """What the power-on self-test found; `crypto_failed` and `kernel_failed` list the
    checks that did not give the known answer."""

    def __init__(self, crypto_failed, kernel_failed):
        self.crypto_failed = crypto_failed
        self.kernel_failed = kernel_failed

    @property
    def crypto_ok(self):
        return not self.crypto_failed

    @property
    def kernel_ok(self):
        return not self.kernel_failed

    def summary(self):
        failed = self.crypto_failed + self.kernel_failed
        return "passed" if not failed else "FAILED: " + ", ".join(failed)

    def to_dict(self):
        return {"passed": self.crypto_ok and self.kernel_ok, "crypto_failed": self.crypto_failed,
                "kernel_failed": self.kernel_failed}
