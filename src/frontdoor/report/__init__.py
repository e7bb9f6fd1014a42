"""What the commands print: the check report and its text, JSON and markdown forms."""
