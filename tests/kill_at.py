"""Run the `luigi` command and SIGKILL it as the Nth call of a named function begins:

    python -m tests.kill_at pipeline.compaction:retire 2 --module tasks FullAnalysisSnapshot --date ...

A real kill -9 of the worker at a point a drill can name, with no hook in the pipeline's code: the
local scheduler runs each task in this process, and so does mrjob's inline runner.
"""
import functools
import importlib
import os
import signal
import sys

from luigi.cmdline import luigi_run


def arm(target, nth):
    module, _, attribute = target.partition(':')
    owner = importlib.import_module(module)
    *parents, name = attribute.split('.')
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def kill_on_nth_call(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(owner, name, kill_on_nth_call)


if __name__ == '__main__':
    arm(sys.argv[1], int(sys.argv[2]))
    luigi_run(sys.argv[3:])
