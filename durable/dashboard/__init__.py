"""The web dashboard: `/dashboard` on the API server (workflows, instances, live runs, actions).

`durable.api.create_app` serves it; `dashboard_middleware()` is how it is mounted.
"""

from durable.dashboard.app import DashboardMiddleware, dashboard_middleware

__all__ = ["DashboardMiddleware", "dashboard_middleware"]
