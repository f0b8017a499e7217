"""The generic BrAPI v2.1 engine: entities are declared (``modules``), the engine serves them.

Import from the submodules (``entity``, ``queries``, ``commands``, ``modules``); the store
the engine needs is a port (``application.ports.documents``).
"""
