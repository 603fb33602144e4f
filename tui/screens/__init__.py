"""One screen per step of the path: Profiles, Train, Models, Arena, Results."""
