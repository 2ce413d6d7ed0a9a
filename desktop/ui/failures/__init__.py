"""The Failures screen: failed tasks grouped by cause, and what a person does about them."""
