"""Business services shared by the web/API layer and the CLI: configuration, intake, routing."""
