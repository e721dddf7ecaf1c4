"""The compare page's parts: runs picker, inputs, panels, charts, analysis, waiting."""
