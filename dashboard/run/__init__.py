"""The run page's parts: views, inspection, actions, the input panel, the report."""
