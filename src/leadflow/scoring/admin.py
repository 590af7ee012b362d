from django.contrib import admin

from leadflow.scoring.models import RescoreRun, ScorePoints, ScoringPolicy, ScoringRule


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "points", "cap", "repeatable", "decay", "decay_days", "active", "order"]
    list_filter = ["kind", "active"]


@admin.register(ScorePoints)
class ScorePointsAdmin(admin.ModelAdmin):
    list_display = ["lead", "rule", "points", "awarded_at", "expires_at"]
    raw_id_fields = ["lead"]


admin.site.register(ScoringPolicy)
admin.site.register(RescoreRun)
