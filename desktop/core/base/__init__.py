"""Leaf utilities every feature uses: bounds on waiting, clocks, crash-safe files,
bounded literals, process facts. They import nothing else of the panel's."""
