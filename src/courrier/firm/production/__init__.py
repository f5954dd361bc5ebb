"""Running Courrier as a service: the web server (`courrier serve`), the health page that a
monitor polls (`/sante/`), the workers' heartbeat, and backups (`courrier backup`,
`courrier restore`)."""
