"""The expression language: source text -> AST -> compiled `Expression`."""
