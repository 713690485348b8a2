"""The CPU allocator setting that training loops apply."""

import os
import subprocess
import sys
import textwrap

import pytest

# Run in a child process: the setting lasts for the life of the process that makes it.
_MEASURE = textwrap.dedent("""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped_while_holding_a_block():
        block = libc.malloc(16 * 1024 * 1024)  # an activation-sized buffer
        mapped = libc.mallinfo2().hblkhd  # bytes held in separately mmap'd blocks
        libc.free(block)
        return mapped
""")


def mapped_bytes(then: str) -> list[int]:
    """What the child prints after running `then` below the measuring code."""
    done = subprocess.run([sys.executable, "-c", _MEASURE + textwrap.dedent(then)], capture_output=True, text=True, check=True)
    return [int(value) for value in done.stdout.split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_keep_freed_memory_serves_activation_sized_blocks_from_the_heap():
    before, after = mapped_bytes("""
        before = mapped_while_holding_a_block()  # measured before torch's import allocates anything
        from genpt.perf import keep_freed_memory
        assert keep_freed_memory()
        print(before, mapped_while_holding_a_block())
    """)
    assert before >= 16 * 1024 * 1024  # by default glibc maps such a block on its own and unmaps it when freed
    assert after < 16 * 1024 * 1024  # with the setting it comes from the heap, which keeps it for the next step


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_library_leaves_the_allocator_alone():
    """Building an accelerator used to change glibc's malloc for the whole process."""
    [mapped] = mapped_bytes("""
        from genpt.training import new_accelerator
        new_accelerator("no")
        print(mapped_while_holding_a_block())
    """)
    assert mapped >= 16 * 1024 * 1024  # still mapped on its own: glibc's default


def test_no_keep_freed_memory_reaches_the_runs_a_long_command_starts(monkeypatch):
    """`genpt --no-keep_freed_memory compare`: each cell is a `genpt finetune` process of its own;
    it inherits the choice through the environment, only while the command runs."""
    from genpt.cli import KEEP_FREED_MEMORY_ENV, build_parser, choice_passed_on

    monkeypatch.delenv(KEEP_FREED_MEMORY_ENV, raising=False)
    with choice_passed_on(keep_freed_memory=False):
        assert build_parser().parse_known_args(["demo"])[0].keep_freed_memory is False  # as a cell's `genpt` parses it
    assert KEEP_FREED_MEMORY_ENV not in os.environ
    assert build_parser().parse_known_args(["demo"])[0].keep_freed_memory is True
