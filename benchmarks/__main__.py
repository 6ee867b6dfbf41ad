"""`python -m benchmarks`: run every benchmark script."""

from benchmarks import serving

serving.main()
