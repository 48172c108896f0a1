"""Project-local importable code (Astronomer layout).

The project root is on ``PYTHONPATH`` in every environment (Makefile, pytest,
docker-compose), so DAGs, plugins, tests and CLIs all import ``include.ebay_trends``
and ``include.ebay_emulator`` the same way, with no ``sys.path`` edits.
"""
