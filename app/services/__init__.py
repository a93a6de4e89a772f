"""Use cases (services layer): domain rules + repositories; raise DomainError; flush, never commit."""
