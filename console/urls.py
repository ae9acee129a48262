from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from console.forms import LoginForm
from console.views import (
    agents,
    api_keys,
    credentials,
    entities,
    events,
    frame,
    runs,
    sessions,
    settings,
    sources,
    storage,
    tasks,
    workflows,
)

app_name = "console"

# URL names start with their section's name (see console.navigation).
urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", frame.home, name="home"),
    path("organization/switch/", frame.organization_switch, name="organization_switch"),
    # Agents
    path("agents/", agents.agents, name="agents"),
    path("agents/create/", agents.agents_create, name="agents_create"),
    path("agents/<str:agent_id>/", agents.agents_detail, name="agents_detail"),
    path("agents/<str:agent_id>/edit/", agents.agents_edit, name="agents_edit"),
    path("agents/<str:agent_id>/update/", agents.agents_update, name="agents_update"),
    # Tasks
    path("tasks/", tasks.tasks, name="tasks"),
    path("tasks/new/", tasks.tasks_new, name="tasks_new"),
    path("tasks/create/", tasks.tasks_create, name="tasks_create"),
    path("tasks/draft/", tasks.tasks_draft, name="tasks_draft"),
    path("tasks/validate/", tasks.tasks_validate, name="tasks_validate"),
    path("tasks/<str:task_id>/", tasks.tasks_detail, name="tasks_detail"),
    path("tasks/<str:task_id>/run/", tasks.tasks_run, name="tasks_run"),
    path("tasks/<str:task_id>/reset/", tasks.tasks_reset, name="tasks_reset"),
    path("tasks/<str:task_id>/edit/", tasks.tasks_edit, name="tasks_edit"),
    path("tasks/<str:task_id>/update/", tasks.tasks_update, name="tasks_update"),
    path("tasks/<str:task_id>/delete/", tasks.tasks_delete, name="tasks_delete"),
    # Runs
    path("workflows/", workflows.workflows_list, name="workflows"),
    path("workflows/new/", workflows.workflows_new, name="workflows_new"),
    path("workflows/create/", workflows.workflows_create, name="workflows_create"),
    path(
        "workflows/runs/<str:workflow_run_id>/",
        workflows.workflows_runs_detail,
        name="workflows_runs_detail",
    ),
    path(
        "workflows/runs/<str:workflow_run_id>/cancel/",
        workflows.workflows_runs_cancel,
        name="workflows_runs_cancel",
    ),
    path("workflows/<str:workflow_id>/", workflows.workflows_detail, name="workflows_detail"),
    path("workflows/<str:workflow_id>/edit/", workflows.workflows_edit, name="workflows_edit"),
    path(
        "workflows/<str:workflow_id>/update/", workflows.workflows_update, name="workflows_update"
    ),
    path("workflows/<str:workflow_id>/run/", workflows.workflows_run, name="workflows_run"),
    path(
        "workflows/<str:workflow_id>/delete/", workflows.workflows_delete, name="workflows_delete"
    ),
    path("runs/", runs.runs, name="runs"),
    path("runs/<str:run_id>/", runs.runs_detail, name="runs_detail"),
    path("runs/<str:run_id>/cancel/", runs.runs_cancel, name="runs_cancel"),
    path("runs/<str:run_id>/answer/", runs.runs_answer, name="runs_answer"),
    path("runs/<str:run_id>/approve/", runs.runs_approve, name="runs_approve"),
    path("runs/<str:run_id>/reject/", runs.runs_reject, name="runs_reject"),
    # Sessions
    path("sessions/", sessions.sessions, name="sessions"),
    path("sessions/<str:session_id>/", sessions.sessions_detail, name="sessions_detail"),
    path("sessions/<str:session_id>/end/", sessions.sessions_end, name="sessions_end"),
    # Entities
    path("entities/", entities.entities, name="entities"),
    path("entities/<str:entity_id>/", entities.entities_detail, name="entities_detail"),
    # Credentials
    path("credentials/", credentials.credentials, name="credentials"),
    path("credentials/new/", credentials.credentials_new, name="credentials_new"),
    path("credentials/create/", credentials.credentials_create, name="credentials_create"),
    path(
        "credentials/<str:credential_id>/edit/",
        credentials.credentials_edit,
        name="credentials_edit",
    ),
    path(
        "credentials/<str:credential_id>/update/",
        credentials.credentials_update,
        name="credentials_update",
    ),
    # Sources
    path("sources/", sources.sources, name="sources"),
    path("sources/new/", sources.sources_new, name="sources_new"),
    path("sources/create/", sources.sources_create, name="sources_create"),
    path("sources/<str:source_id>/edit/", sources.sources_edit, name="sources_edit"),
    path("sources/<str:source_id>/update/", sources.sources_update, name="sources_update"),
    # Events & destinations
    path("events/", events.events, name="events"),
    path("events/destinations/", events.events_destinations, name="events_destinations"),
    path(
        "events/destinations/create/",
        events.events_destinations_create,
        name="events_destinations_create",
    ),
    path(
        "events/destinations/<str:destination_id>/",
        events.events_destinations_detail,
        name="events_destinations_detail",
    ),
    path(
        "events/destinations/<str:destination_id>/rotate-secret/",
        events.events_destinations_rotate,
        name="events_destinations_rotate",
    ),
    path(
        "events/destinations/<str:destination_id>/test/",
        events.events_destinations_test,
        name="events_destinations_test",
    ),
    path(
        "events/destinations/<str:destination_id>/status/",
        events.events_destinations_status,
        name="events_destinations_status",
    ),
    path(
        "events/destinations/<str:destination_id>/delete/",
        events.events_destinations_delete,
        name="events_destinations_delete",
    ),
    path(
        "events/destinations/<str:destination_id>/redeliver/",
        events.events_destinations_redeliver,
        name="events_destinations_redeliver",
    ),
    path(
        "events/destinations/<str:destination_id>/deliveries/<str:delivery_id>/redeliver/",
        events.events_destinations_redeliver_one,
        name="events_destinations_redeliver_one",
    ),
    path("events/<str:event_id>/", events.events_detail, name="events_detail"),
    # Storage
    path("storage/", storage.storage, name="storage"),
    path("storage/<str:storage_id>/", storage.storage_detail, name="storage_detail"),
    path("storage/<str:storage_id>/preview/", storage.storage_preview, name="storage_preview"),
    # Settings
    path("settings/", settings.settings, name="settings"),
    path("settings/rename/", settings.settings_rename, name="settings_rename"),
    # API keys
    path("api-keys/", api_keys.api_keys, name="api_keys"),
    path("api-keys/create/", api_keys.api_keys_create, name="api_keys_create"),
    path("api-keys/<str:key_id>/revoke/", api_keys.api_keys_revoke, name="api_keys_revoke"),
]
