"""Code that runs inside the model-server pod: `ferry-fetch` and `ferry-serve`."""
