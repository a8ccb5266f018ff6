"""The demo problem family: small stdin/stdout tasks for the miniature models and the demo build."""
