from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "alliance_crm.accounts"
    label = "accounts"
    verbose_name = "Accounts and audit trail"
