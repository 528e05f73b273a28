"""The web: the app factory and its lifespan, dependencies, schemas, routes and pages."""
