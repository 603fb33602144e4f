"""mhbench's Textual app. Widgets call ``core``; they hold no business logic."""
