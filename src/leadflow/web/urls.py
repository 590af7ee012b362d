from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from leadflow.web import (
    dashboard_views,
    forms_views,
    hygiene_views,
    imports_views,
    lead_detail_views,
    leads_views,
    notifications_views,
    nurture_views,
    routing_views,
    scoring_views,
    sources_views,
    users_views,
    views,
)

app_name = "web"

account_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("web:password_reset_done"),
            email_template_name="web/account/password_reset_email.txt",
            subject_template_name="web/account/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url=reverse_lazy("web:password_reset_complete")),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    *account_urlpatterns,
    *leads_views.urlpatterns,
    *lead_detail_views.urlpatterns,
    *dashboard_views.urlpatterns,
    *users_views.urlpatterns,
    *scoring_views.urlpatterns,
    *routing_views.urlpatterns,
    *sources_views.urlpatterns,
    *forms_views.urlpatterns,
    *nurture_views.urlpatterns,
    *notifications_views.urlpatterns,
    *hygiene_views.urlpatterns,
    *imports_views.urlpatterns,
]
