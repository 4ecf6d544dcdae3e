"""CloudStack's own API protocol (``/client/api``) in front of the same pipeline as the JSON API.

An adapter, not a second service: a signed CloudStack request becomes the caller and the use case the
JSON API would call (``DiagnosticsService``), and the answer goes back in CloudStack's shapes, so cmk,
``cs``, libcloud and Ansible work unchanged. ``params`` parses, ``auth`` verifies, ``catalogue`` lists
the commands, ``shapes`` writes CloudStack's responses, ``codes`` maps errors, ``front_door`` composes.
"""
