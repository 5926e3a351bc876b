"""The 32-bit word rig: a viper function's own source run on CPython with every machine
word 32 bits wide, as on the ESP32 and the RP2040.

The unix port's viper words are 64 bits, so code that would overflow, wrap or shift
differently on a board passes there unnoticed. This rig takes the function out of its
module's source (ast), drops the decorator, and runs it with `int`, `uint`, `ptr8`,
`ptr16` and `ptr32` replaced by 32-bit models: `int` a signed word (wraps, shifts
arithmetically), `uint` an unsigned one (wraps, shifts logically), pointers that load
words of their width and store the low bits. Comparisons behave as on the board because
the words are Python ints in range. CPython only: MicroPython's int has no dunders.
"""
import ast

_OPS = ("add", "sub", "mul", "and", "or", "xor", "lshift", "rshift", "floordiv", "mod")


def _word_type(name, signed):
    class Word(int):
        def __new__(cls, value):
            value = int(value) & 0xFFFFFFFF
            if signed:
                value -= (value >> 31) << 32
            return int.__new__(cls, value)

    Word.__name__ = name

    def op(fn):
        return lambda a, b: Word(fn(int(a), int(b)))

    for op_name in _OPS:
        fn = getattr(int, "__%s__" % op_name)
        setattr(Word, "__%s__" % op_name, op(fn))
        setattr(Word, "__r%s__" % op_name, op(lambda a, b, f=fn: f(b, a)))
    Word.__neg__ = lambda a: Word(-int(a))
    Word.__invert__ = lambda a: Word(~int(a))
    return Word


Int32 = _word_type("Int32", signed=True)
UInt32 = _word_type("UInt32", signed=False)


class _Pointer:
    """ptr8/ptr16/ptr32 over a buffer: loads a word of `bits` (ptr32: as a signed machine
    word, which is what a board's viper gets), stores its low `bits`."""

    def __init__(self, buf, bits):
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.view = memoryview(buf).cast("B").cast({8: "B", 16: "H", 32: "I"}[bits])

    def __getitem__(self, i):
        value = self.view[int(i)]
        return Int32(value) if self.bits == 32 else Int32(value & self.mask)

    def __setitem__(self, i, value):
        self.view[int(i)] = int(value) & self.mask


def names():
    """The viper built-ins as 32-bit models, for a function's globals."""
    return {"int": Int32, "uint": UInt32,
            "ptr8": lambda b: _Pointer(b, 8), "ptr16": lambda b: _Pointer(b, 16),
            "ptr32": lambda b: _Pointer(b, 32)}


def load(path, name, module_globals=None):
    """The function `name` from the source file at `path` (at any depth: inside a class or
    an `if`), rebuilt to run with 32-bit words. module_globals: the names it reads from
    its module (constants, and for kernel_viper the arrays it is handed); the returned
    function's __globals__ is that dict, so a test can set them before each call."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = [node for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef) and node.name == name]
    if len(found) != 1:
        raise LookupError("%s: %d functions named %s" % (path, len(found), name))
    fn = found[0]
    fn.decorator_list = []
    namespace = dict(module_globals or {})
    namespace.update(names())
    code = compile(ast.Module(body=[fn], type_ignores=[]), "<viper-32 %s>" % name, "exec")
    exec(code, namespace)
    return namespace[name]
