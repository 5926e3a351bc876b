"""Bringing the firmware onto a board (`python -m tools.deploy`, `make deploy`): manifest
(the boards' freezing manifests, the one list of what ships), stage (that layout copied to
a folder: `make sim`, the virtual board), mpy (compiled with mpy-cross), heap_budget (the
whole meter run in the board's heap), cli (the budget check and the copy with mpremote),
check_build (`make check`), board_libs (the micropython-lib packages, fetched once)."""
