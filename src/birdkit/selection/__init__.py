"""Selection: which layers to align, and (later) which teachers transfer well."""
