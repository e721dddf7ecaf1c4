"""The Datasets page's parts: the catalogue table, one dataset's card, the import form."""
