"""The ready YAML configs shipped with sparselearn (``sparselearn configs`` lists them)."""
