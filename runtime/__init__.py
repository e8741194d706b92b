"""mojolite.runtime: what compiled code needs around it, independent of the language.

Targets (`target`), the JIT (`jit`), calling compiled entry points (`call`),
their error codes (`errors`), NumPy object layout (`pyarray`) and settings
(`config`).  Never imports the language (`mojolite`).
"""
