"""Articles shown to a person: the stance profile (table, CSV, timeline) and the HTML page."""
