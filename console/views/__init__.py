"""Console pages, one module per section. Each view renders one template, or one of its
named partials when htmx asks for a piece of the page."""
