"""One APIRouter per resource of the gateway."""
