"""The page, one section per module; ``app.py`` assembles them."""
