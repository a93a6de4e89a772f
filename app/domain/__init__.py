"""Pure domain layer: taxonomies, ontology mappings, priors math. Stdlib and numpy only."""
