"""The one typed configuration schema, its loader and its documentation generator."""
