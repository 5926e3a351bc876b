"""The boot stage, run by the board before main.py (the unix port's main.py and the
virtual board run it first too): choose the firmware slot and put it on sys.path. Part
of the factory image and never replaced by an update, like MCUboot.
"""
import boot_install
from update import loader

boot_install.run()  # a package the meter staged (boards that install at boot)
loader.boot()
# a board runs boot.py and then main.py in one namespace: a name left here would keep the
# boot stage's code on the heap for good (main.BOOT_ONLY releases it)
del boot_install, loader
