"""AdapterHub folders (the `adapters` package, adapter-transformers): read
and written without PyTorch."""
