from __future__ import annotations

from django.urls import path

from tasks.sandbox.views import brightwater, cascade, common, harbor, paystream

app_name = "sandbox"

urlpatterns = [
    path("", common.index, name="index"),
    path("robots.txt", common.robots, name="robots"),
    # Brightwater Energy
    path("brightwater/", brightwater.home, name="brightwater_home"),
    path("brightwater/login/", brightwater.login, name="brightwater_login"),
    path("brightwater/login/verify/", brightwater.mfa, name="brightwater_mfa"),
    path("brightwater/logout/", brightwater.logout, name="brightwater_logout"),
    path("brightwater/account/", brightwater.switch_account, name="brightwater_switch"),
    path("brightwater/billing/", brightwater.billing, name="brightwater_billing"),
    path("brightwater/billing/<str:bill_id>/", brightwater.bill_detail, name="brightwater_bill"),
    path(
        "brightwater/statements/<str:account_number>/<str:bill_id>.pdf",
        brightwater.bill_pdf,
        name="brightwater_bill_pdf",
    ),
    path("brightwater/pay/", brightwater.pay, name="brightwater_pay"),
    path(
        "brightwater/pay/confirmation/<str:confirmation_number>/",
        brightwater.payment,
        name="brightwater_payment",
    ),
    # Cascade Power & Gas
    path("cascade/", cascade.overview, name="cascade_overview"),
    path("cascade/signin/", cascade.signin, name="cascade_signin"),
    path("cascade/signin/challenge/", cascade.challenge, name="cascade_challenge"),
    path("cascade/signout/", cascade.signout, name="cascade_signout"),
    path("cascade/accounts/", cascade.choose_account, name="cascade_choose"),
    path("cascade/statements/", cascade.statements, name="cascade_statements"),
    path("cascade/statements/<str:bill_id>/", cascade.statement, name="cascade_statement"),
    path(
        "cascade/documents/<str:account_number>/statement-<str:bill_id>.pdf",
        cascade.statement_pdf,
        name="cascade_statement_pdf",
    ),
    path("cascade/payments/new/", cascade.make_payment, name="cascade_pay"),
    path("cascade/payments/<str:reference>/", cascade.payment, name="cascade_payment"),
    # Harbor Hotels
    path("harbor/", harbor.trips, name="harbor_trips"),
    path("harbor/signin/", harbor.signin, name="harbor_signin"),
    path("harbor/signout/", harbor.signout, name="harbor_signout"),
    path("harbor/profile/", harbor.profile, name="harbor_profile"),
    path("harbor/reservations/<str:number>/", harbor.reservation, name="harbor_reservation"),
    path("harbor/reservations/<str:number>/cancel/", harbor.cancel, name="harbor_cancel"),
    path("harbor/reservations/<str:number>/cancelled/", harbor.cancelled, name="harbor_cancelled"),
    # Paystream Payroll
    path("paystream/", paystream.home, name="paystream_home"),
    path("paystream/login/", paystream.login, name="paystream_login"),
    path("paystream/login/device/", paystream.device, name="paystream_device"),
    path("paystream/logout/", paystream.logout, name="paystream_logout"),
    path("paystream/profile/", paystream.profile, name="paystream_profile"),
    path("paystream/payslips/", paystream.payslips, name="paystream_payslips"),
    path("paystream/payslips/all.csv", paystream.payslips_csv, name="paystream_payslips_csv"),
    path("paystream/payslips/<str:payslip_id>/", paystream.payslip, name="paystream_payslip"),
    path(
        "paystream/payslips/<str:payslip_id>/payslip.pdf",
        paystream.payslip_pdf,
        name="paystream_payslip_pdf",
    ),
    path(
        "paystream/payslips/<str:payslip_id>/payslip.csv",
        paystream.payslip_csv,
        name="paystream_payslip_csv",
    ),
]
