"""FAB's configuration file for the api-server (`[fab] config_file`, set in docker-compose.yml):
the security manager with the login lockout (deploy/fab_security.py). Everything else stays
FAB's default: database logins, no self-registration, no public role."""

from deploy.fab_security import LockoutSecurityManager

SECURITY_MANAGER_CLASS = LockoutSecurityManager
AUTH_USER_REGISTRATION = False
