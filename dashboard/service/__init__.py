"""The service layer: what pages and the API ask of runs, comparisons and the store."""
