"""Codegen: typed IR -> LLVM IR text (`module.build`), through llvmlite.ir."""
