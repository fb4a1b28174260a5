"""jobdeck's benchmark suite: every scenario runs for jobdeck and for its baseline in the same run.

``python -m bench [--quick | --smoke] [--json PATH] [--only NAME …]`` — see :mod:`bench.runner`.
"""
