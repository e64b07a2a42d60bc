"""sparselearn: objectives room."""
