"""mojolite.stdlib: kernels written in mojolite itself, using only its public API."""
