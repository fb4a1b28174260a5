"""``python -m bench``: run the benchmark suite (see :mod:`bench.runner`)."""

from bench.runner import main

raise SystemExit(main())
