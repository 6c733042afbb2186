"""Tests of the bounce package."""
