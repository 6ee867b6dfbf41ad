"""TorchServe adapter: everything Ferry knows about TorchServe's configuration lives here."""
