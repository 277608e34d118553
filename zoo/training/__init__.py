"""Reproducible training of the self-trained part of the zoo (``make zoo``).

``sources`` loads the three source datasets as uint8 ``(N, 32, 32, 3)`` arrays, ``train`` fits a network
bit-reproducibly on the CPU, ``profiles`` computes the source profiles PED and OSBORN use, and
``build_zoo`` ties them together and writes ``zoo/artifacts/``. Nothing here runs at import time.
"""
