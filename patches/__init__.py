"""sparselearn: patches room."""
