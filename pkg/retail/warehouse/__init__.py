"""The warehouse layer: schema migrations, dimension loading and the dashboard queries."""
