"""The generic BrAPI v2.1 engine: entities are declared (``modules``), the engine serves them.

Import from the submodules (``entity``, ``queries``, ``commands``, ``modules``); this
package imports nothing itself so ``application.ports`` can depend on ``brapi.ports``.
"""
