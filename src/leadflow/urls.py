from django.contrib import admin
from django.urls import include, path

from leadflow.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("n/", include("leadflow.nurture.views")),
    path("", include("leadflow.web.urls")),
]
