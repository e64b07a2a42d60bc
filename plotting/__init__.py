"""sparselearn: plotting room."""
