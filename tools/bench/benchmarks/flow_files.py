"""The whole-meter benchmarks' file step (flow_heap.py, flow_live.py): the package put on the
meter's flash as a technician's `mpremote fs cp` leaves it, copied through a small buffer
before anything else is on the heap."""


def copy_package(source, dest):
    buf = bytearray(512)
    with open(source, "rb") as src, open(dest, "wb") as dst:
        while True:
            n = src.readinto(buf)
            if not n:
                break
            dst.write(buf[:n] if n < len(buf) else buf)
