"""_thread for the rp2 port rig. ports/rp2/mpthreadport.c mp_thread_create runs a new
thread on core1 and raises OSError("core1 in use") while an earlier one has not returned:
one thread besides the main one. Runs the thread on a host thread of the unix port.
"""
import _thread as _host

from rigs import state

allocate_lock = _host.allocate_lock
get_ident = _host.get_ident
LockType = _host.LockType
exit = _host.exit
stack_size = _host.stack_size
_core1 = [None]


def start_new_thread(function, args, kwargs=None):
    if _core1[0] is not None:
        raise OSError("core1 in use")
    _core1[0] = function

    def core1():
        try:
            function(*args, **(kwargs or {}))
        finally:
            _core1[0] = None

    state.threads_started += 1
    _host.start_new_thread(core1, ())


def core1_busy():
    return _core1[0] is not None
