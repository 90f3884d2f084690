"""The backend server (``rowgate serve``): the data API and, later, admin and Studio."""
