"""The Outlook web add-in: its manifest, the task pane's API and the pairing token (see docs/outlook-addin.md)."""
