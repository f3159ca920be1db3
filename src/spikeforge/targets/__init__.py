"""Compiled plans written for another toolchain to run: lava-dl's netx (``.net``).

The back end of the chain, beside the runtimes: it reads what ``compile`` made and
writes a file, where a runtime would run it. (The norse -> NIR front end is
:mod:`spikeforge.export`, below the IR's consumers.)
"""
