"""Reusable Qt widgets of the monitor: pain curve, sparkline, bed tile, alarm banner and their helpers."""
