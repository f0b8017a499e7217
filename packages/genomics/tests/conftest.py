"""Shared hypothesis strategies; reference implementations live in genomics_refs.py."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
