"""sparselearn: trainers room."""
