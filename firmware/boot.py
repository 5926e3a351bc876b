"""The boot stage, run by the board before main.py (the unix port's main.py and the
virtual board run it first too): choose the firmware slot and put it on sys.path. Part
of the factory image and never replaced by an update, like MCUboot.
"""
from update import loader

loader.boot()
