"""tinygen's version, in a module of its own: every module that prints it (headers, manifests, the report page,
`--version`) imports it from here, so none of them imports the package that imports them."""
__version__ = "0.1.0"
