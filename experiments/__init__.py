"""sparselearn: experiments room."""
