"""The host programs, each run as `python -m tools.<name>` from the repository root:
headend, p1reader, field, update, capture, replay, calibrate, vboard, deploy (with
deploy.stage, deploy.check_build, deploy.board_libs), bench and vectors. A program of one
file is a module; a larger one is a package whose cli module is the command line and whose
other modules are named for what they hold. shared/ is the one helper package they all
use (paths, errors); firmware modules are imported only through shared.paths.use_firmware().
"""
