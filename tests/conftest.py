"""Shared pytest setup. Sections are owned by different parts of the suite; append, don't rewrite."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/tiny.py and friends

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def root():
    return ROOT
