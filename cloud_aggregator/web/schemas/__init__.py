"""The API's request and response models, kept apart from the handlers that use them."""
