"""The web app: the page, its views, and the REST routes."""
